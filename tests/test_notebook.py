"""notebooks/report.ipynb runs top to bottom on a small generated sweep.

The kernel is this interpreter (a kernel spec written to a temporary JUPYTER_PATH), so the
test works on a fresh machine after `pip install -e '.[dev]'` without `ipykernel install`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from bertfreeze.paths import REPO_ROOT

try:
    from tests import fake_runs
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import fake_runs

NOTEBOOK = REPO_ROOT / "notebooks" / "report.ipynb"
KERNEL = "bertfreeze-test-python"


def test_report_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = fake_runs.make_standard_sweep(tmp_path / "sweep")
    base = fake_runs.make_baselines(tmp_path / "baselines" / "2024-01-01_00-00-00")
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bertfreeze test kernel",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # relative to the repository root, while the kernel runs in tmp_path: the notebook must
    # resolve paths from the root, not from its working directory
    monkeypatch.setenv("BERTFREEZE_SWEEP_DIR", os.path.relpath(sweep, REPO_ROOT))
    monkeypatch.setenv("BERTFREEZE_BASELINES_DIR", os.path.relpath(base, REPO_ROOT))
    monkeypatch.setenv("BERTFREEZE_REPORT_DIR", str(tmp_path / "report"))
    monkeypatch.setenv("BERTFREEZE_N_BOOT", "300")
    monkeypatch.setenv("MPLBACKEND", "Agg")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=180, kernel_name=KERNEL, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # Figure 1 and Figure 2
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "9 runs in 3 groups" in text and f"sweep: {sweep} | baselines: {base}" in text
    assert any(
        "Table 1" in str(o.get("data", {})) or "TF-IDF" in str(o.get("data", {})) for o in outputs
    )  # the baselines were found
    assert (tmp_path / "report" / "report.md").is_file()
    # the notebook goes through the package API only
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from bertfreeze.report import build_report" in source
    assert "ttest" not in source and 'groupby("freeze")' not in source
