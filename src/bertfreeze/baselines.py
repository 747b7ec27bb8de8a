"""Sparse baselines: TF-IDF / count / hashing features + logistic regression, k-fold CV.

Every (feature set, fold) pair is one independent task: a fresh clone of the whole Pipeline
(vectorizer included) is fitted on that fold's training part only and scored on its test
part, so no vocabulary, IDF weight or coefficient ever sees a test row. The folds come from
:func:`bertfreeze.splits.kfold_splits` with ``data.split_seed`` and ``data.n_folds`` — exactly
the folds that BERT k-fold runs (``cv=true``) use, so fold k here is fold k there.

All tasks (feature sets x folds) run as one joblib task list over ``n_jobs`` processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from bertfreeze.atomic import atomic_write_text, write_json_atomic
from bertfreeze.errors import UserError
from bertfreeze.schema import BASELINE_METRICS
from bertfreeze.schema import METRICS as METRICS_REGISTRY
from bertfreeze.settings import settings
from bertfreeze.splits import kfold_splits
from bertfreeze.text import CachedAnalyzer, paper_preprocess, paper_preprocess_lower

FEATURES = ("tfidf", "count", "hashing")
PREPROCESS = ("none", "paper")
METRICS = BASELINE_METRICS  # the registry's names, shared with the BERT runs
FOLD_COLUMNS = ["features", "fold", *METRICS]
#: The paper's Table 1 (10-fold CV on Disaster Tweets): mean accuracy and F1.
PAPER_TABLE1 = {
    "tfidf": {"label": "TF-IDF", "accuracy": 0.795, "f1": 0.742},
    "count": {"label": "Count", "accuracy": 0.796, "f1": 0.746},
    "hashing": {"label": "Hash", "accuracy": 0.793, "f1": 0.735},
}
PAPER_MIN_DF = 10  # the paper's TF-IDF min_df
WHITESPACE_TOKENS = r"(?u)\S+"

DEFAULTS: dict[str, Any] = {
    "features": list(FEATURES),
    "preprocess": "none",
    "min_df": None,  # None: 1, or PAPER_MIN_DF for tfidf with preprocess=paper
    "paper_lowercase": False,  # preprocess=paper: lower-case the stems (NLTK's default)
    "token_cache": True,  # tokenise each distinct text once per process (see CachedAnalyzer)
    "n_features": 2**20,
    "C": 1.0,
    "solver": "liblinear",
    "dual": True,  # liblinear's dual solver: same optimum, 10-40x faster when features > rows
    "max_iter": 1000,
    "random_state": 0,
    "n_jobs": -1,
}


def _opt(cfg: Mapping[str, Any], key: str) -> Any:
    value = cfg.get(key) if cfg is not None else None
    return DEFAULTS[key] if value is None else value


def _data_opt(cfg: Mapping[str, Any], key: str, default: Any) -> Any:
    data = cfg.get("data") if cfg is not None else None
    value = data.get(key) if data is not None else None
    return default if value is None else value


def feature_sets(cfg: Mapping[str, Any] | None) -> list[str]:
    """``cfg.features`` as a list (a single name is accepted: ``features=tfidf``)."""
    value = _opt(cfg or {}, "features")
    return [value] if isinstance(value, str) else [str(f) for f in value]


def _number(cfg: Mapping[str, Any], key: str, kind: type, ok: Callable[[Any], bool], rule: str):
    value = _opt(cfg, key)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not ok(number):
        raise UserError(f"{key}={value!r} is invalid — it must be {rule}")
    return number


def validate_cfg(cfg: Mapping[str, Any]) -> None:
    """Refuse unknown feature sets / preprocessing / bad numbers with a one-line UserError."""
    cfg = cfg or {}
    features = feature_sets(cfg)
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise UserError(
            f"features={features}: unknown or empty {unknown} — choose from {list(FEATURES)}"
        )
    if len(set(features)) != len(features):
        raise UserError(f"features={features} lists a feature set twice")
    preprocess = _opt(cfg, "preprocess")
    if preprocess not in PREPROCESS:
        raise UserError(f"preprocess={preprocess!r} is unknown — use none or paper")
    solver = _opt(cfg, "solver")
    if solver not in {"liblinear", "lbfgs"}:
        raise UserError(f"solver={solver!r} is unsupported — use liblinear or lbfgs")
    _number(cfg, "C", float, lambda x: x > 0, "a number > 0")
    _number(cfg, "max_iter", int, lambda x: x >= 1, "an integer >= 1")
    _number(cfg, "n_features", int, lambda x: x >= 2, "an integer >= 2 (e.g. 1048576)")
    _number(cfg, "random_state", int, lambda x: True, "an integer")
    _number(cfg, "n_jobs", int, lambda x: x != 0, "-1 (all cores) or a positive count")
    if cfg.get("min_df") is not None:
        value = cfg["min_df"]
        if isinstance(value, bool) or not (
            (isinstance(value, int) and value >= 1) or (isinstance(value, float) and 0 < value <= 1)
        ):
            raise UserError(
                f"min_df={value!r} is invalid — an integer count >= 1, a fraction in (0, 1], "
                f"or null"
            )


def make_pipeline(features: str, cfg: Mapping[str, Any] | None = None) -> Pipeline:
    """An unfitted ``vectorizer -> LogisticRegression`` Pipeline for one feature set.

    ``preprocess=none``: scikit-learn's default analyzer (lower-cased word tokens of 2+ chars).
    ``preprocess=paper``: :func:`~bertfreeze.text.paper_preprocess` (punctuation, stop words,
    Porter stems, case kept unless ``paper_lowercase``), whitespace tokens, and TF-IDF
    ``min_df=10`` as in the paper.

    ``token_cache=true`` (default) tokenises through :class:`~bertfreeze.text.CachedAnalyzer`:
    the same tokens as the stock analyzer, each distinct text tokenised once per process
    instead of once per fold and feature set. The vectorizer itself is still fitted per fold.
    """
    cfg = cfg or {}
    if features not in FEATURES:
        raise UserError(f"unknown feature set {features!r} — choose from {list(FEATURES)}")
    paper = _opt(cfg, "preprocess") == "paper"
    lower = bool(_opt(cfg, "paper_lowercase"))
    text_opts: dict[str, Any] = {}
    if bool(_opt(cfg, "token_cache")):
        mode = ("paper_lower" if lower else "paper") if paper else "word"
        text_opts = {"analyzer": CachedAnalyzer(mode), "lowercase": False, "token_pattern": None}
    elif paper:
        text_opts = {
            "preprocessor": paper_preprocess_lower if lower else paper_preprocess,
            "lowercase": False,
            "token_pattern": WHITESPACE_TOKENS,
        }
    min_df = cfg.get("min_df")
    if min_df is None:
        min_df = PAPER_MIN_DF if paper and features == "tfidf" else 1
    if features == "tfidf":
        vec = TfidfVectorizer(min_df=min_df, **text_opts)
    elif features == "count":
        vec = CountVectorizer(min_df=min_df, **text_opts)
    else:  # hashing is stateless: nothing is fitted, so min_df does not apply
        vec = HashingVectorizer(n_features=int(_opt(cfg, "n_features")), **text_opts)
    solver = _opt(cfg, "solver")
    clf = LogisticRegression(
        C=float(_opt(cfg, "C")),
        solver=solver,
        # L2 logistic regression has one optimum; liblinear's dual coordinate descent reaches
        # it far faster than the primal Newton solver when n_features >> n_samples (text).
        dual=bool(_opt(cfg, "dual")) and solver == "liblinear",
        max_iter=int(_opt(cfg, "max_iter")),
        random_state=int(_opt(cfg, "random_state")),
    )
    return Pipeline([("vec", vec), ("clf", clf)])


def score_fold(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every registry metric the baselines compute: accuracy, F1/precision/recall of the
    positive class 1, AUROC from decision scores (bertfreeze.schema.METRICS)."""
    return {name: METRICS_REGISTRY[name].score(y_true, y_pred, scores) for name in METRICS}


