"""Statistics' edge cases: constant groups, n = 1, impossible power, CV sweeps, the paper's F1.

Each test names the claim it guards; an independent re-implementation of the statistics found
these cases (issue #15).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bertfreeze import stats
from bertfreeze.errors import UserError
from bertfreeze.report import build_report, paper

try:
    from tests import fake_runs
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import fake_runs


# ----------------------------------------------------------------------------- no variance
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.8] * 10, [0.81] * 10),  # variance ~1e-32 from rounding: once t ~ -2.7e14
        ([0.8, 0.8], [0.7, 0.7]),  # exactly zero variance: once a silent NaN
        ([0.1 + 0.2] * 5, [0.3] * 5),  # values one ulp apart
    ],
)
def test_constant_groups_are_not_testable(a: list[float], b: list[float]) -> None:
    res = stats.welch_ttest(a, b)
    assert math.isnan(res.t) and math.isnan(res.p)
    assert not res.testable and res.note == stats.NO_VARIANCE
    assert res.mean_diff == pytest.approx(np.mean(a) - np.mean(b))
    out = stats.compare_groups(a, b, n_boot=200)
    assert out["testable"] is False and out["note"].startswith("not testable")
    assert math.isnan(out["hedges_g"]) and math.isnan(out["mde"])


def test_one_constant_side_uses_the_other_sides_variance() -> None:
    varied = [0.80, 0.82, 0.81, 0.79, 0.83]
    res = stats.welch_ttest([0.9] * 5, varied)
    expected_se = np.std(varied, ddof=1) / math.sqrt(5)
    assert res.testable and res.se == pytest.approx(expected_se)
    assert res.df == pytest.approx(4.0)  # Welch-Satterthwaite with one zero variance: n_b - 1


def test_too_few_values_say_so() -> None:
    res = stats.welch_ttest([0.8], [0.7, 0.9])
    assert math.isnan(res.p) and res.note == stats.TOO_FEW
    assert stats.compare_groups([0.8], [0.7, 0.9], n_boot=200)["testable"] is False


def test_real_variance_is_still_tested() -> None:
    res = stats.welch_ttest([0.80, 0.81, 0.82], [0.70, 0.71, 0.73])
    assert res.testable and res.note == "" and 0 < res.p < 0.01


def test_constant_fold_differences_are_not_testable() -> None:
    diffs = np.full(10, 0.01)  # std ~1e-18: once t ~ 1e16
    res = stats.corrected_resampled_ttest(diffs, 6165, 762)
    assert math.isnan(res.t) and res.note == stats.NO_VARIANCE


# ----------------------------------------------------------------------------- effect size
def test_hedges_g_needs_two_values_per_side() -> None:
    assert math.isnan(stats.hedges_g([0.9], [0.7, 0.8, 0.75]))
    assert math.isnan(stats.hedges_g([0.7, 0.8, 0.75], [0.9]))
    assert math.isfinite(stats.hedges_g([0.9, 0.91], [0.7, 0.8, 0.75]))


# ----------------------------------------------------------------------------- MDE
@pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.05), (0.1, 0.05), (0.05, 0.01)])
def test_mde_refuses_power_at_or_below_alpha(alpha: float, power: float) -> None:
    with pytest.raises(ValueError, match=r"must exceed alpha"):
        stats.min_detectable_difference(0.02, 10, alpha=alpha, power=power)
    with pytest.raises(ValueError, match=r"must exceed alpha"):
        stats.mde_from_se(0.01, 18, alpha=alpha, power=power)


def test_report_refuses_power_at_or_below_alpha(tmp_path: Path) -> None:
    sweep = fake_runs.make_sweep(tmp_path / "sweep", modes=("all", "none"), seeds=range(3))
    with pytest.raises(UserError, match=r"power=0.05 must exceed alpha=0.05"):
        build_report(sweep, tmp_path / "out", find_baselines=False, alpha=0.05, power=0.05)
    assert not (tmp_path / "out").exists()  # refused before writing anything


# ----------------------------------------------------------------------------- report
def test_report_says_not_testable_for_constant_groups(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for mode, acc in (("all", 0.8), ("none", 0.81)):
        for seed in range(3):
            fake_runs.write_run(sweep, freeze=mode, seed=seed, accuracy=acc)
    result = build_report(
        sweep, tmp_path / "out", find_baselines=False, metrics=["accuracy"], n_boot=200
    )
    pair = [r for r in result.stats if r["kind"] == "freeze_pair" and r["metric"] == "accuracy"]
    assert pair and all(r["testable"] is False for r in pair)
    on_disk = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert all(r["t"] is None and r["note"].startswith("not testable") for r in on_disk)
    assert "no variance" in result.report_md.read_text()


def test_cv_sweep_compares_modes_on_fold_means_only(tmp_path: Path) -> None:
    """Seed x fold runs are not independent: no Welch test pools them; the freeze pair is the
    fold-paired corrected t on per-fold means (seeds averaged within a fold)."""
    rng = np.random.default_rng(0)
    cv = tmp_path / "cv"
    for fold in range(5):
        for seed in range(2):
            for mode in ("all", "none"):
                fake_runs.write_run(cv, freeze=mode, seed=seed, fold=fold, rng=rng)
    result = build_report(cv, tmp_path / "out", find_baselines=False, n_boot=200)
    pairs = [r for r in result.stats if r["kind"] == "freeze_pair" and r["metric"] == "accuracy"]
    assert [r["test"] for r in pairs] == ["nadeau_bengio"]
    (nb,) = pairs
    assert nb["n_a"] == 5 and nb["n_b"] == 5 and nb["folds"] == list(range(5))
    runs = result.runs
    means = {m: runs[runs.freeze == m].groupby("fold")["accuracy"].mean() for m in ("none", "all")}
    diffs = (means["none"] - means["all"]).sort_index().to_numpy()
    n_train, n_test = float(runs["n_train"].median()), float(runs["n_test"].median())
    ref = stats.corrected_resampled_ttest(diffs, int(n_train), int(n_test))
    assert nb["t"] == pytest.approx(ref.t) and nb["p"] == pytest.approx(ref.p)


# ----------------------------------------------------------------------------- paper's F1
def test_paper_recomputed_f1_from_the_trials_file_is_rounded_once(paper_ref_dir: Path) -> None:
    trials = pd.read_csv(paper_ref_dir / "bert_trials.csv")
    means = trials.groupby("freeze")["f1"].mean()
    assert means["all"] == pytest.approx(0.806499, abs=1e-6)  # 0.8065 at 4 decimals
    for mode, value in means.items():
        assert paper.TABLE2[mode]["f1_recomputed"] == round(float(value), 3), mode
    assert paper.TABLE2["all"]["f1_recomputed"] == 0.806
