"""The run schema: one metric registry read by BERT runs, baselines, predict and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fake_runs import make_baselines, make_sweep

from bertfreeze import baselines, schema
from bertfreeze.lit_module import classification_metrics
from bertfreeze.predict import SELECT_METRICS
from bertfreeze.report.collect import TEST_METRICS, collect_runs, load_baselines
from bertfreeze.report.compare import compare_all


def test_every_registry_metric_reaches_every_reader() -> None:
    """Adding a Metric entry is enough: the module, baselines, predict and report all see it."""
    scored = [n for n, m in schema.METRICS.items() if m.torchmetric]
    assert sorted(k.removeprefix("val/") for k in classification_metrics("val/")) == sorted(scored)
    y = np.array([0, 1, 1, 0, 1])
    row = baselines.score_fold(y, np.array([0, 1, 0, 0, 1]), np.array([0.1, 0.9, 0.4, 0.2, 0.8]))
    assert set(row) == {n for n, m in schema.METRICS.items() if m.sklearn}
    assert set(SELECT_METRICS) == set(schema.METRICS) == set(TEST_METRICS)
    assert SELECT_METRICS["loss"] is False and SELECT_METRICS["auroc"] is True


def test_baselines_and_bert_share_metric_names() -> None:
    bert = {n for n, m in schema.METRICS.items() if m.torchmetric}
    assert set(baselines.METRICS) <= bert | {"loss"}
    assert "auroc" in baselines.METRICS and "roc_auc" not in baselines.METRICS


def test_auroc_gets_a_bert_vs_baseline_test_even_from_old_roc_auc_files(tmp_path: Path) -> None:
    """metrics=[auroc] used to yield no BERT-vs-baseline test: the baselines said roc_auc."""
    sweep = make_sweep(tmp_path / "sweep", modes=("all", "none"), seeds=range(3))
    base = load_baselines(make_baselines(tmp_path / "base"))  # an old folds.csv: roc_auc
    assert "auroc" in base.folds.columns
    runs, _ = collect_runs(sweep)
    recs = compare_all(runs, base, metrics=["auroc"], n_boot=50)
    assert any(r["kind"] == "vs_baseline" for r in recs if r["metric"] == "auroc"), recs


def test_run_record_reads_old_metric_names(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(
        json.dumps({"status": "completed", "test": {"roc_auc": 0.9, "accuracy": 0.8}, "val": {}})
    )
    record = schema.RunRecord.read(tmp_path)
    assert record is not None and record.test == {"auroc": 0.9, "accuracy": 0.8}
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "failed"}))
    assert schema.RunRecord.read(tmp_path) is None
