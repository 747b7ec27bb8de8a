"""notebooks/results.ipynb reads results/ (never a live sweep), skips what is missing, and is
committed with its outputs so its tables and figures show on the repository page."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import fake_runs
import nbformat
import pytest
from nbclient import NotebookClient

from bertfreeze.paths import REPO_ROOT
from bertfreeze.report import build_report

NOTEBOOK = REPO_ROOT / "notebooks" / "results.ipynb"
KERNEL = "bertfreeze-results-test-python"


def _execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: Path | None):
    """Run the notebook with this interpreter as its kernel; returns (notebook, outputs)."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bertfreeze results test kernel",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if results is not None:
        monkeypatch.setenv("BERTFREEZE_RESULTS_DIR", str(results))
    else:
        monkeypatch.delenv("BERTFREEZE_RESULTS_DIR", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    return nb, outputs


def test_results_notebook_reads_every_study_and_skips_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    baselines = fake_runs.make_baselines(tmp_path / "baselines" / "2024-01-01_00-00-00")
    report = build_report(
        fake_runs.make_sweep(tmp_path / "sweep", seeds=range(3)),
        tmp_path / "report",
        baselines,
        n_boot=200,
    )
    (results / "baselines-tweets").mkdir(parents=True)
    shutil.copy(baselines / "folds.csv", results / "baselines-tweets" / "folds.csv")
    (results / "disaster-tweets").mkdir()
    for name in ("runs.csv", "stats.json"):
        shutil.copy(report.out_dir / name, results / "disaster-tweets" / name)
    (results / "selection").mkdir()
    (results / "selection" / "lora_lr.csv").write_text("lr,seed,val_accuracy\n1e-4,0,0.81\n")
    (results / "empty-study").mkdir()

    nb, outputs = _execute(tmp_path, monkeypatch, results)
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "4 studies under" in text and "nothing readable here yet" in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "frozen (all)" in html and "top 2 layers (last2)" in html  # the summary table
    assert "TF-IDF + LR" in html  # the baselines' folds.csv, summarised
    assert "val_accuracy" in html  # another study's CSV, previewed
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 2  # BERT, baselines
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "train.py" not in source and "build_report" not in source  # reads, never runs


def test_committed_notebook_carries_its_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "run `make results-notebook`"
    assert any(c.get("outputs") for c in code)


@pytest.mark.slow
def test_results_notebook_runs_on_the_committed_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI re-executes the notebook on the repository's own results/ and fails if it breaks."""
    _, outputs = _execute(tmp_path, monkeypatch, None)
    assert not [o for o in outputs if o.output_type == "error"]
