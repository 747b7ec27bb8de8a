"""Statistics for comparing runs: pure functions on arrays, usable without the report.

Conventions: every two-sample function takes ``a`` and ``b`` and reports ``mean(a) - mean(b)``;
everything is two-sided. Undefined results (fewer than two values on a side, zero variance)
come back as ``nan`` rather than raising, so a partial sweep still yields a report; a test
result then carries a ``note`` that says why ("not testable: ..."), never a silent NaN.
"Zero variance" includes rounding-level variance: ten copies of 0.8 have a sample variance of
~1e-32 in floating point, which would otherwise give t ~ 1e14 and p ~ 1e-127.

* :func:`welch_ttest` — Welch's unequal-variance t-test with the Welch–Satterthwaite df; this
  is the test the paper reports (``scipy.stats.ttest_ind(a, b, equal_var=False)``).
* :func:`holm` — Holm–Bonferroni step-down adjusted p-values.
* :func:`mann_whitney` — Mann–Whitney U (U of ``a``), scipy's two-sided test.
* :func:`bootstrap_mean_diff_ci` — percentile bootstrap CI of the difference of means,
  each group resampled independently (``scipy.stats.bootstrap``, seeded numpy Generator).
* :func:`hedges_g` — standardised mean difference with the small-sample correction.
* :func:`min_detectable_difference` — the smallest true difference a two-sided two-sample
  t-test detects with the given power, solved *exactly* with scipy's noncentral t
  distribution (no normal approximation, no statsmodels).
* :func:`corrected_resampled_ttest` — Nadeau & Bengio (2003) corrected resampled t-test for
  differences paired by cross-validation fold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy import stats as st

__all__ = [
    "TTest",
    "welch_ttest",
    "holm",
    "mann_whitney",
    "bootstrap_mean_diff_ci",
    "hedges_g",
    "pooled_sd",
    "mde_from_se",
    "min_detectable_difference",
    "corrected_resampled_ttest",
    "compare_groups",
    "is_constant",
    "check_alpha_power",
]


@dataclass(frozen=True)
class TTest:
    """A t statistic, its degrees of freedom, the two-sided p-value and the difference tested."""

    t: float
    df: float
    p: float
    mean_diff: float
    se: float
    note: str = ""  # why t/p are NaN ("not testable: ..."); empty when the test ran

    @property
    def testable(self) -> bool:
        return not self.note

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


TOO_FEW = "not testable: fewer than two values on a side"
NO_VARIANCE = "not testable: no variance (the values are constant, up to rounding)"
# Spread below this fraction of the values' magnitude is floating-point noise, not variation.
_ROUNDING_RTOL = 1e-12


def _arr(x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[~np.isnan(a)]


def is_constant(*groups: np.ndarray) -> bool:
    """True when every group's spread is at rounding level (relative to the values' size).

    Why not ``var == 0``: the mean of ten 0.8s is not exactly 0.8 in floating point, so their
    sample variance is ~1e-32 instead of 0 and a t-test would report t ~ 1e14.
    """
    scale = max((float(np.max(np.abs(g))) for g in groups if len(g)), default=0.0)
    tol = _ROUNDING_RTOL * max(scale, 1e-300)
    return all(len(g) == 0 or float(np.ptp(g)) <= tol for g in groups)


def _t_from(diff: float, se: float, df: float) -> TTest:
    if not (se > 0 and df > 0 and math.isfinite(se)):
        return TTest(math.nan, df if df > 0 else math.nan, math.nan, diff, se, NO_VARIANCE)
    t = diff / se
    p = float(2.0 * st.t.sf(abs(t), df))
    return TTest(float(t), float(df), p, float(diff), float(se))


def welch_ttest(a: ArrayLike, b: ArrayLike) -> TTest:
    """Welch's t-test: ``t = (mean_a - mean_b) / sqrt(va/na + vb/nb)`` (sample variances),
    ``df = (va/na + vb/nb)^2 / ((va/na)^2/(na-1) + (vb/nb)^2/(nb-1))``, two-sided p."""
    a, b = _arr(a), _arr(b)
    if len(a) < 2 or len(b) < 2:
        diff = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
        return TTest(math.nan, math.nan, math.nan, diff, math.nan, TOO_FEW)
    diff = float(a.mean() - b.mean())
    if is_constant(a, b):
        return TTest(math.nan, math.nan, math.nan, diff, 0.0, NO_VARIANCE)
    # a constant side contributes no variance (not its ~1e-32 rounding residue)
    va = 0.0 if is_constant(a) else a.var(ddof=1) / len(a)
    vb = 0.0 if is_constant(b) else b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return _t_from(diff, se, df)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaNs stay NaN
    and do not count towards the number of tests."""
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def mann_whitney(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Two-sided Mann–Whitney U test: ``(U of a, p)``; nan when a side is empty."""
    a, b = _arr(a), _arr(b)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    res = st.mannwhitneyu(a, b, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def bootstrap_mean_diff_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    seed: int | np.random.Generator = 0,
    paired: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(a) - mean(b)``.

    Unpaired: each group is resampled independently. ``paired=True``: ``a`` and ``b`` are
    matched element-wise and pairs are resampled together. Reproducible: the same ``seed``
    gives the same interval.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if paired:
        if len(a) != len(b):
            raise ValueError("paired bootstrap needs arrays of equal length")
        keep = ~(np.isnan(a) | np.isnan(b))
        a, b = a[keep], b[keep]
    else:
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    kwargs: dict[str, Any] = {
        "n_resamples": int(n_boot),
        "confidence_level": confidence,
        "method": "percentile",
        "paired": paired,
        "vectorized": True,
    }
    try:
        res = st.bootstrap((a, b), diff, rng=rng, **kwargs)
    except TypeError:  # scipy < 1.15 names the generator random_state
        res = st.bootstrap((a, b), diff, random_state=rng, **kwargs)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def pooled_sd(a: ArrayLike, b: ArrayLike) -> float:
    """Pooled standard deviation ``sqrt(((na-1) va + (nb-1) vb) / (na + nb - 2))``."""
    a, b = _arr(a), _arr(b)
    dof = len(a) + len(b) - 2
    if len(a) < 1 or len(b) < 1 or dof < 1:
        return math.nan
    ss = (len(a) - 1) * (a.var(ddof=1) if len(a) > 1 else 0.0)
    ss += (len(b) - 1) * (b.var(ddof=1) if len(b) > 1 else 0.0)
    return math.sqrt(ss / dof)


def hedges_g(a: ArrayLike, b: ArrayLike) -> float:
    """Hedges' g: ``(mean_a - mean_b) / pooled_sd * J`` with the usual small-sample factor
    ``J = 1 - 3 / (4 (na + nb) - 9)``. NaN unless both sides have n >= 2 (a single value
    has no spread to standardise by) and the values vary beyond rounding."""
    a, b = _arr(a), _arr(b)
    if len(a) < 2 or len(b) < 2 or is_constant(a, b):
        return math.nan
    s = pooled_sd(a, b)
    if not (s > 0):
        return math.nan
    j = 1.0 - 3.0 / (4.0 * (len(a) + len(b)) - 9.0)
    return float((a.mean() - b.mean()) / s * j)


def _power(ncp: float, df: float, tcrit: float) -> float:
    upper = float(st.nct.sf(tcrit, df, ncp))
    lower = float(np.nan_to_num(st.nct.cdf(-tcrit, df, ncp), nan=0.0))
    return upper + lower


def mde_from_se(se: float, df: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true difference ``delta`` with power ``power`` for a two-sided t-test of level
    ``alpha`` whose statistic is ``diff / se`` with ``df`` degrees of freedom.

    Exact: solves ``P(|T'| > t_{1-alpha/2, df}) = power`` for the noncentrality ``delta / se``
    of the noncentral t ``T'`` (scipy.stats.nct, root found with brentq); ``delta = ncp * se``.

    Raises ValueError when ``power <= alpha``: with no true difference a level-``alpha`` test
    already rejects with probability ``alpha``, so no minimum difference is defined.
    """
    check_alpha_power(alpha, power)
    if not (se > 0 and df > 0 and math.isfinite(se) and math.isfinite(df)):
        return math.nan
    tcrit = float(st.t.ppf(1.0 - alpha / 2.0, df))
    hi = 1.0
    while _power(hi, df, tcrit) < power:
        hi *= 2.0
        if hi > 1e4:
            return math.nan
    ncp = optimize.brentq(lambda nc: _power(nc, df, tcrit) - power, 0.0, hi, xtol=1e-10)
    return float(ncp * se)


def check_alpha_power(alpha: float, power: float) -> None:
    """Refuse a level/power pair for which a minimum detectable difference is undefined."""
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha={alpha} and power={power} must both lie strictly between 0 and 1")
    if power <= alpha:
        raise ValueError(
            f"power={power} must exceed alpha={alpha}: a test of level alpha already rejects with "
            "probability alpha when there is no difference, so no minimum detectable difference "
            "exists (the usual choice is power=0.8)"
        )


def min_detectable_difference(
    sd: float, n_a: int, n_b: int | None = None, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Minimum detectable difference of a two-sided two-sample (pooled) t-test with group sizes
    ``n_a``/``n_b`` and common standard deviation ``sd``: ``se = sd sqrt(1/na + 1/nb)``,
    ``df = na + nb - 2``, solved exactly with the noncentral t (see :func:`mde_from_se`)."""
    n_b = n_a if n_b is None else n_b
    check_alpha_power(alpha, power)
    if n_a < 2 or n_b < 2:
        return math.nan
    se = sd * math.sqrt(1.0 / n_a + 1.0 / n_b)
    return mde_from_se(se, n_a + n_b - 2, alpha=alpha, power=power)


def corrected_resampled_ttest(diffs: ArrayLike, n_train: int, n_test: int) -> TTest:
    """Nadeau & Bengio's corrected resampled t-test for ``k`` per-fold differences.

    The folds' training sets overlap, so the differences are correlated and the naive paired
    t-test (variance ``s^2 / k``) is too liberal. The correction inflates the variance to
    ``(1/k + n_test/n_train) s^2``; ``t = mean / sqrt(that)``, ``df = k - 1``.
    """
    d = _arr(diffs)
    k = len(d)
    if k < 2:
        mean = float(d.mean()) if k else math.nan
        return TTest(math.nan, math.nan, math.nan, mean, math.nan, TOO_FEW)
    if n_train <= 0 or n_test <= 0:
        raise ValueError("n_train and n_test must be positive")
    if is_constant(d):
        return TTest(math.nan, float(k - 1), math.nan, float(d.mean()), 0.0, NO_VARIANCE)
    var = float(d.var(ddof=1))
    se = math.sqrt((1.0 / k + n_test / n_train) * var)
    return _t_from(float(d.mean()), se, k - 1)


def compare_groups(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every unpaired statistic for one pair (Welch, Mann–Whitney, bootstrap CI, Hedges' g,
    MDE from the pooled sd); ``p_holm`` is left to the caller (it needs the whole family).
    ``testable`` is False (and ``note`` says why) when t and p are undefined."""
    a_, b_ = _arr(a), _arr(b)
    w = welch_ttest(a_, b_)
    lo, hi = bootstrap_mean_diff_ci(a_, b_, n_boot=n_boot, seed=seed, confidence=1 - alpha)
    u, pu = mann_whitney(a_, b_)
    s = pooled_sd(a_, b_) if w.testable else math.nan  # rounding-level sd: no MDE either
    return {
        "test": "welch",
        "n_a": len(a_),
        "n_b": len(b_),
        "mean_a": float(a_.mean()) if len(a_) else math.nan,
        "mean_b": float(b_.mean()) if len(b_) else math.nan,
        "sd_a": float(a_.std(ddof=1)) if len(a_) > 1 else math.nan,
        "sd_b": float(b_.std(ddof=1)) if len(b_) > 1 else math.nan,
        "t": w.t,
        "df": w.df,
        "p": w.p,
        "mean_diff": w.mean_diff,
        "ci_low": lo,
        "ci_high": hi,
        "ci_method": "bootstrap_percentile",
        "hedges_g": hedges_g(a_, b_),
        "pooled_sd": s,
        "mde": min_detectable_difference(s, len(a_), len(b_), alpha=alpha, power=power),
        "mann_whitney_u": u,
        "mann_whitney_p": pu,
        "testable": w.testable,
        "note": w.note,
    }
