"""Pairwise comparisons behind stats.json.

* Within each family (same dataset, backbone and recipe), every pair of freeze modes —
  parameter-efficient ones (lora, bitfit, ia3) included, in the same Holm family:
  ``a`` = the mode with more trainable parameters, ``b`` = fewer, so ``mean_diff > 0`` means
  training more of the encoder helped. Unpaired Welch test over seeds.
* Across families (``kind: recipe_pair``): one freeze mode of one dataset and backbone under two
  recipes that differ in exactly one varied key (``recipe_key``), e.g. a sweep over
  ``cache.enabled`` or ``model.pooling``; ``a``/``b`` in family order. Without these a sweep over
  a recipe key reported each value's groups side by side but never tested them against each
  other. Same tests as freeze pairs (Welch over seeds; fold-paired for CV runs).
* Each BERT group vs the best baseline (best feature set by mean accuracy): Welch test of the
  BERT per-seed scores against the baseline per-fold scores. These are different resampling
  units (seeds on one split vs CV folds), so the test is indicative only.
* When runs carry a ``fold`` and both sides have the same folds, a fold-paired Nadeau–Bengio
  corrected resampled t-test is used (BERT scores averaged over seeds within a fold); CV runs
  never enter a Welch test (seed x fold runs are not independent).
* A comparison whose t and p are undefined (too few values, no variance) says so:
  ``testable`` False and a ``note``, never a bare NaN.

Holm's correction is applied per metric within each test type (``welch``, ``nadeau_bengio``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from scipy import stats as st

from bertfreeze import stats
from bertfreeze.report.collect import Baselines, group_order, key_label


def _freeze_pairs(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(a, b) group pairs within each family, a having more trainable parameters than b."""
    order = group_order(runs)
    pairs: list[tuple[str, str]] = []
    fam = runs.drop_duplicates("group").set_index("group")["family"]
    for lo, hi in itertools.combinations(order, 2):
        if fam[lo] == fam[hi]:
            pairs.append((hi, lo))
    return pairs


