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

from bertfreeze import runs
from bertfreeze.cli.common import mark_task_started, run_cli
from bertfreeze.config_checks import check_train_config, normalize_argv
from bertfreeze.console import route_library_logs, run_line
from bertfreeze.errors import EXIT_USER_ERROR, find_user_error
from bertfreeze.paths import CONF_DIR
from bertfreeze.settings import settings

log = logging.getLogger("bertfreeze")


def run_job(cfg: DictConfig) -> float | None:
    """Train one config. In a multirun a failure is recorded and the sweep goes on."""
    mark_task_started()
    route_library_logs()
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    resume = runs.resume_command(
        hc.overrides.task, multirun, str(hc.sweep.dir) if multirun else None, str(run_dir)
    )
    try:
        check_train_config(cfg)  # torch-free: a wrong override fails before any heavy import
        from bertfreeze.train_task import train

        route_library_logs()  # again: importing lightning just now added its console handler
        metrics = train(cfg, run_dir, resume_command=resume)
    except KeyboardInterrupt:
        if not _started_here(run_dir):
            runs.abandon_start(run_dir)  # interrupted before training: leave no empty folder
        raise  # after training started: status stays "running" and reads as interrupted
    except Exception as exc:
        user_err = find_user_error(exc)
        if user_err is not None and not multirun and not settings().debug:
            runs.abandon_start(run_dir)
            print(f"error: {user_err}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        if multirun or _started_here(run_dir):
            runs.mark_failed(run_dir, exc)  # the sweep summary and the report count it
        else:
            runs.abandon_start(run_dir)  # failed before the run started: no empty folder
        if not multirun:
            raise
        log.error(
            "run %s failed: %s (recorded in status.json; the sweep goes on)", run_dir.name, exc
        )
        print(f"error: run {run_dir.name} failed: {user_err or exc}", file=sys.stderr)
        return None
    if metrics is None:
        return None
    print(run_line(metrics), flush=True)
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    return float(val.get("accuracy", test.get("accuracy", 0.0)))


def _started_here(run_dir: Path) -> bool:
    """Did this process mark the run as running (i.e. training had begun)?"""
    status = runs.read_status(run_dir)
    return status.get("status") == "running" and status.get("pid") == os.getpid()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    return run_job(cfg)


def main() -> None:
    sys.argv[1:] = normalize_argv(sys.argv[1:])  # cache=false -> cache.enabled=false
    run_cli(hydra_main)


if __name__ == "__main__":
    main()
