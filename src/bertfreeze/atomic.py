"""Atomic file writes: readers see the old file or the complete new one, never a partial write.

Every result file (metrics, status, predictions, summaries, stats) goes through here, so a
killed run never leaves something that looks like a result.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temp file in the same directory (mode honours the umask), fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any, **dumps_kwargs: Any) -> None:
    dumps_kwargs.setdefault("default", str)
    atomic_write_text(path, json.dumps(obj, indent=2, **dumps_kwargs) + "\n")


def atomic_write_csv(df: pd.DataFrame, path: str | Path, **to_csv_kwargs: Any) -> None:
    atomic_write_text(path, df.to_csv(index=False, **to_csv_kwargs))
