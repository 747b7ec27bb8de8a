"""The live line a quiet run keeps up to date on a terminal (progress bars off)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from lightning.pytorch.callbacks import Callback


class EpochProgressLine(Callback):
    """On a terminal with progress bars off (``quiet``), keep one line per run up to date with
    the epoch reached and the last validation accuracy; the final :func:`run_line` overwrites it.
    Off a terminal (a log file, CI) it prints nothing, so logs keep exactly one line per run."""

    def __init__(self, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()

    def __getstate__(self) -> dict[str, Any]:
        """ddp_spawn pickles callbacks into its workers: a terminal stream cannot travel (the
        workers stay silent; the main process prints the run's final line)."""
        state = self.__dict__.copy()
        state["stream"], state["enabled"] = None, False
        return state

    def _show(self, trainer: Any, text: str) -> None:
        if self.enabled and self.stream is not None and trainer.is_global_zero:
            self.stream.write(f"\r\033[K{text}")
            self.stream.flush()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        epoch = trainer.current_epoch + 1
        elapsed = time.perf_counter() - self.t0
        self._show(
            trainer,
            f"{self.label} | epoch {epoch}/{trainer.max_epochs} {trainer.precision} | "
            f"{elapsed:.0f} s",
        )

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not trainer.training:
            return
        acc = trainer.callback_metrics.get("val/accuracy")
        acc_text = "n/a" if acc is None else f"{float(acc):.4f}"
        elapsed = time.perf_counter() - self.t0
        self._show(
            trainer,
            f"{self.label} | epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
            f"{trainer.precision} | val acc {acc_text} | {elapsed:.0f} s",
        )

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._show(trainer, "")  # clear: the run line follows
