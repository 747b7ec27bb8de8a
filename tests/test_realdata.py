"""End to end on real data with the embedded MiniLM (slow; CI runs them with `make test-all`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_bert import run_cli

from bertfreeze.paths import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_frozen_minilm_reaches_080_on_the_holdout(tmp_path: Path, real_data_path: Path) -> None:
    """Issue acceptance: the full recipe (3 epochs, 10% holdout) with a frozen MiniLM >= 0.80."""
    run_dir = tmp_path / "run"
    res = run_cli(
        ["train.py", "freeze=all", f"data.path={real_data_path}", f"hydra.run.dir={run_dir}"],
        REPO_ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["backbone"] == "minilm" and m["freeze"] == "all" and m["cache"] is True
    assert m["data"]["n_test"] == 762
    assert m["test"]["accuracy"] >= 0.80, m["test"]


def test_generic_csv_path_on_sms_spam(tmp_path: Path, sms_data_path: Path) -> None:
    """data=csv-style config on a second real dataset: baselines and a frozen MiniLM run."""
    base = tmp_path / "baselines"
    res = run_cli(
        [
            "-m",
            "bertfreeze.cli.baselines",
            "data=sms_spam",
            f"data.path={sms_data_path}",
            f"hydra.run.dir={base}",
        ],
        REPO_ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((base / "summary.json").read_text())
    assert summary["tfidf"]["accuracy_mean"] > 0.9

    run_dir = tmp_path / "run"
    args = [
        "train.py",
        "data=sms_spam",
        f"data.path={sms_data_path}",
        "freeze=all",
        "data.max_length=64",
        "cache.bf16=true",
        f"hydra.run.dir={run_dir}",
    ]
    res = run_cli(args, REPO_ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["data"]["name"] == "sms_spam" and m["data"]["n_rows"] == 5572
    assert m["test"]["accuracy"] > 0.9 and m["test"]["f1"] > 0.6


def test_paper_preset_uses_the_papers_exact_split(
    tiny_bert: Path, tmp_path: Path, real_data_path: Path, paper_ref_dir: Path
) -> None:
    """experiment=paper: softmax head on the pooler, the paper's 762 holdout tweets."""
    run_dir = tmp_path / "run"
    args = [
        "train.py",
        "experiment=paper",
        "freeze=last2",
        f"model.pretrained={tiny_bert}",
        f"data.path={real_data_path}",
        f"data.holdout_ids={paper_ref_dir / 'holdout_ids.csv'}",
        "data.max_length=32",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run_dir}",
    ]
    res = run_cli(args, REPO_ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["data"]["n_test"] == 762 and m["data"]["split"] == "holdout_ids"
    assert m["head"] == "softmax2" and m["pooling"] == "pooler" and m["experiment"] == "paper"
    assert m["pooler_trainable"] is False and m["trainable_layers"] == [2, 3]
    assert m["weight_decay"] == 0.01 and m["head_lr"] == m["lr"] == 5e-5
    import pandas as pd

    ids = set(pd.read_csv(run_dir / "predictions.csv")["id"].astype(str))
    assert ids == set(pd.read_csv(paper_ref_dir / "holdout_ids.csv")["id"].astype(str))
