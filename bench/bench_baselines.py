"""Baselines wall time: two effects, each on its own line, interleaved repetitions.

Both lines run :func:`bertfreeze.baselines.run_baselines` (TF-IDF / count / hashing(2**20)
features + L2 logistic regression, C=1, the same 10 stratified folds of the real tweets) and
change exactly one thing:

- **solver**: liblinear's dual solver (ours) vs scikit-learn's default lbfgs (``max_iter=1000``),
  both sequential (``n_jobs=1``);
- **parallelism**: ``n_jobs=-1`` (joblib over all cores, worker start-up included, as a CLI run
  pays it) vs ``n_jobs=1``, both liblinear.

Every repetition runs the three configurations in a rotating order, from a cold start (the
per-process token cache cleared and joblib's reusable workers shut down), so that machine load
and warm caches hit every side alike; each side's time is the median over repetitions.

    python -m bench.bench_baselines [path/to/train.csv]   # default: $BERTFREEZE_DATA

``ratio = naive_s / ours_s`` (> 1: ours is faster).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bertfreeze.baselines import FEATURES, run_baselines
from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.settings import settings
from bertfreeze.text import clear_token_cache

N_FOLDS, SPLIT_SEED = 10, 42
SIDES: dict[str, dict[str, Any]] = {
    "liblinear_seq": {"solver": "liblinear", "n_jobs": 1},
    "lbfgs_seq": {"solver": "lbfgs", "n_jobs": 1},
    "liblinear_par": {"solver": "liblinear", "n_jobs": -1},
}


def cold_start() -> None:
    """Forget the token cache and joblib's warm workers (each CLI run starts without them)."""
    clear_token_cache()
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    except ImportError:  # pragma: no cover - joblib without loky
        pass


def timed(df: Any, cfg: dict[str, Any]) -> tuple[float, float]:
    """Wall seconds and mean CV accuracy of one cold ``run_baselines`` call."""
    cold_start()
    start = time.perf_counter()
    res = run_baselines(df, cfg, quiet=True)
    return time.perf_counter() - start, float(res["accuracy"].mean())


def bench_baselines(data_path: str | Path, reps: int = 3, n_folds: int = N_FOLDS) -> dict[str, Any]:
    """Time the three configurations, ``reps`` rotating rounds; medians and accuracies."""
    df = load_dataset(DataSpec(path=str(data_path)))
    base: dict[str, Any] = {
        "features": list(FEATURES),
        "data": {"split_seed": SPLIT_SEED, "n_folds": n_folds},
    }
    names = list(SIDES)
    times: dict[str, list[float]] = {k: [] for k in names}
    accs: dict[str, float] = {}
    orders = []
    quiet = os.environ.get("BERTFREEZE_QUIET")
    os.environ["BERTFREEZE_QUIET"] = "1"
    try:
        for r in range(reps):
            order = names[r % len(names) :] + names[: r % len(names)]
            orders.append(order)
            for name in order:
                t, acc = timed(df, {**base, **SIDES[name]})
                times[name].append(round(t, 3))
                accs[name] = round(acc, 6)
    finally:
        if quiet is None:
            os.environ.pop("BERTFREEZE_QUIET", None)
        else:
            os.environ["BERTFREEZE_QUIET"] = quiet
    median = {k: round(float(np.median(v)), 3) for k, v in times.items()}
    return {
        "sides": SIDES,
        "times_s": times,
        "median_s": median,
        "acc": accs,
        "reps": reps,
        "n_folds": n_folds,
        "orders": orders,
        "solver_ratio": round(median["lbfgs_seq"] / median["liblinear_seq"], 2),
        "parallel_ratio": round(median["liblinear_seq"] / median["liblinear_par"], 2),
        "rows": len(df),
        "cpu_count": os.cpu_count() or 1,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else settings().data or "data/train.csv"
    print(json.dumps(bench_baselines(path), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
