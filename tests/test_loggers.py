"""Loggers: conf/logger/{csv,tensorboard,mlflow,wandb}.yaml compose, instantiate and write their files."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_ci
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from lightning.pytorch.loggers import Logger
from tiny_bert import tiny_overrides

from bertfreeze.paths import CONF_DIR
from bertfreeze.train_task import train


def require_logger(module: str) -> None:
    """Skip without the logger's package (it is in the `loggers` extra, not `dev`); in CI, which
    installs `.[dev,loggers]`, fail instead, so a green CI run has exercised every logger."""
    if importlib.util.find_spec(module) is not None:
        return
    reason = f"{module} is not installed (make install EXTRAS=dev,loggers)"
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the logger tests must run, not skip)")
    pytest.skip(reason)


def compose_run(overrides: list[str], run_dir: Path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*overrides, f"hydra.run.dir={run_dir}", f"paths.output_dir={run_dir}"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    return cfg


def tiny_run(tiny_bert: Path, tiny_data: Path, run_dir: Path, logger: str) -> dict:
    cfg = compose_run(
        [*tiny_overrides(tiny_bert, tiny_data), "freeze=all", f"logger={logger}"], run_dir
    )
    metrics = train(cfg, run_dir)
    assert metrics is not None and metrics["status"] == "completed"
    return metrics


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("csv", {"csv"}),
        ("tensorboard", {"tensorboard"}),
        ("mlflow", {"mlflow"}),
        ("wandb", {"wandb"}),
        ("none", set()),
        ("[csv,tensorboard]", {"csv", "tensorboard"}),
    ],
)
def test_logger_configs_compose(name: str, keys: set[str], tmp_path: Path) -> None:
    cfg = compose_run([f"logger={name}"], tmp_path)
    assert set(cfg.logger) == keys
    for node in cfg.logger.values():
        assert issubclass(get_class(node._target_), Logger)
        # each logger writes below the run dir (or, for mlflow, a tracking URI)
        where = node.get("save_dir") or node.get("tracking_uri")
        assert where, node


def test_csv_log_keeps_a_resumed_runs_earlier_rows(tmp_path: Path) -> None:
    """Lightning's CSVLogger deletes metrics.csv when a run restarts in its dir; ours keeps the
    rows logged before the resumed attempt's first step (flushed at each checkpoint)."""
    from bertfreeze.csv_log import ResumableCSVLogger

    first = ResumableCSVLogger(save_dir=tmp_path, name="csv", version="")
    for step in (9, 19):
        first.log_metrics({"train/loss": 0.7 - step / 100, "epoch": 0}, step=step)
    first.log_metrics({"val/accuracy": 0.6, "epoch": 0}, step=21)
    first.after_save_checkpoint(None)  # the epoch checkpoint: rows up to it are on disk
    first.log_metrics({"train/loss": 0.5, "epoch": 1}, step=29)  # then killed: never flushed
    path = tmp_path / "csv" / "metrics.csv"

    resumed = ResumableCSVLogger(save_dir=tmp_path, name="csv", version="")
    for step in (29, 39):
        resumed.log_metrics({"train/loss": 0.4, "epoch": 1}, step=step)
    resumed.log_metrics({"val/accuracy": 0.7, "epoch": 1}, step=43)
    resumed.save()
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [9, 19, 21, 29, 39, 43]
    assert [r["val/accuracy"] for r in rows if r["val/accuracy"]] == ["0.6", "0.7"]

    fresh = ResumableCSVLogger(save_dir=tmp_path, name="csv", version="")  # from scratch
    fresh.log_metrics({"train/loss": 0.69, "epoch": 0}, step=9)
    fresh.save()
    with open(path) as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [9]


def test_csv_and_tensorboard_write_their_files(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, cache_env: Path
) -> None:
    require_logger("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    tiny_run(tiny_bert, tiny_data, run_dir, "[csv,tensorboard]")
    with open(run_dir / "csv" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    columns = set(rows[0])
    assert {"epoch", "step", "train/loss", "val/loss", "val/accuracy", "test/accuracy"} <= columns
    assert sum(1 for r in rows if r["train/loss"]) >= 2  # a curve, not a single point
    events = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, sorted(p.name for p in run_dir.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/accuracy", "test/accuracy"} <= tags
    assert len(acc.Scalars("train/loss")) >= 2


def test_mlflow_logs_a_run(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, cache_env: Path
) -> None:
    require_logger("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    cfg = compose_run(
        [
            *tiny_overrides(tiny_bert, tiny_data),
            "freeze=all",
            "logger=mlflow",
            f"logger.mlflow.tracking_uri={uri}",
        ],
        run_dir,
    )
    metrics = train(cfg, run_dir)
    assert metrics is not None
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(str(cfg.name))
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    assert {"train/loss", "val/accuracy", "test/accuracy"} <= set(run.data.metrics)
    # read back through MLflow: the logged scores are the run's own
    assert run.data.metrics["test/accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) >= 2


def test_wandb_logs_offline(
    tiny_bert: Path,
    tiny_data: Path,
    tmp_path: Path,
    cache_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_logger("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    run_dir = tmp_path / "run"
    metrics = tiny_run(tiny_bert, tiny_data, run_dir, "wandb")
    import wandb

    wandb.finish()  # what the CLI's process exit does: flush and close the run
    offline = list(run_dir.rglob("offline-run-*"))
    assert offline, sorted(p.name for p in run_dir.rglob("*"))
    # read back through W&B's own client: its CLI parses the run's .wandb transaction log
    wandb_cli = Path(sys.executable).with_name("wandb")
    res = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--summary", "--json", str(offline[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    logged = json.loads(res.stdout)
    assert logged["state"] == "finished" and logged["project"] == "bertfreeze"
    summary = logged["summary"]
    assert {"train/loss", "val/accuracy", "test/accuracy"} <= set(summary)
    assert summary["test/accuracy"] == pytest.approx(metrics["test"]["accuracy"])


@pytest.mark.parametrize(
    ("logger", "module"), [("mlflow", "mlflow"), ("wandb", "wandb"), ("tensorboard", "tensorboard")]
)
def test_missing_logger_package_is_one_line_before_training(
    logger: str, module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loggers are an optional extra: without the package, one line that says how to get it."""
    from bertfreeze.config_checks import check_train_config
    from bertfreeze.errors import UserError

    cfg = compose_run([f"logger={logger}"], tmp_path / "run")
    real = importlib.util.find_spec
    missing = {"tensorboard", "tensorboardX"} if module == "tensorboard" else {module}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a)
    )
    with pytest.raises(UserError, match=rf"logger={logger} needs {module}.*\[loggers\]") as err:
        check_train_config(cfg)
    assert "\n" not in str(err.value)
    monkeypatch.setattr(importlib.util, "find_spec", real)
    check_train_config(compose_run(["logger=csv"], tmp_path / "run2"))  # csv needs nothing extra
