"""The README's results block is exactly what results/ generates (no hand-typed numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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
