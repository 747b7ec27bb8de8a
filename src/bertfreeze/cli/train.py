"""Hydra entry for training (``python train.py``): one run, or one job of a multirun."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bertfreeze.cli.common import mark_task_started, remove_if_only_hydra_files, run_cli
from bertfreeze.config_checks import check_train_config, normalize_argv
from bertfreeze.errors import EXIT_USER_ERROR, find_user_error
from bertfreeze.paths import CONF_DIR
from bertfreeze.runs import read_json

log = logging.getLogger("bertfreeze")


def run_job(cfg: DictConfig) -> float | None:
    """Train one config. In a multirun a failure is recorded and the sweep goes on."""
    mark_task_started()
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        check_train_config(cfg)  # torch-free: a wrong override fails before any heavy import
        from bertfreeze.train_task import train

        metrics = train(cfg, run_dir)
    except Exception as exc:
        user_err = find_user_error(exc)
        if user_err is not None and not multirun and not os.environ.get("BERTFREEZE_DEBUG"):
            _cleanup_failed_start(run_dir)
            print(f"error: {user_err}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        from bertfreeze.train_task import record_failure

        record_failure(run_dir, exc)
        if not multirun:
            raise
        log.error(
            "run %s failed: %s (recorded in status.json; the sweep goes on)", run_dir.name, exc
        )
        print(f"error: run {run_dir.name} failed: {user_err or exc}", file=sys.stderr)
        return None
    if metrics is None:
        return None
    test = metrics["test"]
    print(
        f"{run_dir}: test accuracy {test.get('accuracy', float('nan')):.4f} f1 {test.get('f1', float('nan')):.4f}"
    )
    return float(metrics["val"].get("accuracy", metrics["test"].get("accuracy", 0.0)))


def _cleanup_failed_start(run_dir: Path) -> None:
    """A user error before training leaves no half-written run behind (earlier results stay)."""
    status = run_dir / "status.json"
    if (read_json(status) or {}).get("status") == "running":  # ours, from this attempt
        status.unlink(missing_ok=True)
    remove_if_only_hydra_files(run_dir)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    return run_job(cfg)


def main() -> None:
    sys.argv[1:] = normalize_argv(sys.argv[1:])  # cache=false -> cache.enabled=false
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
