"""`make report` without sweep_dir reads the default sweep only, and says which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from bertfreeze.paths import CONF_DIR, DEFAULT_SWEEP, REPO_ROOT, repo_path

try:
    from tests import fake_runs
    from tests.conftest import cli_env
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import fake_runs
    from conftest import cli_env


def test_default_sweep_is_where_make_sweep_writes() -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.sweep.dir == DEFAULT_SWEEP


def test_repo_path_reads_relative_paths_from_the_repository_root() -> None:
    assert repo_path("outputs/x") == REPO_ROOT / "outputs" / "x"
    assert repo_path(Path("/abs/x")) == Path("/abs/x")
    assert repo_path("../elsewhere") == REPO_ROOT.parent / "elsewhere"


def report(cwd: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bertfreeze.cli.report", "n_boot=200", *overrides],
        cwd=cwd,
        env=cli_env(MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_report_without_sweep_dir_reads_the_default_sweep_only(tmp_path: Path) -> None:
    fake_runs.make_sweep(tmp_path / DEFAULT_SWEEP, modes=("all", "none"), seeds=range(3))
    # an unrelated quickstart beside it: must not join the report (nor its Holm family)
    fake_runs.make_sweep(
        tmp_path / "outputs" / "quickstart" / "sweep", modes=("all", "last2"), seeds=range(2)
    )
    fake_runs.make_baselines(tmp_path / "outputs" / "baselines" / "2024-01-01_00-00-00")
    res = report(tmp_path, "out_dir=out")
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"reading the default sweep {DEFAULT_SWEEP}" in res.stdout
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    pairs = {(r["freeze_a"], r["freeze_b"]) for r in stats if r["kind"] == "freeze_pair"}
    assert pairs == {("none", "all")}
    assert "6 runs in 2 groups" in res.stdout


def test_report_without_sweep_dir_and_no_default_lists_the_sweeps(tmp_path: Path) -> None:
    fake_runs.make_sweep(tmp_path / "outputs" / "quickstart" / "sweep", modes=("all",), seeds=[0])
    res = report(tmp_path, "out_dir=out")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert DEFAULT_SWEEP in line and "found: outputs/quickstart/sweep" in line
    assert not (tmp_path / "out").exists()
