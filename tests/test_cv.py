"""cv=true: BERT runs on exactly the baselines' folds, so comparisons are paired per fold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from tiny_bert import run_cli, tiny_overrides

from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.paths import REPO_ROOT
from bertfreeze.splits import kfold_splits


def test_cv_runs_use_the_baselines_folds(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "cv"
    args = [
        "train.py",
        "-m",
        "experiment=cv",
        "fold=0,2",
        "data.n_folds=4",
        "freeze=all",
        *tiny_overrides(tiny_bert, tiny_data),
        f"hydra.sweep.dir={sweep}",
    ]
    res = run_cli(args, REPO_ROOT, {"BERTFREEZE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    df = load_dataset(DataSpec(path=str(tiny_data)))
    folds = kfold_splits(df["label"].to_numpy(), 4, 42)
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    assert sorted(m["fold"] for m in runs) == [0, 2]
    for m in runs:
        assert m["data"]["split"] == "fold" and m["experiment"] == "cv"
        pred_ids = sorted(pd.read_csv(Path(m["run_dir"]) / "predictions.csv")["id"].astype(str))
        assert pred_ids == sorted(df["id"].to_numpy()[folds[m["fold"]][1]].astype(str))


def test_cv_without_fold_is_a_clear_error(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    res = run_cli(
        [
            "train.py",
            "cv=true",
            *tiny_overrides(tiny_bert, tiny_data),
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        REPO_ROOT,
    )
    assert (
        res.returncode == 2 and "one job per fold" in res.stderr and "Traceback" not in res.stderr
    )
