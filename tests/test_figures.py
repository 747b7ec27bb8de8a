"""Figures a reader understands at a glance: modes by meaning, the best baseline as a band,
one y-axis for the figures compared side by side, points with mean and 95% CI when n is small,
paper numbers marked with their backbone, a reduced run saying so in its title."""

from __future__ import annotations

from pathlib import Path

import fake_runs
import pytest

from bertfreeze.report import build_report
from bertfreeze.report import figures as figs

N_BOOT = 200


@pytest.fixture(scope="module")
def quickstart_report(tmp_path_factory: pytest.TempPathFactory):
    """3 modes x 3 seeds x 2 epochs, tagged as the quickstart, with 10-fold baselines."""
    root = tmp_path_factory.mktemp("figures")
    sweep = fake_runs.make_sweep(root / "sweep", seeds=range(3), experiment="quickstart", epochs=2)
    base = fake_runs.make_baselines(root / "baselines" / "2024-01-01_00-00-00")
    return build_report(sweep, root / "report", base, n_boot=N_BOOT)


def test_modes_are_labelled_by_meaning() -> None:
    assert figs.mode_label("all") == "frozen (all)"
    assert figs.mode_label("last2") == "top 2 layers (last2)"
    assert figs.mode_label("none") == "full (none)"
    assert figs.mode_label("top3") == "top 3 layers (top3)"
    assert figs.mode_label("mystery") == "mystery"
    assert figs.group_label("minilm, lr=2e-05 / all") == "minilm, lr=2e-05 / frozen (all)"


def test_few_runs_are_points_with_ci_many_are_boxplots(quickstart_report) -> None:
    assert quickstart_report.figures["figure2"].style == "points"  # 3 seeds per mode
    assert quickstart_report.figures["figure1"].style == "boxplot"  # 10 folds per baseline
    assert "mean, 95% CI" in quickstart_report.figures["figure2"].legend


def test_best_baseline_band_and_paper_backbone_on_the_bert_figure(quickstart_report) -> None:
    legend = quickstart_report.figures["figure2"].legend
    assert any(t.startswith("best baseline: ") and t.endswith("(mean, 95% CI)") for t in legend)
    assert "paper (BERT-base cased, not minilm)" in legend
    assert "paper (Table 1)" in quickstart_report.figures["figure1"].legend


def test_baseline_and_bert_figures_share_their_y_axes(quickstart_report) -> None:
    fig1, fig2 = quickstart_report.figures["figure1"], quickstart_report.figures["figure2"]
    assert len(fig1.ylims) == len(fig2.ylims) == 2
    assert fig1.ylims == fig2.ylims


def test_a_reduced_run_says_so_in_its_title(quickstart_report, tmp_path: Path) -> None:
    title = quickstart_report.figures["figure2"].title
    assert "quickstart: a reduced tour, 3 seeds x 2 epochs (the paper: 10 x 3)" in title
    full = fake_runs.make_sweep(tmp_path / "full", seeds=range(10), modes=("all", "none"))
    report = build_report(full, tmp_path / "out", find_baselines=False, n_boot=N_BOOT)
    assert "reduced" not in report.figures["figure2"].title
    assert report.figures["figure2"].style == "boxplot"


def test_report_progress_bar_is_switched_off_by_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = fake_runs.make_sweep(tmp_path / "sweep", seeds=range(2), modes=("all", "none"))
    monkeypatch.delenv("BERTFREEZE_QUIET", raising=False)
    build_report(sweep, tmp_path / "loud", find_baselines=False, n_boot=N_BOOT)
    assert "report: " in capsys.readouterr().err
    monkeypatch.setenv("BERTFREEZE_QUIET", "1")
    build_report(sweep, tmp_path / "quiet", find_baselines=False, n_boot=N_BOOT)
    assert "report: " not in capsys.readouterr().err
