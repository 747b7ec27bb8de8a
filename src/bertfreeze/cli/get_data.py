"""`make data`: download Kaggle's nlp-getting-started into data/ and verify its sha256 sums.

    python -m bertfreeze.cli.get_data                 # download (kaggle CLI) into data/, verify
    python -m bertfreeze.cli.get_data --dest DIR      # another folder
    python -m bertfreeze.cli.get_data --check DIR     # only verify DIR/train.csv (and test.csv)

The download uses the official ``kaggle`` CLI (``pip install -e '.[kaggle]'``) and your Kaggle
API credentials; without them it prints what to do and exits 2. Exit codes: 0 the files match
the release used by the paper, 1 they differ (still usable; results are not comparable to the
paper's), 2 missing files, CLI or credentials (nothing to verify).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from bertfreeze.data import file_sha256
from bertfreeze.settings import settings

COMPETITION = "nlp-getting-started"
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
#: sha256 of the files of the Kaggle release the paper used.
EXPECTED_SHA256 = {
    "train.csv": "2724edf814c85e9ae3b5ce9fd4615f1d0ee7526aaae52f96cb2df65e34e0b3e1",
    "test.csv": "33375dc852696331c5ad30d078ea4d20e357b74052be6225fecc2a2b0f468bd2",
}
REQUIRED = ("train.csv",)  # test.csv is only needed for `make predict`
ARCHIVE_FILES = ("train.csv", "test.csv", "sample_submission.csv")
EXIT_OK, EXIT_DIFFERS, EXIT_USER = 0, 1, 2


def quiet() -> bool:
    return settings().quiet


def say(msg: str) -> None:
    if not quiet():
        print(msg, flush=True)


def find_kaggle() -> str | None:
    """The kaggle CLI: on PATH, or installed next to this Python (a venv that is not activated)."""
    found = shutil.which("kaggle")
    if found:
        return found
    sibling = Path(sys.executable).parent / "kaggle"
    return str(sibling) if sibling.is_file() and os.access(sibling, os.X_OK) else None


def credential_sources() -> list[str]:
    """Where Kaggle API credentials were found (empty: none)."""
    found = []
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        found.append("KAGGLE_USERNAME/KAGGLE_KEY")
    if os.environ.get("KAGGLE_API_TOKEN"):
        found.append("KAGGLE_API_TOKEN")
    home = Path.home()
    dirs = [Path(os.environ["KAGGLE_CONFIG_DIR"])] if os.environ.get("KAGGLE_CONFIG_DIR") else []
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    dirs += [home / ".kaggle", xdg / "kaggle"]
    for d in dirs:
        for name in ("kaggle.json", "access_token"):
            if (d / name).is_file():
                found.append(str(d / name))
    return found


def instructions(dest: Path, have_cli: bool, have_creds: bool) -> str:
    missing = []
    if not have_cli:
        missing.append("the kaggle CLI is not installed")
    if not have_creds:
        missing.append("no Kaggle API credentials were found")
    return f"""cannot download the data: {" and ".join(missing)}.

Either download it by hand:
  1. sign in at {COMPETITION_URL}, accept the competition rules, and on the Data tab
     click "Download All" (nlp-getting-started.zip)
  2. unzip it so that the file is at {dest / "train.csv"} (test.csv next to it, for `make predict`):
       mkdir -p {dest} && unzip nlp-getting-started.zip -d {dest}
     or keep train.csv anywhere and point to it:
       export BERTFREEZE_DATA=/path/to/train.csv      # or: python train.py data.path=/path/to/train.csv
  3. check it: python -m bertfreeze.cli.get_data --check {dest}

Or let `make data` download it:
  1. pip install -e '.[kaggle]'          (the official kaggle CLI)
  2. on kaggle.com: Settings -> API -> "Create New Token", then save the downloaded file as
     ~/.kaggle/kaggle.json (chmod 600 ~/.kaggle/kaggle.json), or set KAGGLE_USERNAME and KAGGLE_KEY
  3. accept the rules at {COMPETITION_URL}/rules
  4. make data"""


def verify(folder: Path, names: Sequence[str] = ("train.csv", "test.csv")) -> tuple[int, list[str]]:
    """Compare the files in ``folder`` with the recorded sums: (exit code, report lines)."""
    lines: list[str] = []
    code = EXIT_OK
    for name in names:
        path = folder / name
        if not path.is_file():
            if name in REQUIRED:
                lines.append(f"{name}: missing ({path})")
                code = EXIT_USER
            else:
                lines.append(f"{name}: not present (only needed for `make predict`)")
            continue
        got = file_sha256(path)
        expected = EXPECTED_SHA256[name]
        if got == expected:
            lines.append(
                f"{name}: matches the Kaggle release used by the paper (sha256 {got[:12]}…)"
            )
        else:
            lines.append(
                f"{name}: differs: expected {expected}, got {got} — results will not be comparable to the paper's"
            )
            code = max(code, EXIT_DIFFERS)
    return code, lines


def _safe_unzip(archive: Path, dest: Path) -> list[str]:
    """Extract the competition's CSVs only (no paths from the archive are trusted)."""
    out = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if name not in ARCHIVE_FILES or info.is_dir():
                continue
            tmp = dest / f".{name}.part"
            with zf.open(info) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, dest / name)
            out.append(name)
    return out