def _recipe_pairs(runs: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(a, b, key): groups of the same dataset, backbone and freeze mode whose families differ
    in exactly one varied recipe key (pairs differing in two keys would confound them)."""
    keys = list(runs.attrs.get("varied_keys") or [])
    if not keys:
        return []
    first = runs.drop_duplicates("group").set_index("group")
    pairs: list[tuple[str, str, str]] = []
    for a, b in itertools.combinations(group_order(runs), 2):
        ra, rb = first.loc[a], first.loc[b]
        if ra["family"] == rb["family"] or any(
            str(ra[c]) != str(rb[c]) for c in ("data_name", "backbone", "freeze")
        ):
            continue
        differ = [k for k in keys if str(ra[k]) != str(rb[k])]
        if len(differ) == 1:
            pairs.append((a, b, differ[0]))
    return pairs


def _nb_entry(
    a_by_fold: pd.Series,
    b_by_fold: pd.Series,
    n_train: float,
    n_test: float,
    *,
    alpha: float,
    power: float,
) -> dict[str, Any] | None:
    a_by_fold = a_by_fold.set_axis([int(i) for i in a_by_fold.index])
    b_by_fold = b_by_fold.set_axis([int(i) for i in b_by_fold.index])
    shared = a_by_fold.index.intersection(b_by_fold.index).sort_values()
    if len(shared) < 2 or not (n_train > 0 and n_test > 0):
        return None
    a, b = a_by_fold[shared].to_numpy(float), b_by_fold[shared].to_numpy(float)
    diffs = a - b
    res = stats.corrected_resampled_ttest(diffs, int(n_train), int(n_test))
    naive_p = math.nan if stats.is_constant(diffs) else float(st.ttest_1samp(diffs, 0.0).pvalue)
    tcrit = float(st.t.ppf(1 - alpha / 2, len(diffs) - 1))
    u, pu = stats.mann_whitney(a, b)
    return {
        "test": "nadeau_bengio",
        "paired": True,
        "n_a": len(a),
        "n_b": len(b),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "sd_a": float(a.std(ddof=1)),
        "sd_b": float(b.std(ddof=1)),
        "t": res.t,
        "df": res.df,
        "p": res.p,
        "mean_diff": res.mean_diff,
        "ci_low": res.mean_diff - tcrit * res.se,
        "ci_high": res.mean_diff + tcrit * res.se,
        "ci_method": "corrected_t",
        "hedges_g": stats.hedges_g(a, b),
        "pooled_sd": stats.pooled_sd(a, b),
        "mde": stats.mde_from_se(res.se, res.df, alpha=alpha, power=power),
        "mann_whitney_u": u,
        "mann_whitney_p": pu,
        "naive_paired_p": naive_p,
        "testable": res.testable,
        "note": res.note,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "folds": [int(f) for f in shared],
    }


def compare_all(
    runs: pd.DataFrame,
    baselines: Baselines | None = None,
    *,
    metrics: Sequence[str] = ("accuracy", "f1"),
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 10_000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Every comparison as a list of stats.json records (see module doc)."""
    records: list[dict[str, Any]] = []
    info = runs.drop_duplicates("group").set_index("group")
    pairs = [(a, b, "freeze_pair", None) for a, b in _freeze_pairs(runs)]
    pairs += [(a, b, "recipe_pair", key) for a, b, key in _recipe_pairs(runs)]
    best = baselines.best("accuracy") if baselines is not None else None
    several_datasets = bool(runs.attrs.get("several_datasets"))
    base_data = baselines.data_name if baselines is not None else None

    def base_ok(group: str) -> bool:
        if baselines is None:
            return False
        if base_data is not None:
            return str(info.loc[group, "data_name"]) == str(base_data)
        return True

    def common(a: str, b: str, kind: str) -> dict[str, Any]:
        row = info.loc[a]
        return {
            "kind": kind,
            "family": row["family"],
            "backbone": row["backbone"],
            "data": row["data_name"],
            "freeze_a": row["freeze"],
            "freeze_b": info.loc[b, "freeze"] if b in info.index else None,
        }

    for metric in metrics:
        for a, b, kind, key in pairs:
            extra = {"recipe_key": key_label(key)} if key else {}
            # Holdout runs (one per seed) are independent: Welch. CV runs (seed x fold) are not:
            # runs on the same fold share their test rows, so they are compared only as per-fold
            # means, fold-paired (Nadeau-Bengio below), never pooled into a Welch test.
            holdout = runs["fold"].isna()
            va = runs.loc[(runs["group"] == a) & holdout, metric].dropna()
            vb = runs.loc[(runs["group"] == b) & holdout, metric].dropna()
            if len(va) and len(vb):
                rec = {"a": a, "b": b, "metric": metric, **common(a, b, kind), **extra}
                rec |= stats.compare_groups(
                    va, vb, alpha=alpha, power=power, n_boot=n_boot, seed=seed
                )
                rec |= {"units_a": "runs", "units_b": "runs"}
                records.append(rec)
            fa = runs[(runs["group"] == a) & runs["fold"].notna()]
            fb = runs[(runs["group"] == b) & runs["fold"].notna()]
            if len(fa) and len(fb):
                n_train = float(pd.concat([fa, fb])["n_train"].median())
                n_test = float(pd.concat([fa, fb])["n_test"].median())
                nb = _nb_entry(
                    fa.groupby("fold")[metric].mean(),
                    fb.groupby("fold")[metric].mean(),
                    n_train,
                    n_test,
                    alpha=alpha,
                    power=power,
                )
                if nb:
                    nb |= {"a": a, "b": b, "metric": metric, **common(a, b, kind), **extra}
                    nb |= {"units_a": "folds", "units_b": "folds"}
                    records.append(nb)
        if baselines is None or best is None or metric not in baselines.folds:
            continue
        bfolds = baselines.folds[baselines.folds["features"] == best]
        b_label = f"{best} (baseline)"
        for a in group_order(runs):
            if not base_ok(a):
                continue
            sub = runs[runs["group"] == a]
            holdout = sub[sub["fold"].isna()]
            if len(holdout):
                rec = {"a": a, "b": b_label, "metric": metric, **common(a, b_label, "vs_baseline")}
                rec |= stats.compare_groups(
                    holdout[metric].dropna(),
                    bfolds[metric].dropna(),
                    alpha=alpha,
                    power=power,
                    n_boot=n_boot,
                    seed=seed,
                )
                rec |= {"units_a": "seeds (holdout runs)", "units_b": "CV folds"}
                records.append(rec)
            folded = sub[sub["fold"].notna()]
            if len(folded):
                nb = _nb_entry(
                    folded.groupby("fold")[metric].mean(),
                    bfolds.groupby("fold")[metric].mean(),
                    float(folded["n_train"].median()),
                    float(folded["n_test"].median()),
                    alpha=alpha,
                    power=power,
                )
                if nb:
                    nb |= {"a": a, "b": b_label, "metric": metric}
                    nb |= common(a, b_label, "vs_baseline")
                    nb |= {"units_a": "folds", "units_b": "folds"}
                    records.append(nb)
    for metric in metrics:
        for test in ("welch", "nadeau_bengio"):
            fam = [r for r in records if r["metric"] == metric and r["test"] == test]
            adjusted = stats.holm([r["p"] for r in fam])
            for r, p_holm in zip(fam, adjusted, strict=True):
                r["p_holm"] = float(p_holm)
    for r in records:
        diff, mde, p_holm = r["mean_diff"], r["mde"], r["p_holm"]
        r["significant"] = bool(p_holm < alpha) if not math.isnan(p_holm) else None
        r["underpowered"] = (
            bool(abs(diff) < mde) if not (math.isnan(diff) or math.isnan(mde)) else None
        )
        r["several_datasets"] = several_datasets
    return records


STATS_KEYS = (
    "a",
    "b",
    "metric",
    "test",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "t",
    "df",
    "p",
    "p_holm",
    "mean_diff",
    "ci_low",
    "ci_high",
    "hedges_g",
    "mde",
    "mann_whitney_u",
    "mann_whitney_p",
)