def fit_score_fold(
    features: str,
    fold: int,
    pipeline: Pipeline,
    texts: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    return_model: bool = False,
) -> tuple[dict[str, Any], Pipeline | None]:
    """Fit a clone of ``pipeline`` on the training rows only, score it on the test rows."""
    model = clone(pipeline)
    model.fit(texts[train], labels[train])
    x_test = texts[test]
    row = {"features": features, "fold": int(fold)}
    row.update(score_fold(labels[test], model.predict(x_test), model.decision_function(x_test)))
    return row, (model if return_model else None)


def _quiet() -> bool:
    return settings().quiet


def run_baselines(
    df: pd.DataFrame,
    cfg: Mapping[str, Any] | None = None,
    *,
    return_models: bool = False,
    quiet: bool | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[tuple[str, int], Pipeline]]:
    """k-fold CV of every requested feature set; one row per (features, fold).

    ``df`` has columns ``text`` and ``label`` (as returned by
    :func:`bertfreeze.data.load_dataset`). ``cfg`` holds the baselines options (see
    ``conf/baselines.yaml``; missing keys take :data:`DEFAULTS`) and a ``data`` node with
    ``split_seed`` / ``n_folds``. Returns a DataFrame with columns :data:`FOLD_COLUMNS`,
    sorted by feature set (in ``cfg.features`` order) then fold. ``return_models=True`` also
    returns the fitted pipelines keyed by ``(features, fold)`` (tests, inspection).
    """
    cfg = cfg or {}
    validate_cfg(cfg)
    features = feature_sets(cfg)
    seed = int(_data_opt(cfg, "split_seed", 42))
    n_folds = int(_data_opt(cfg, "n_folds", 10))
    texts = df["text"].astype(str).to_numpy(dtype=object)
    labels = df["label"].to_numpy(dtype=int)
    folds = kfold_splits(labels, n_folds, seed)
    pipelines = {f: make_pipeline(f, cfg) for f in features}
    tasks = [
        delayed(fit_score_fold)(f, k, pipelines[f], texts, labels, tr, te, return_models)
        for f in features
        for k, (tr, te) in enumerate(folds)
    ]
    n_jobs = int(_opt(cfg, "n_jobs"))
    results = []
    with tqdm(
        total=len(tasks),
        desc="baselines (features x folds)",
        unit="fold",
        disable=_quiet() if quiet is None else quiet,
    ) as bar:
        if n_jobs == 1:
            for task in tasks:
                func, args, kwargs = task
                results.append(func(*args, **kwargs))
                bar.update()
        else:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for res in parallel(tasks):
                results.append(res)
                bar.update()
    order = {f: i for i, f in enumerate(features)}
    rows = sorted((r for r, _ in results), key=lambda r: (order[r["features"]], r["fold"]))
    out = pd.DataFrame(rows, columns=FOLD_COLUMNS)
    if return_models:
        return out, {(r["features"], r["fold"]): m for r, m in results}
    return out