def download(dest: Path, kaggle: str, force: bool = False) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [kaggle, "competitions", "download", "-c", COMPETITION, "-p", str(dest)]
    if force:
        cmd.append("--force")
    if quiet():
        cmd.append("--quiet")
    say(f"$ {' '.join(cmd)}")
    try:
        res = subprocess.run(cmd, capture_output=quiet(), text=True, check=False)
    except OSError as err:
        print(f"error: cannot run {kaggle}: {err}", file=sys.stderr)
        return EXIT_USER
    if res.returncode != 0:
        detail = (res.stderr or res.stdout or "").strip().splitlines()[-1:] if quiet() else []
        print(
            f"error: the kaggle CLI failed (exit {res.returncode}){': ' + detail[0] if detail else ''} — "
            f"check your credentials and accept the rules at {COMPETITION_URL}/rules "
            f"(a 403 means the rules were not accepted)",
            file=sys.stderr,
        )
        return EXIT_USER
    archive = dest / f"{COMPETITION}.zip"
    if not archive.is_file():
        zips = sorted(dest.glob("*.zip"))
        if not zips:
            print(f"error: the kaggle CLI left no {archive.name} in {dest}", file=sys.stderr)
            return EXIT_USER
        archive = zips[0]
    try:
        extracted = _safe_unzip(archive, dest)
    except zipfile.BadZipFile:
        print(f"error: {archive} is not a valid zip archive — delete it and rerun", file=sys.stderr)
        return EXIT_USER
    archive.unlink()
    say(f"extracted {', '.join(extracted)} into {dest}")
    return EXIT_OK


def report(folder: Path) -> int:
    code, lines = verify(folder)
    for line in lines:
        print(line)
    if code == EXIT_USER:
        print(
            f"error: no train.csv in {folder} — run `make data` (or see `python -m "
            f"bertfreeze.cli.get_data --help`)",
            file=sys.stderr,
        )
    elif code == EXIT_OK:
        default = Path("data/train.csv")
        where = folder / "train.csv"
        if where.resolve() != default.resolve():
            say(
                f"use it with: python train.py data.path={where}   (or export BERTFREEZE_DATA={where})"
            )
    return code


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bertfreeze.cli.get_data",
        description=(
            "Download Kaggle's 'NLP with Disaster Tweets' (nlp-getting-started) with the kaggle CLI "
            "and verify the files against the sha256 sums of the release used by the paper. "
            "Exit codes: 0 match, 1 differ, 2 missing files/CLI/credentials."
        ),
    )
    p.add_argument(
        "--dest",
        type=Path,
        default=Path("data"),
        help="where to put train.csv/test.csv (default: data)",
    )
    p.add_argument(
        "--check",
        type=Path,
        metavar="DIR",
        help="only verify DIR/train.csv and DIR/test.csv; no download",
    )
    p.add_argument(
        "--force", action="store_true", help="download again even if train.csv is already there"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        folder = args.check.expanduser()
        if folder.is_file():  # a path to train.csv itself
            folder = folder.parent
        if not folder.is_dir():
            print(f"error: --check {args.check}: no such directory", file=sys.stderr)
            return EXIT_USER
        return report(folder)

    dest = args.dest.expanduser()
    if (dest / "train.csv").is_file() and not args.force:
        say(f"{dest / 'train.csv'} is already there (--force downloads again); verifying it")
        return report(dest)
    kaggle = find_kaggle()
    creds = credential_sources()
    if kaggle is None or not creds:
        print(f"error: {instructions(dest, kaggle is not None, bool(creds))}", file=sys.stderr)
        return EXIT_USER
    say(f"kaggle CLI: {kaggle}; credentials: {creds[0]}")
    code = download(dest, kaggle, force=args.force)
    return code if code != EXIT_OK else report(dest)


if __name__ == "__main__":
    sys.exit(main())
