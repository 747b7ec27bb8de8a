"""The run's per-step metric log (``<run dir>/csv/metrics.csv``), kept whole across a resume.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when a run starts again in its
directory (and warns on the console that it will). A run killed in epoch 3 and resumed from its
epoch checkpoint then keeps only the curve after the resume. This logger keeps the earlier
attempt's rows instead: those logged before the first step the resumed attempt logs, so the
steps redone after the checkpoint appear once, from the attempt that finished them. A run that
starts from scratch logs from its first step again and so replaces every earlier row.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

__all__ = ["ResumableCSVLogger"]


class _KeepingWriter(ExperimentWriter):
    """Merges the earlier attempt's rows in on the first save that has new rows."""

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes the file; we keep it
        self._earlier = Path(self.metrics_file_path).is_file()

    def save(self) -> None:
        if self._earlier and self.metrics:
            self._keep_earlier_rows()
        super().save()

    def _keep_earlier_rows(self) -> None:
        path = Path(self.metrics_file_path)
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        first_new = min(int(m["step"]) for m in self.metrics)
        kept = [
            {k: v for k, v in row.items() if v not in ("", None)}
            for row in rows
            if row.get("step") not in ("", None) and int(float(row["step"])) < first_new
        ]
        self._earlier = False
        if not kept:  # a fresh start: every earlier row is redone
            path.unlink()
            self.metrics_keys = []
            return
        keys = sorted(set().union(*kept))
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, path)
        self.metrics_keys = keys


class ResumableCSVLogger(CSVLogger):
    """``lightning.pytorch.loggers.CSVLogger`` that keeps a resumed run's earlier rows."""

    def after_save_checkpoint(self, checkpoint_callback: object) -> None:
        """Rows up to a checkpoint reach the disk with it (Lightning flushes only every 100
        steps), so a resume from that checkpoint finds all of them."""
        self.save()

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment
