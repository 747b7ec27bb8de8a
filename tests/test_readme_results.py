"""The README's results block is exactly what results/ generates (no hand-typed numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bertfreeze.readme_results import BEGIN, END, current_block, render, update_readme


def test_readme_block_matches_committed_results() -> None:
    assert current_block() == render(), (
        "README results block differs from results/: run `make results ARGS=readme=true`"
    )


def test_block_reports_means_and_cis_from_runs(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "disaster-tweets"
    folder.mkdir(parents=True)
    rows = [
        {
            "freeze": f,
            "k": None,
            "seed": s,
            "test_accuracy": a + 0.002 * s,
            "test_f1": 0.7,
            "backbone": "minilm",
        }
        for f, a in (("all", 0.80), ("none", 0.83))
        for s in range(10)
    ]
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    (folder / "environment.json").write_text(
        json.dumps({"git_commit": "abc", "precision": ["32-true"]})
    )
    (tmp_path / "README.md").write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    update_readme(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n")
    # mean of 0.80 + 0.002*s over s=0..9 is 0.809; never the best seed (0.818)
    assert "| frozen (`all`) | 10 | 0.809 ± 0.006 |" in text
    assert "0.818" not in text
    assert "| full (`none`) | 10 | 0.839 ± 0.006 |" in text
    # the backbone is named, and the paper's (BERT-base) figures are marked as another backbone's
    assert "backbone `minilm`" in text
    assert "The paper (BERT-base, not this backbone" in text
    # a study committed mode by mode says which modes are in, and quotes no number from them
    peft = tmp_path / "results" / "peft"
    peft.mkdir()
    (peft / "lora.environment.json").write_text(json.dumps({"n_runs": 10}))
    block = render(tmp_path)
    assert "`peft` (records of lora committed; the report waits for every mode)" in block
    assert "lora" not in block.split("Not committed yet")[0]


def test_footer_names_each_modes_machine_when_they_differ() -> None:
    """A study committed mode by mode over several sittings names which machine ran which mode,
    not only the machine that exported it."""
    from bertfreeze.readme_results import _machines

    a = {"cpu_model": "Xeon A", "cpu_capability": "AVX512", "cores": 2}
    b = {"cpu_model": "Xeon B", "cpu_capability": "AVX512", "cores": 2}
    assert (
        _machines({**a, "machines_by_mode": {"lora": a, "bitfit": a}}) == "Xeon A (AVX512, 2 cores)"
    )
    mixed = {**b, "machines_by_mode": {"lora": a, "bitfit": a, "ia3": b}}
    assert _machines(mixed) == (
        "`lora`, `bitfit` on Xeon A (AVX512, 2 cores); `ia3` on Xeon B (AVX512, 2 cores)"
    )


def test_footer_tells_a_native_bf16_cpu_from_one_without() -> None:
    """Two CPUs both reported as AVX512 differ in native bf16 (AMX): the footer says which."""
    from bertfreeze.readme_results import _machine

    e = {"cpu_model": "Xeon", "cpu_capability": "AVX512", "cores": 2}
    assert _machine(e) == "Xeon (AVX512, 2 cores)"
    assert _machine({**e, "cpu_native_bf16": True}) == "Xeon (AVX512, native bf16, 2 cores)"


def test_a_difference_below_its_mde_never_prints_as_equal_to_it() -> None:
    from bertfreeze.readme_results import _distinct

    assert _distinct(0.0085, 0.0092) == ("+0.0085", "0.0092")  # not "+0.009 ... the 0.009"
    assert _distinct(-0.0066, 0.0071) == ("-0.0066", "0.0071")
    assert _distinct(0.001, 0.009) == ("+0.001", "0.009")


def _nb(kind: str, a: str, b: str, diff: float, p_holm: float, mde: float) -> dict:
    return {
        "kind": kind,
        "metric": "accuracy",
        "test": "nadeau_bengio",
        "freeze_a": a,
        "freeze_b": None if kind == "vs_baseline" else b,
        "a": a,
        "b": b,
        "mean_diff": diff,
        "ci_low": diff - 0.01,
        "ci_high": diff + 0.01,
        "p_holm": p_holm,
        "hedges_g": 1.0,
        "mde": mde,
        "significant": p_holm < 0.05,
    }


def test_fold_paired_study_shows_corrected_tests_against_modes_and_baseline(
    tmp_path: Path,
) -> None:
    """A cv study's block gives the fold-paired (Nadeau–Bengio) differences, the best baseline
    among them, and says why its per-mode CIs are too narrow; Welch lines are not used there."""
    folder = tmp_path / "results" / "disaster-tweets-cv"
    folder.mkdir(parents=True)
    rows = [
        {"freeze": f, "k": None, "seed": 0, "fold": k, "test_accuracy": a, "test_f1": 0.7}
        for f, a in (("all", 0.80), ("none", 0.83))
        for k in range(10)
    ]
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    (folder / "environment.json").write_text(json.dumps({"git_commit": "abc"}))
    stats = [
        _nb("freeze_pair", "none", "all", 0.030, 0.001, 0.010),
        _nb("vs_baseline", "none", "tfidf (baseline)", 0.027, 0.002, 0.012),
        _nb("vs_baseline", "all", "tfidf (baseline)", -0.003, 0.700, 0.012),
        {**_nb("vs_baseline", "all", "tfidf (baseline)", 0.5, 0.5, 0.1), "test": "welch"},
    ]
    (folder / "stats.json").write_text(json.dumps(stats))
    block = render(tmp_path)
    assert "| full (`none`) − frozen (`all`) | +0.030 |" in block
    assert "| full (`none`) − best baseline (tfidf + LR) | +0.027 |" in block
    assert "frozen (`all`) vs best baseline (tfidf + LR) cannot be told apart" in block
    assert "this many folds can detect" in block
    assert "Nadeau–Bengio" in block and "too narrow" in block
    assert "+0.500" not in block  # the Welch line of a cv study is not shown


def test_holdout_study_leaves_baseline_tests_to_its_report(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "disaster-tweets"
    folder.mkdir(parents=True)
    rows = [
        {"freeze": "all", "k": None, "seed": s, "test_accuracy": 0.8, "test_f1": 0.7}
        for s in range(3)
    ]
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    (folder / "environment.json").write_text(json.dumps({"git_commit": "abc"}))
    welch = {**_nb("vs_baseline", "all", "tfidf (baseline)", 0.004, 0.5, 0.01), "test": "welch"}
    (folder / "stats.json").write_text(json.dumps([welch]))
    assert "best baseline" not in render(tmp_path)


def _welch(a: str, b: str, diff: float, p_holm: float) -> dict:
    return {**_nb("freeze_pair", a, b, diff, p_holm, 0.01), "test": "welch"}


def test_depth_study_shows_the_curve_in_order_with_neighbouring_steps(tmp_path: Path) -> None:
    """A depth study's block lists depths by k with their trainable parameters, shows only the
    differences between neighbouring depths (Holm over every pair, said so), and embeds the
    report's curve figures."""
    folder = tmp_path / "results" / "freeze-depth"
    folder.mkdir(parents=True)
    rows = [
        {
            "freeze": f"top{k}",
            "k": k,
            "seed": s,
            "test_accuracy": 0.80 + 0.01 * k + 0.001 * s,
            "test_f1": 0.7,
            "trainable_params": 385 + 1_000_000 * k,
        }
        for k in (2, 0, 1)  # written out of order: the table sorts by k
        for s in range(3)
    ]
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    (folder / "environment.json").write_text(json.dumps({"git_commit": "abc"}))
    stats = [
        _welch("top1", "top0", 0.010, 0.04),
        _welch("top2", "top1", 0.011, 0.03),
        _welch("top2", "top0", 0.021, 0.001),
    ]
    (folder / "stats.json").write_text(json.dumps(stats))
    (folder / "figure3_layers.png").write_bytes(b"png")
    block = render(tmp_path)
    k0, k1, k2 = (block.index(f"| `top{k}` k={k} | 3 |") for k in range(3))
    assert k0 < k1 < k2
    assert "| `top2` k=2 | 3 | 2,000,385 | 0.821 ± 0.001 |" in block
    assert "| `top1` − `top0` | +0.010 |" in block
    assert "| `top2` − `top1` | +0.011 |" in block
    assert "+0.021" not in block  # k=2 vs k=0 is not a neighbouring step
    assert "of 3 pairs of depths; each Holm p is corrected in one family of 3 tests" in block
    stats.append({**_welch("top2", "tfidf (baseline)", -0.01, 0.2), "kind": "vs_baseline"})
    (folder / "stats.json").write_text(json.dumps(stats))
    assert "one family of 4 tests: every pair and each depth against the baselines (1 tests" in (
        render(tmp_path)
    )
    assert "![test accuracy vs trainable layers](results/freeze-depth/figure3_layers.png)" in block
    assert "figure4_params" not in block  # embedded only when the report drew it


