"""Baselines wall time: the project's ``run_baselines`` vs a plain sequential scikit-learn loop.

Both sides fit the same models (TF-IDF / count / hashing(2**20) features + L2 logistic
regression, C=1) on the same 10 stratified folds of the real tweets, in one process, one after
the other, and their mean accuracies must agree:

- ``ours``: :func:`bertfreeze.baselines.run_baselines` with the default options: the
  (features x folds) task list over all cores with joblib (worker start-up included, as a CLI
  run pays it), liblinear's dual solver, and each text tokenised once per worker.
- ``plain``: the textbook loop a user would write: stock vectorizers and
  ``LogisticRegression(max_iter=1000)`` (scikit-learn's default lbfgs solver), ``for`` features,
  ``for`` folds, one core.
- ``seq_ours``: our exact pipelines in the same sequential loop (isolates what parallelism adds).

    python -m bench.bench_baselines [path/to/train.csv]   # default: $BERTFREEZE_DATA

``ratio = plain_s / ours_s`` (> 1: ours is faster).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from bertfreeze.baselines import FEATURES, make_pipeline, run_baselines
from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.settings import settings
from bertfreeze.splits import kfold_splits

N_FOLDS, SPLIT_SEED = 10, 42


def plain_pipeline(features: str) -> Pipeline:
    """The textbook pipeline: stock vectorizer + LogisticRegression with sklearn's defaults."""
    vec = {
        "tfidf": TfidfVectorizer(),
        "count": CountVectorizer(),
        "hashing": HashingVectorizer(n_features=2**20),
    }[features]
    return Pipeline([("vec", vec), ("clf", LogisticRegression(max_iter=1000))])


def sequential_loop(
    texts: np.ndarray, labels: np.ndarray, build: Callable[[str], Pipeline]
) -> list[float]:
    """``for`` feature set, ``for`` fold: fit on the training part, accuracy on the test part."""
    accs = []
    for features in FEATURES:
        pipe = build(features)
        for train, test in kfold_splits(labels, N_FOLDS, SPLIT_SEED):
            model = clone(pipe).fit(texts[train], labels[train])
            accs.append(accuracy_score(labels[test], model.predict(texts[test])))
    return accs


def bench_baselines(data_path: str | Path, n_jobs: int = -1) -> dict[str, Any]:
    """Time ours and the plain loop side by side; mean CV accuracy (all features x folds) of each."""
    df = load_dataset(DataSpec(path=str(data_path)))
    texts = df["text"].astype(str).to_numpy(dtype=object)
    labels = df["label"].to_numpy(dtype=int)
    cfg: dict[str, Any] = {
        "features": list(FEATURES),
        "n_jobs": n_jobs,
        "data": {"split_seed": SPLIT_SEED, "n_folds": N_FOLDS},
    }
    start = time.perf_counter()
    ours = run_baselines(df, cfg, quiet=True)
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    seq_ours = sequential_loop(texts, labels, lambda f: make_pipeline(f, cfg))
    seq_ours_s = time.perf_counter() - start

    start = time.perf_counter()
    plain = sequential_loop(texts, labels, plain_pipeline)
    plain_s = time.perf_counter() - start
    return {
        "ours_s": round(ours_s, 3),
        "plain_s": round(plain_s, 3),
        "ratio": round(plain_s / ours_s, 2),
        "acc_ours": round(float(ours["accuracy"].mean()), 6),
        "acc_plain": round(float(np.mean(plain)), 6),
        "seq_ours_s": round(seq_ours_s, 3),
        "acc_seq_ours": round(float(np.mean(seq_ours)), 6),
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
