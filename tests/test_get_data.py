"""`make data`: the kaggle download (mocked), the no-credentials advice, and the sha256 checks."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    from tests.conftest import skip_or_fail_in_ci
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from conftest import skip_or_fail_in_ci

from bertfreeze.cli import get_data
from bertfreeze.cli.get_data import EXPECTED_SHA256, main

TRAIN = "id,keyword,location,text,target\n1,,,Forest fire near La Ronge,1\n4,,,I love fruits,0\n"
TEST = "id,keyword,location,text\n0,,,Just happened a terrible car crash\n"


@pytest.fixture()
def no_kaggle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME without ~/.kaggle, no KAGGLE_* variables, and a PATH without the kaggle CLI."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
        "KAGGLE_API_TOKEN",
        "KAGGLE_CONFIG_DIR",
        "XDG_CONFIG_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    # only the PATH is searched (a kaggle installed in this venv must not be found)
    monkeypatch.setattr(get_data, "find_kaggle", lambda: shutil.which("kaggle"))
    monkeypatch.delenv("BERTFREEZE_QUIET", raising=False)
    return home


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.realdata
def test_check_real_files_match_the_paper_release(
    real_data_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """train.csv (BERTFREEZE_DATA) and the test.csv beside it are the paper's Kaggle release."""
    folder = real_data_path.parent
    if not (folder / "test.csv").is_file():
        skip_or_fail_in_ci(f"no test.csv beside BERTFREEZE_DATA ({real_data_path})")
    assert main(["--check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("matches the Kaggle release used by the paper") == 2


def test_check_reports_a_different_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "test.csv").write_text(TEST)
    assert main(["--check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"train.csv: differs: expected {EXPECTED_SHA256['train.csv']}, got {sha(TRAIN)}" in out
    assert f"test.csv: differs: expected {EXPECTED_SHA256['test.csv']}, got {sha(TEST)}" in out


def test_check_matching_sums_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.csv").write_text(TRAIN)
    monkeypatch.setitem(EXPECTED_SHA256, "train.csv", sha(TRAIN))
    assert main(["--check", str(tmp_path / "train.csv")]) == 0  # a file path means its folder
    out = capsys.readouterr().out
    assert "train.csv: matches the Kaggle release used by the paper" in out
    assert "test.csv: not present" in out
    (tmp_path / "train.csv").unlink()
    assert main(["--check", str(tmp_path)]) == 2
    assert "no train.csv" in capsys.readouterr().err
    assert main(["--check", str(tmp_path / "nope")]) == 2


def test_no_kaggle_cli_and_no_credentials_prints_what_to_do(
    no_kaggle: Path, tmp_path: Path
) -> None:
    """End to end in a fresh process: fake HOME, PATH without kaggle, exit 2 and both ways explained."""
    dest = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update(HOME=str(no_kaggle), PATH=str(tmp_path / "bin"))
    res = subprocess.run(
        [sys.executable, "-m", "bertfreeze.cli.get_data", "--dest", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert res.returncode == 2
    err = res.stderr
    assert "no Kaggle API credentials were found" in err
    for hint in (
        "https://www.kaggle.com/competitions/nlp-getting-started",
        f"{dest / 'train.csv'}",
        "BERTFREEZE_DATA",
        "data.path=",
        "pip install -e '.[kaggle]'",
        "~/.kaggle/kaggle.json",
        "KAGGLE_USERNAME and KAGGLE_KEY",
        "--check",
    ):
        assert hint in err, hint
    assert not dest.exists()  # nothing half-made


def test_credentials_without_cli_and_cli_without_credentials(
    no_kaggle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (no_kaggle / ".kaggle").mkdir()
    (no_kaggle / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert main(["--dest", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "the kaggle CLI is not installed" in err and "credentials" not in err.splitlines()[0]
    (no_kaggle / ".kaggle" / "kaggle.json").unlink()
    fake_kaggle(tmp_path / "bin", tmp_path / "argv.txt")
    assert main(["--dest", str(tmp_path / "d")]) == 2
    assert "no Kaggle API credentials were found" in capsys.readouterr().err
    assert not (tmp_path / "argv.txt").exists()  # the CLI was not called


def fake_kaggle(bin_dir: Path, argv_file: Path, exit_code: int = 0, extra: str = "") -> Path:
    """A stand-in for the kaggle CLI that writes the competition zip (with odd member paths)."""
    script = bin_dir / "kaggle"
    script.write_text(
        f"""#!{sys.executable}
import sys, zipfile, pathlib
pathlib.Path({str(argv_file)!r}).write_text(" ".join(sys.argv[1:]))
if {exit_code}:
    print("403 - Forbidden - You must accept this competition's rules", file=sys.stderr)
    sys.exit({exit_code})
dest = pathlib.Path(sys.argv[sys.argv.index("-p") + 1])
with zipfile.ZipFile(dest / "nlp-getting-started.zip", "w") as zf:
    zf.writestr("train.csv", {TRAIN!r})
    zf.writestr("nested/test.csv", {TEST!r})
    zf.writestr("../evil.csv", "x")
    zf.writestr("sample_submission.csv", "id,target\\n0,0\\n")
{extra}
"""
    )
    script.chmod(0o755)
    return script


def test_download_with_the_kaggle_cli(
    no_kaggle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    argv = tmp_path / "argv.txt"
    fake_kaggle(tmp_path / "bin", argv)
    dest = tmp_path / "data"
    assert main(["--dest", str(dest)]) == 1  # downloaded, but not the paper's release
    assert argv.read_text().startswith(f"competitions download -c nlp-getting-started -p {dest}")
    assert sorted(p.name for p in dest.iterdir()) == [
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]
    assert (dest / "train.csv").read_text() == TRAIN and (dest / "test.csv").read_text() == TEST
    assert not (tmp_path / "evil.csv").exists()
    out = capsys.readouterr().out
    assert "train.csv: differs: expected" in out
    # train.csv is there: the next call only verifies (no download), --force downloads again
    argv.unlink()
    assert main(["--dest", str(dest)]) == 1
    assert not argv.exists()
    monkeypatch.setenv("BERTFREEZE_QUIET", "1")
    assert main(["--dest", str(dest), "--force"]) == 1
    assert "--force" in argv.read_text() and "--quiet" in argv.read_text()


def test_kaggle_cli_failure_is_explained(
    no_kaggle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    monkeypatch.setenv("BERTFREEZE_QUIET", "1")
    fake_kaggle(tmp_path / "bin", tmp_path / "argv.txt", exit_code=1)
    assert main(["--dest", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "the kaggle CLI failed (exit 1): 403 - Forbidden" in err
    assert "nlp-getting-started/rules" in err


def test_bad_archive(no_kaggle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    extra = 'pathlib.Path(dest / "nlp-getting-started.zip").write_text("not a zip")'
    fake_kaggle(tmp_path / "bin", tmp_path / "argv.txt", extra=extra)
    assert main(["--dest", str(tmp_path / "data")]) == 2
    assert zipfile.is_zipfile(tmp_path / "data" / "nlp-getting-started.zip") is False