@pytest.mark.parametrize(
    ("mode", "k", "label"), [("all", None, "frozen (`all`)"), ("top1", 1, "`top1`")]
)
def test_recipe_study_shows_each_arm_and_their_difference(
    tmp_path: Path, mode: str, k: int | None, label: str
) -> None:
    """A study sweeping one recipe key in one mode (cache-ablation) gets one row per arm, not
    one pooled row per mode, and the report's recipe_pair test between the arms — also when
    its one mode is a depth (``top_k``, k=1: cache-ablation-top1), which is no depth curve."""
    folder = tmp_path / "results" / "cache-ablation"
    folder.mkdir(parents=True)
    arms = {"minilm, cache.enabled=False": 0.80, "minilm, cache.enabled=True": 0.81}
    rows = [
        {
            "freeze": mode,
            "k": k,
            "seed": s,
            "test_accuracy": acc + 0.001 * s,
            "test_f1": 0.7,
            "family": fam,
            "group": f"{fam} / {mode}",
        }
        for s in range(4)
        for fam, acc in arms.items()  # the arms interleaved, as a sweep's runs.csv has them
    ]
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    (folder / "environment.json").write_text(json.dumps({"git_commit": "abc"}))
    pair = {
        **_welch(mode, mode, -0.010, 0.003),
        "kind": "recipe_pair",
        "a": f"minilm, cache.enabled=False / {mode}",
        "b": f"minilm, cache.enabled=True / {mode}",
    }
    (folder / "stats.json").write_text(json.dumps([pair]))
    block = render(tmp_path)
    assert f"| {label}, `cache.enabled=False` | 4 | 0.801 ± 0.001 |" in block
    assert f"| {label}, `cache.enabled=True` | 4 | 0.811 ± 0.001 |" in block
    assert f"| {label}, `cache.enabled=False` − {label}, `cache.enabled=True` | -0.010 |" in block
    assert "neighbouring depths" not in block


def test_footer_names_the_bf16_instruction_set_when_recorded() -> None:
    from bertfreeze.readme_results import _machine

    epyc = {
        "cpu_model": "AMD EPYC",
        "cpu_capability": "AVX512",
        "cpu_native_bf16": True,
        "cores": 2,
    }
    assert _machine({**epyc, "cpu_bf16_isa": ["avx512_bf16"]}) == (
        "AMD EPYC (AVX512, native bf16: AVX512_BF16, 2 cores)"
    )
    assert _machine(epyc) == "AMD EPYC (AVX512, native bf16, 2 cores)"  # older files
