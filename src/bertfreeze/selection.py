"""Hyperparameter selection on validation metrics only.

Why a module of its own: a default chosen by comparing *test* accuracies leaks the test set
into every later comparison (the first ``freeze=all`` head learning rate was chosen that way).
This module is the one place that picks a value from a sweep, and it reads nothing but each
run's hyperparameter and its ``val`` block: the ``test`` block of ``metrics.json`` is dropped
on read, so no later edit can start looking at it by accident (tests/test_selection.py checks).

    python -m bertfreeze.selection SWEEP_DIR --param optim.head_lr --out results/selection/head_lr.csv
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bertfreeze.atomic import atomic_write_csv
from bertfreeze.runs import iter_run_dirs
from bertfreeze.schema import RunRecord

VAL_METRIC = "accuracy"


def _validation_view(path: Path) -> dict[str, Any] | None:
    """A completed run's metrics without its test block (the only way runs are read here)."""
    record = RunRecord.read(path.parent)
    if record is None:
        return None
    m = record.as_dict()
    m.pop("test", None)
    return m


def _param_value(m: dict[str, Any], param: str) -> Any:
    cfg = m.get("config") or {}
    if param in cfg:
        return cfg[param]
    short = param.rsplit(".", 1)[-1]
    return m.get(short)


def selection_table(sweep_dir: str | Path, param: str, metric: str = VAL_METRIC) -> pd.DataFrame:
    """One row per completed run: ``<short param>, seed, val_<metric>`` (no test column)."""
    short = param.rsplit(".", 1)[-1]
    rows = []
    for run_dir in iter_run_dirs(Path(sweep_dir)):
        m = _validation_view(run_dir / "metrics.json")
        if m is None:
            continue
        value = _param_value(m, param)
        val = (m.get("val") or {}).get(metric)
        if value is None or val is None:
            continue
        rows.append({short: float(value), "seed": int(m["seed"]), f"val_{metric}": float(val)})
    if not rows:
        raise SystemExit(
            f"error: no completed runs with '{param}' and a validation {metric} under {sweep_dir}"
        )
    return pd.DataFrame(rows).sort_values([short, "seed"]).reset_index(drop=True)


def best_value(table: pd.DataFrame, metric: str = VAL_METRIC) -> float:
    """The value with the highest mean validation metric (ties: the smaller value)."""
    short = table.columns[0]
    means = table.groupby(short)[f"val_{metric}"].mean()
    top = means.max()
    return float(min(v for v, m in means.items() if math.isclose(m, top, abs_tol=1e-12)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir")
    p.add_argument("--param", required=True, help="dotted config key, e.g. optim.head_lr")
    p.add_argument("--out", required=True, help="CSV to write (no test column, ever)")
    p.add_argument("--metric", default=VAL_METRIC)
    args = p.parse_args(argv)
    table = selection_table(args.sweep_dir, args.param, args.metric)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(table, out)
    short = table.columns[0]
    means = table.groupby(short)[f"val_{args.metric}"].agg(["mean", "std", "count"])
    print(means.to_string())
    print(f"{args.param}: best mean validation {args.metric} at {best_value(table, args.metric):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
