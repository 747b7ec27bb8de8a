"""A killed sweep resumes from its last.ckpt and ends exactly where an uninterrupted run ends.

The kill is deterministic: a wrapper around the real CLI SIGKILLs its own process right after
Lightning wrote the first ``last.ckpt`` (public ModelCheckpoint hooks wrapped, nothing in the
config changed, so the rerun has the same config hash). Then:

* rerunning the same command resumes that run from ``last.ckpt`` and its ``metrics.json``
  (val and test scores, best epoch) and predictions equal those of the same run never killed;
* a truncated ``last.ckpt`` (a kill during the write) makes the rerun start afresh and end the
  same way too.

Dropout is on (the tiny BERT's own 0.1 and the head's): equality holds because the training
order depends on (seed, epoch) only and the checkpoint restores weights, optimiser and
scheduler; Lightning does not checkpoint the global RNG, so this also checks that nothing
random after the first epoch depends on it (see the README's reproducibility note).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_bert import tiny_overrides

from bertfreeze.paths import REPO_ROOT

try:
    from tests.conftest import cli_env
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from conftest import cli_env

pytestmark = pytest.mark.slow  # four tiny training processes

KILL_AFTER_FIRST_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
from lightning.pytorch.callbacks import ModelCheckpoint

def killing(hook):
    def wrapped(self, trainer, pl_module):
        hook(self, trainer, pl_module)
        if self.dirpath and (Path(self.dirpath) / "last.ckpt").is_file():
            os.kill(os.getpid(), signal.SIGKILL)  # as a kill -9 would, mid-sweep
    return wrapped

ModelCheckpoint.on_train_epoch_end = killing(ModelCheckpoint.on_train_epoch_end)
ModelCheckpoint.on_validation_end = killing(ModelCheckpoint.on_validation_end)
sys.argv = ["train.py", *sys.argv[1:]]
from bertfreeze.cli.train import main
main()
"""


def sweep(args: list[str], sweep_dir: Path, cache: Path, *, kill: bool = False):
    cmd = [sys.executable, "-c", KILL_AFTER_FIRST_CHECKPOINT] if kill else [sys.executable]
    if not kill:
        cmd.append("train.py")
    return subprocess.run(
        [*cmd, "-m", *args, f"hydra.sweep.dir={sweep_dir}"],
        cwd=REPO_ROOT,
        env=cli_env(BERTFREEZE_CACHE=str(cache)),
        capture_output=True,
        text=True,
        timeout=600,
    )


def job_dir(sweep_dir: Path) -> Path:
    """The sweep's only job folder."""
    (run,) = [p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return run


def outcome(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    preds = pd.read_csv(run_dir / "predictions.csv").sort_values("id").reset_index(drop=True)
    return metrics, preds


def assert_same_result(a: Path, b: Path) -> None:
    (ma, pa), (mb, pb) = outcome(a), outcome(b)
    assert ma["config_hash"] == mb["config_hash"]
    assert ma["val"] == mb["val"] and ma["test"] == mb["test"]
    assert ma["best_epoch"] == mb["best_epoch"]
    pd.testing.assert_frame_equal(pa, pb)


def test_killed_sweep_resumes_from_last_ckpt_with_the_uninterrupted_result(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    args = ["freeze=none", "seed=0", *tiny_overrides(tiny_bert, tiny_data)]
    cache = tmp_path / "cache"
    res = sweep(args, tmp_path / "uninterrupted", cache)
    assert res.returncode == 0, res.stderr[-3000:]
    reference = job_dir(tmp_path / "uninterrupted")
    assert outcome(reference)[0]["resumed_from_checkpoint"] is False
    assert (
        outcome(reference)[0]["earlier_attempts_s"] == 0
    )  # best.ckpt, loaded to score, is no resume

    killed = tmp_path / "killed"
    res = sweep(args, killed, cache, kill=True)
    assert res.returncode == -9, res.stderr[-3000:]
    run = job_dir(killed)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / "metrics.json").exists()
    assert json.loads((run / "status.json").read_text())["status"] == "running"
    truncated = tmp_path / "truncated"
    shutil.copytree(killed, truncated)
    import torch

    from bertfreeze.lit_module import ELAPSED_KEY

    first_attempt_s = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)[ELAPSED_KEY]
    assert first_attempt_s > 0

    res = sweep(args, killed, cache)  # the same command again
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resume from checkpoint: {run / 'checkpoints' / 'last.ckpt'}" in res.stdout
    assert "exists and is not empty" not in res.stdout + res.stderr  # its own checkpoint: no news
    assert outcome(run)[0]["resumed_from_checkpoint"] is True
    assert_same_result(run, reference)
    # its wall time is the whole run's: the killed attempt up to its checkpoint, then this one
    resumed = outcome(run)[0]
    assert resumed["earlier_attempts_s"] == round(first_attempt_s, 3)
    assert resumed["wall_time_s"] > first_attempt_s
    assert not list((run / "checkpoints").glob("*.ckpt"))  # cleaned up once completed
    # the per-step metric log keeps the killed attempt's rows: the uninterrupted run's rows
    log, ref_log = (pd.read_csv(d / "csv" / "metrics.csv") for d in (run, reference))
    assert list(log.columns) == list(ref_log.columns)
    pd.testing.assert_frame_equal(log[["epoch", "step"]], ref_log[["epoch", "step"]])
    assert log["val/accuracy"].notna().sum() == ref_log["val/accuracy"].notna().sum()

    ckpt = truncated / run.name / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # a kill during the write
    res = sweep(args, truncated, cache)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resume from checkpoint" not in res.stdout
    assert outcome(truncated / run.name)[0]["resumed_from_checkpoint"] is False
    assert_same_result(truncated / run.name, reference)
