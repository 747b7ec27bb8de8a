"""The run-directory lifecycle: interrupted runs, sweeps that count their own jobs only, and no
empty folders after a failed step (issue #15 item 3; the interrupted-quickstart scenario)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from tiny_bert import run_cli, tiny_overrides

from bertfreeze import runs
from bertfreeze.cli.common import user_error_exit
from bertfreeze.paths import REPO_ROOT


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _stale_running(run_dir: Path, updated_at: float) -> None:
    """What a Ctrl-C'd run leaves behind: status "running", its process gone."""
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(
        json.dumps(
            {
                "status": "running",
                "config_hash": "abc",
                "pid": _dead_pid(),
                "host": __import__("socket").gethostname(),
                "resume_command": "python train.py -m hydra.sweep.dir=x freeze=none",
                "updated_at": updated_at,
            }
        )
    )


def test_run_state_tells_interrupted_from_running(tmp_path: Path) -> None:
    _stale_running(tmp_path / "dead", time.time())
    assert runs.run_state(tmp_path / "dead").state == "interrupted"
    live = tmp_path / "live"
    live.mkdir()
    runs.mark_running(live, "abc", "python train.py")
    assert runs.run_state(live).state == "running"
    status = runs.read_status(live)
    assert status["pid"] and status["host"] and status["resume_command"] == "python train.py"


def _summary(sweep: Path, started: float) -> int:
    cb = runs.SweepSummaryCallback()
    cb.started = started
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    try:
        cb.on_multirun_end(cfg)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_summary_counts_own_jobs_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep"
    _stale_running(sweep / "freeze=none,seed=0", updated_at=time.time() - 3600)
    started = time.time() - 1
    for name in ("freeze=all,seed=0", "freeze=all,seed=1"):
        (sweep / name).mkdir(parents=True)
        runs.mark_completed(sweep / name, "h")
    assert _summary(sweep, started) == 0
    err = capsys.readouterr().err
    assert "2 completed, 0 failed" in err
    assert "not part of this sweep (interrupted): freeze=none,seed=0" in err
    assert "resume: python train.py -m" in err


def test_summary_fails_on_own_interrupted_or_failed_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep"
    started = time.time() - 1
    _stale_running(sweep / "freeze=none,seed=0", updated_at=time.time())
    assert _summary(sweep, started) == 1
    assert "1 interrupted" in capsys.readouterr().err
    (sweep / "freeze=all,seed=0").mkdir()
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        runs.mark_failed(sweep / "freeze=all,seed=0", exc)
    assert _summary(sweep, started) == 1
    assert "failed: freeze=all,seed=0: RuntimeError: boom" in capsys.readouterr().err


def test_failed_step_leaves_no_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "outputs" / "runs" / "x"
    (out / ".hydra").mkdir(parents=True)
    (out / "train.log").write_text("")
    monkeypatch.setattr("bertfreeze.cli.common.hydra_output_dir", lambda: out)

    @user_error_exit
    def crashes(cfg: object) -> None:
        raise RuntimeError("a bug, not a user error")

    with pytest.raises(RuntimeError):
        crashes(None)
    assert not out.exists()


def test_interrupted_run_of_another_recipe_does_not_fail_a_later_sweep(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """The quickstart scenario: a Ctrl-C'd run left "running"; a sweep with another override
    completes its jobs and exits 0, naming the interrupted run and how to resume it."""
    sweep = tmp_path / "sweep"
    _stale_running(sweep / "freeze=none,seed=0", updated_at=time.time() - 3600)
    args = [
        "train.py",
        "-m",
        "freeze=all",
        *tiny_overrides(tiny_bert, tiny_data),
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    ]
    res = run_cli(args, REPO_ROOT, {"BERTFREEZE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "1 completed, 0 failed" in res.stderr
    assert "not part of this sweep (interrupted): freeze=none,seed=0" in res.stderr
    done = [p.parent.name for p in sweep.glob("*/metrics.json")]
    assert len(done) == 1
    status = json.loads((sweep / done[0] / "status.json").read_text())
    assert status["status"] == "completed"


def test_one_list_of_non_recipe_keys() -> None:
    """Hydra's folder names, the config hash and the report read the same key list."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from bertfreeze.paths import CONF_DIR
    from bertfreeze.report.collect import IGNORED_CONFIG

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["keep_weights=false"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    excluded = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert excluded == runs.folder_exclude_keys()
    assert set(runs.NON_RECIPE_KEYS) <= set(excluded)
    recipe = runs.flatten(runs.recipe(cfg, "x"))
    where_and_how = ("keep_weights", "quiet", "skip_completed", "logger", "name", "paths")
    assert set(where_and_how) <= set(runs.NON_RECIPE_KEYS)
    assert not any(k.split(".")[0] in where_and_how for k in recipe)
    for key in runs.NON_RECIPE_KEYS:
        assert not any(k == key or k.startswith(key + ".") for k in recipe), key
        assert IGNORED_CONFIG.search(key), key
