"""`make quickstart`: the whole study on a CPU in <= 20 minutes, offline.

Baselines (10-fold), a small sweep of the three freeze modes with the embedded MiniLM
(3 seeds x 1 epoch — said plainly; the paper used 10 x 3) and the report. Extra arguments are
Hydra overrides for the sweep (``data.path=...`` also reaches the baselines).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bertfreeze.errors import EXIT_USER_ERROR
from bertfreeze.paths import REPO_ROOT
from bertfreeze.settings import settings

OUT = Path("outputs/quickstart")
SEEDS = 3
EPOCHS = 1  # conf/experiment/quickstart.yaml


def data_path(args: list[str]) -> Path:
    for a in args:
        if a.startswith("data.path="):
            return Path(a.split("=", 1)[1]).expanduser()
    return Path(settings().data or "data/train.csv")


def banner_precision(args: list[str]) -> str:
    """What will actually run: ``trainer.precision`` as resolved on this machine."""
    from bertfreeze.precision import resolve_precision

    requested = "auto"
    for a in args:
        if a.startswith("trainer.precision="):
            requested = a.split("=", 1)[1]
    try:
        choice = resolve_precision(requested, "cpu")
    except Exception:  # noqa: BLE001 - the sweep itself reports a bad value in one line
        return f"precision {requested}"
    return f"precision {choice.precision}, CPU {choice.cpu_capability}"


def step(title: str, cmd: list[str]) -> None:
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO_ROOT)
    if res.returncode != 0:
        print(
            f"quickstart: step '{title}' failed (exit {res.returncode}); rerun `make quickstart` to resume",
            file=sys.stderr,
        )
        sys.exit(res.returncode)
    print(f"=== {title}: done in {time.perf_counter() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    path = data_path(args)
    if not path.is_file():
        print(
            f"error: no data at {path}. Two ways to get it:\n"
            f"  1. `make data` (needs `pip install kaggle` and Kaggle API credentials), or\n"
            f"  2. download train.csv from https://www.kaggle.com/competitions/nlp-getting-started/data "
            f"and save it as data/train.csv\n"
            f"then rerun `make quickstart` (or point BERTFREEZE_DATA / ARGS='data.path=...' at it).",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
    py = sys.executable
    args = [a for a in args if not a.startswith("data.path=")]
    data_arg = [f"data.path={path}"]
    print(
        f"quickstart: baselines (10-fold CV) + MiniLM freeze=none,all,last2 x {SEEDS} seeds x {EPOCHS} epoch "
        f"(max length 64, {banner_precision(args)}) + report.\nThis is a reduced tour: the paper's protocol is 10 seeds x 3 "
        f"epochs (`make sweep`); read the numbers as indicative, not as the study."
    )
    step(
        "baselines",
        [py, "-m", "bertfreeze.cli.baselines", *data_arg, f"hydra.run.dir={OUT / 'baselines'}"],
    )
    sweep = [
        py,
        "train.py",
        "-m",
        "experiment=quickstart",
        "freeze=none,all,last2",
        f"seed=range({SEEDS})",
    ]
    step(
        "BERT sweep (resumable: rerun to continue)",
        [*sweep, *data_arg, *args, f"hydra.sweep.dir={OUT / 'sweep'}"],
    )
    step(
        "report",
        [
            py,
            "-m",
            "bertfreeze.cli.report",
            f"sweep_dir={OUT / 'sweep'}",
            f"baselines_dir={OUT / 'baselines'}",
            f"out_dir={OUT / 'report'}",
        ],
    )
    print(f"\nquickstart done: read {OUT / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
