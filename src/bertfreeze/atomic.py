"""Atomic file writes: readers see the old file or the complete new one, never a partial write.

Every result file (metrics, status, predictions, summaries, stats) goes through here, so a
killed run never leaves something that looks like a result.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
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


def strict_json(value: Any) -> Any:
    """``value`` as standard JSON: NaN/inf -> null, numpy scalars -> Python, paths -> str."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(
    path: str | Path, obj: Any, strict: bool = False, **dumps_kwargs: Any
) -> None:
    """JSON written atomically. ``strict``: standard JSON only (no NaN; see strict_json) — for
    files other tools read (stats.json)."""
    if strict:
        obj = strict_json(obj)
        dumps_kwargs["allow_nan"] = False
    dumps_kwargs.setdefault("default", str)
    atomic_write_text(path, json.dumps(obj, indent=2, **dumps_kwargs) + "\n")


def atomic_write_csv(df: pd.DataFrame, path: str | Path, **to_csv_kwargs: Any) -> None:
    atomic_write_text(path, df.to_csv(index=False, **to_csv_kwargs))
