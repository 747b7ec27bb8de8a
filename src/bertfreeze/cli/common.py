"""Shared behaviour of the Hydra entry points: user errors exit 2 and leave nothing behind."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bertfreeze.errors import EXIT_USER_ERROR, find_user_error
from bertfreeze.runs import HYDRA_OWN, discard_if_empty
from bertfreeze.settings import settings

__all__ = ["HYDRA_OWN", "remove_if_only_hydra_files", "run_cli", "user_error_exit"]

TASK_STARTED = False  # set once Hydra has composed a config and called the task


def hydra_output_dir() -> Path | None:
    """This job's output directory, or None outside a Hydra run."""
    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return None


def remove_if_only_hydra_files(path: Path | None) -> None:
    """Delete a run dir that holds nothing but Hydra's own bookkeeping (a run that never started)."""
    discard_if_empty(path)


def user_error_exit(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task: a UserError prints one line, exits 2 and removes the empty run dir."""

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        mark_task_started()
        try:
            return task(cfg)
        except BaseException as exc:
            # any failed step (a user error, a crash, Ctrl-C) leaves no empty output folder
            discard_if_empty(hydra_output_dir())
            err = find_user_error(exc) if isinstance(exc, Exception) else None
            if err is None or settings().debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def mark_task_started() -> None:
    global TASK_STARTED
    TASK_STARTED = True


def run_cli(hydra_main: Callable[[], Any]) -> None:
    """Call a ``@hydra.main`` function; a config Hydra cannot compose (unknown group option,
    bad override) is a user error too: Hydra prints what is wrong, we exit 2 instead of 1."""
    try:
        hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and not TASK_STARTED:
            sys.exit(EXIT_USER_ERROR)
        raise
