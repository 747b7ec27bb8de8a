"""The command-line chain as a user runs it, on the tiny model: sweep -> `make report` ->
tables, figures, stats.json; and `make quickstart` end to end on small data.
The quickstart runs as shipped (precision auto: fp32 on CPUs without native bf16).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_bert import tiny_overrides

from bertfreeze.cli import quickstart
from bertfreeze.paths import REPO_ROOT

try:
    from tests.conftest import cli_env
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from conftest import cli_env

pytestmark = pytest.mark.slow  # several training processes

MAKE = shutil.which("make")


def make(target: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make <target> ARGS=...` with this interpreter (the Makefile's PY points at .venv)."""
    quoted = " ".join(f"'{a}'" for a in args)
    return subprocess.run(
        [MAKE, "--no-print-directory", target, f"PY={sys.executable}", f"ARGS={quoted}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def assert_report(out: Path, *, baselines: bool) -> dict:
    for stem in ("table2", *(["table1"] if baselines else [])):
        for ext in ("csv", "md", "tex"):
            assert (out / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
    figures = ["figure2_bert", *(["figure1_baselines"] if baselines else [])]
    for stem in figures:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.svg").is_file()
    assert (out / "report.md").is_file()
    return json.loads((out / "stats.json").read_text())


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_sweep_then_make_report(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    env = cli_env(BERTFREEZE_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "freeze=none,all",
        "seed=range(2)",
        *tiny_overrides(tiny_bert, tiny_data),
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    ]
    res = make("train", args, env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(list(sweep.glob("*/metrics.json"))) == 4
    out = tmp_path / "report"
    res = make("report", [f"sweep_dir={sweep}", f"out_dir={out}", "n_boot=200"], env)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = assert_report(out, baselines=False)
    pairs = [r for r in stats if r["kind"] == "freeze_pair"]
    assert {(r["freeze_a"], r["freeze_b"], r["metric"]) for r in pairs} == {
        ("none", "all", "accuracy"),
        ("none", "all", "f1"),
    }
    assert all(r["n_a"] == 2 and r["n_b"] == 2 for r in pairs)


def test_quickstart_end_to_end(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "quickstart"
    env = cli_env(
        BERTFREEZE_CACHE=str(tmp_path / "cache"),
        BERTFREEZE_QUICKSTART_DIR=str(out),
        MPLBACKEND="Agg",
    )
    env.pop("BERTFREEZE_DATA", None)
    existed = (REPO_ROOT / "outputs" / "quickstart").exists()
    overrides = [
        o for o in tiny_overrides(tiny_bert, tiny_data) if not o.startswith("trainer.max_epochs")
    ]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bertfreeze.cli.quickstart",
            *overrides,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    assert "quickstart done" in res.stdout
    runs = [json.loads(p.read_text()) for p in (out / "sweep").glob("*/metrics.json")]
    assert sorted((r["freeze"], r["seed"]) for r in runs) == [
        (mode, seed) for mode in ("all", "last2", "none") for seed in range(3)
    ]
    assert all(r["experiment"] == "quickstart" and r["epochs"] == quickstart.EPOCHS for r in runs)
    assert (out / "baselines" / "folds.csv").is_file()
    stats = assert_report(out / "report", baselines=True)
    assert {r["kind"] for r in stats} == {"freeze_pair", "vs_baseline"}
    # and nothing landed in the repository's own outputs/quickstart
    assert (REPO_ROOT / "outputs" / "quickstart").exists() == existed