def summarize(folds_df: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """Per feature set: mean and sample std (ddof=1) of every metric, and ``n_folds``.

    Keys per feature set: ``accuracy_mean, accuracy_std, f1_mean, f1_std, precision_mean,
    precision_std, recall_mean, recall_std, auroc_mean, auroc_std, n_folds``. The top level
    holds feature-set names only (run metadata goes to ``meta.json``).
    """
    summary: dict[str, dict[str, float | int]] = {}
    for features, group in folds_df.groupby("features", sort=False):
        entry: dict[str, float | int] = {}
        for m in METRICS:
            values = group[m].to_numpy(dtype=float)
            entry[f"{m}_mean"] = float(np.mean(values))
            entry[f"{m}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        entry["n_folds"] = int(group["fold"].nunique())
        summary[str(features)] = entry
    return summary


def format_table(summary: Mapping[str, Mapping[str, float]], paper: bool = True) -> str:
    """Console table: ours (mean ± sd over folds) beside the paper's Table 1."""
    head = f"{'features':<10} {'accuracy (ours)':>17} {'F1 (ours)':>17}"
    if paper:
        head += f"   {'paper acc':>9} {'paper F1':>8}"
    lines = [head, "-" * len(head)]
    for features, s in summary.items():
        acc = f"{s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f}"
        f1 = f"{s['f1_mean']:.3f} ± {s['f1_std']:.3f}"
        line = f"{features:<10} {acc:>17} {f1:>17}"
        if paper and features in PAPER_TABLE1:
            ref = PAPER_TABLE1[features]
            line += f"   {ref['accuracy']:>9.3f} {ref['f1']:>8.3f}"
        lines.append(line)
    return "\n".join(lines)


def write_outputs(
    run_dir: str | Path, folds_df: pd.DataFrame, summary: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
    """``folds.csv``, ``summary.json`` and ``meta.json``, each written atomically."""
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / "folds.csv", folds_df.to_csv(index=False, float_format="%.6f"))
    write_json_atomic(run_dir / "summary.json", dict(summary))
    write_json_atomic(run_dir / "meta.json", dict(meta))
