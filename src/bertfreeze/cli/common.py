"""Shared behaviour of the Hydra entry points: user errors exit 2 and leave nothing behind."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bertfreeze.errors import EXIT_USER_ERROR, UserError, find_user_error
from bertfreeze.runs import HYDRA_OWN, discard_if_empty
from bertfreeze.settings import settings

__all__ = [
    "HYDRA_OWN",
    "quote_path_overrides",
    "remove_if_only_hydra_files",
    "run_cli",
    "user_error_exit",
]

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


def quote_path_overrides(argv: list[str], path_keys: tuple[str, ...]) -> list[str]:
    """``run_dir=outputs/s/freeze=all,seed=3`` becomes ``run_dir='outputs/s/freeze=all,seed=3'``.

    Why: every run dir a sweep makes is named ``key=value,key=value``, and Hydra's override
    grammar reads an unquoted ``=`` or ``,`` as syntax ("mismatched input '='"). A path option
    never means a sweep, so its value is quoted for the user; one already quoted, or holding a
    quote of its own, is left as typed.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if (
            sep
            and key.lstrip("+~") in path_keys
            and any(c in value for c in "=, \t")
            and not any(q in value for q in "'\"")
        ):
            arg = f"{key}='{value}'"
        out.append(arg)
    return out


def run_cli(hydra_main: Callable[[], Any], path_keys: tuple[str, ...] = ()) -> None:
    """Call a ``@hydra.main`` function; a config Hydra cannot compose (unknown group option,
    bad override) is a user error too: Hydra prints what is wrong, we exit 2 instead of 1.
    An unknown group option is caught before Hydra even starts: one line, nearest option.
    Values of ``path_keys`` are quoted first (:func:`quote_path_overrides`)."""
    from bertfreeze.config_checks import check_group_overrides

    sys.argv[1:] = quote_path_overrides(sys.argv[1:], path_keys)
    try:
        check_group_overrides(sys.argv[1:])
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    try:
        hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and not TASK_STARTED:
            sys.exit(EXIT_USER_ERROR)
        raise
