"""Hyperparameter selection on validation metrics only.

Why a module of its own: a default chosen by comparing *test* accuracies leaks the test set
into every later comparison (the first ``freeze=all`` head learning rate was chosen that way).
This module is the one place that picks a value from a sweep, and it reads nothing but each
run's hyperparameter and its ``val`` block: the ``test`` block of ``metrics.json`` is dropped
on read, so no later edit can start looking at it by accident (tests/test_selection.py checks).
The selection experiments also set ``score_test=false``, so their runs have no test block to
drop (runs made before that key existed do, and it is dropped).

    python -m bertfreeze.selection SWEEP_DIR --param optim.head_lr --out results/selection/head_lr.csv

A sweep over several freeze modes (``experiment=select_peft_lr``) gets one table per mode:

    python -m bertfreeze.selection SWEEP_DIR --param optim.lr --out-dir results/selection
    # -> results/selection/{lora,bitfit,ia3}_lr.csv
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
    return _selection_rows(sweep_dir, param, metric).drop(columns="freeze")


def selection_tables(
    sweep_dir: str | Path, param: str, metric: str = VAL_METRIC
) -> dict[str, pd.DataFrame]:
    """:func:`selection_table` per freeze mode, for a sweep that selects several modes' values."""
    rows = _selection_rows(sweep_dir, param, metric)
    return {
        str(freeze): sub.drop(columns="freeze").reset_index(drop=True)
        for freeze, sub in rows.groupby("freeze", sort=True)
    }


def _selection_rows(sweep_dir: str | Path, param: str, metric: str) -> pd.DataFrame:
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
        rows.append(
            {
                "freeze": str(m.get("freeze")),
                short: float(value),
                "seed": int(m["seed"]),
                f"val_{metric}": float(val),
            }
        )
    if not rows:
        raise SystemExit(
            f"error: no completed runs with '{param}' and a validation {metric} under {sweep_dir}"
        )
    return pd.DataFrame(rows).sort_values(["freeze", short, "seed"]).reset_index(drop=True)


def best_value(table: pd.DataFrame, metric: str = VAL_METRIC) -> float:
    """The value with the highest mean validation metric (ties: the smaller value)."""
    short = table.columns[0]
    means = table.groupby(short)[f"val_{metric}"].mean()
    top = means.max()
    return float(min(v for v, m in means.items() if math.isclose(m, top, abs_tol=1e-12)))


def _print_choice(table: pd.DataFrame, param: str, metric: str, label: str = "") -> None:
    short = table.columns[0]
    means = table.groupby(short)[f"val_{metric}"].agg(["mean", "std", "count"])
    print(means.to_string())
    print(f"{label}{param}: best mean validation {metric} at {best_value(table, metric):g}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir")
    p.add_argument("--param", required=True, help="dotted config key, e.g. optim.head_lr")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="CSV to write (no test column, ever)")
    out.add_argument(
        "--out-dir", help="one CSV per freeze mode: <out-dir>/<freeze>_<param>.csv (no test column)"
    )
    p.add_argument("--metric", default=VAL_METRIC)
    args = p.parse_args(argv)
    if args.out_dir:
        short = args.param.rsplit(".", 1)[-1]
        for freeze, table in selection_tables(args.sweep_dir, args.param, args.metric).items():
            path = Path(args.out_dir) / f"{freeze}_{short}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_csv(table, path)
            _print_choice(table, args.param, args.metric, label=f"{freeze}: ")
        return 0
    table = selection_table(args.sweep_dir, args.param, args.metric)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(table, out_path)
    _print_choice(table, args.param, args.metric)
    return 0


if __name__ == "__main__":
    sys.exit(main())
