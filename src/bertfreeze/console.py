"""What a training run prints: one line per run; library chatter goes to the run's log file.

A 30-run sweep is read line by line. Lightning logs GPU/TPU availability, a litlogger tip, the
seed, "Loading `train_dataloader` to estimate ..." and every checkpoint path it restores, each
at INFO level through a stderr handler of its own; repeated per run, they bury the one line
that matters. :func:`route_library_logs` sends all of that through the root logger, whose
console handler (Hydra's) then shows warnings and errors only, while its file handler —
``<run dir>/train.log`` — keeps everything.

Import-light (no torch, no Lightning at import time), so launchers can print banners quickly;
the live epoch line is :class:`bertfreeze.epoch_line.EpochProgressLine`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Loggers that attach their own stderr handler on import.
LIBRARY_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "lightning_fabric",
)

# Warnings nobody running a sweep can act on (a torch/Lightning version skew), silenced by
# message so that any other warning of the same category still shows.
HARMLESS_WARNINGS = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    (r".*`isinstance\(treespec, LeafSpec\)` is deprecated", DeprecationWarning),
    # tiny data sets only: fewer batches per epoch than the logging interval
    (r"The number of training batches \(\d+\) is smaller than the logging interval", UserWarning),
    # make predict: our BucketBatchSampler never drops a row (predict_proba checks every row)
    (r"You are using a custom batch sampler `BucketBatchSampler` for prediction", UserWarning),
    # a resumed run: its checkpoints/ holds the last.ckpt it resumes from (one run, one folder)
    (r"Checkpoint directory .* exists and is not empty", UserWarning),
)


def quiet() -> bool:
    """``BERTFREEZE_QUIET=1`` (or true/yes/on): no progress bars, for logs and CI."""
    from bertfreeze.settings import settings  # one reader, one truthiness rule

    return settings().quiet


def route_library_logs(console_level: int = logging.WARNING) -> None:
    """Library INFO lines to the run's log file only; warnings and errors still reach the console.

    Call it inside each Hydra job: Hydra reconfigures logging per job (the file handler moves to
    the job's run dir), so the routing must be redone each time.
    """
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        for handler in list(lib.handlers):
            if type(handler) is logging.StreamHandler:  # the library's own stderr handler
                lib.removeHandler(handler)
        lib.propagate = True
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(max(handler.level, console_level))
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def run_label(freeze: str, seed: Any, fold: Any = None) -> str:
    """``freeze=all seed=3`` (``fold=2`` added for cross-validated runs)."""
    label = f"freeze={freeze} seed={seed}"
    return label if fold is None else f"{label} fold={fold}"


def _short(path: str | Path) -> str:
    """A run dir relative to the working directory when it lies below it (shorter lines)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _metric(block: Mapping[str, Any], key: str) -> str:
    value = block.get(key)
    return "n/a" if value is None else f"{float(value):.4f}"


def run_line(metrics: Mapping[str, Any]) -> str:
    """The one line a finished run prints: what ran, how far, how well, how long, where.

    ``freeze=all seed=3 | 3/3 epochs (best 2) 32-true | val acc 0.8231 | test acc 0.8241
    f1 0.7871 | 41 s | outputs/sweeps/minilm-tweets/freeze=all,seed=3``
    """
    label = run_label(metrics.get("freeze", "?"), metrics.get("seed", "?"), metrics.get("fold"))
    epochs = metrics.get("epochs")
    best = metrics.get("best_epoch")
    ran = f"{epochs} epoch{'' if epochs == 1 else 's'}" if epochs is not None else "epochs n/a"
    if best is not None and best >= 0:
        ran += f" (best {best + 1})"  # Lightning counts epochs from 0; people from 1
    precision = metrics.get("precision")
    if precision:
        ran += f" {precision}"  # as resolved for this run (metrics.json; `auto` never stays)
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    took = f"{float(metrics.get('wall_time_s') or 0):.0f} s"
    if metrics.get("reused_from"):  # not trained now: the time is the source run's
        took = f"reused, {took} when trained"
    parts = [
        label,
        ran,
        f"val acc {_metric(val, 'accuracy')}",
        f"test acc {_metric(test, 'accuracy')} f1 {_metric(test, 'f1')}"
        if test or metrics.get("test_scored", True)
        else "test not scored",
        took,
        _short(metrics.get("run_dir", "")),
    ]
    return " | ".join(parts)
