"""Sparse baselines: CLI outputs, no leakage across folds, paper preprocessing, real-data ranges."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from bertfreeze.baselines import (
    FOLD_COLUMNS,
    atomic_write_text,
    make_pipeline,
    run_baselines,
    summarize,
    validate_cfg,
)
from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.errors import UserError
from bertfreeze.splits import kfold_splits, make_split
from bertfreeze.text import (
    CachedAnalyzer,
    clear_token_cache,
    paper_preprocess,
    paper_preprocess_lower,
)

SUMMARY_KEYS = {
    "accuracy_mean",
    "accuracy_std",
    "f1_mean",
    "f1_std",
    "precision_mean",
    "recall_mean",
    "auroc_mean",
    "n_folds",
}
FEATURES = ["tfidf", "count", "hashing"]


@pytest.fixture(scope="module")
def small_df(make_synthetic) -> pd.DataFrame:
    raw = make_synthetic(300, seed=0)
    return pd.DataFrame({"id": raw["id"], "text": raw["text"], "label": raw["target"]})


# --- text preprocessing ----------------------------------------------------------------------------


def test_paper_preprocess():
    out = paper_preprocess("The Floods are RUNNING, don't you think?! #Wildfires http://t.co/x1")
    tokens = out.split()
    assert (
        "The" not in tokens and "are" not in tokens and "you" not in tokens
    )  # stop words, any case
    assert "Flood" in tokens and "RUN" in tokens  # stemmed, case kept (ALL CAPS too)
    assert "dont" in tokens and "think" in tokens  # punctuation removed, not split on
    assert "Wildfir" in tokens and "httptcox1" in tokens
    assert not any(ch in out for ch in "?!#,'")
    assert paper_preprocess("") == "" and paper_preprocess("the and of") == ""
    assert paper_preprocess("  multiple   spaces\nnewline ") == "multipl space newlin"
    assert paper_preprocess("Running RUNNING running", lowercase=True) == "run run run"
    assert paper_preprocess_lower("The Floods") == "flood"


# --- the pipelines ---------------------------------------------------------------------------------


def test_make_pipeline_options():
    tfidf = make_pipeline("tfidf", {"preprocess": "paper"})
    vec = tfidf.named_steps["vec"]
    assert vec.min_df == 10 and vec.analyzer == CachedAnalyzer("paper")
    assert make_pipeline("count", {"preprocess": "paper"}).named_steps["vec"].min_df == 1
    lower = make_pipeline("count", {"preprocess": "paper", "paper_lowercase": True})
    assert lower.named_steps["vec"].analyzer == CachedAnalyzer("paper_lower")
    stock = make_pipeline("tfidf", {"preprocess": "paper", "token_cache": False})
    assert stock.named_steps["vec"].preprocessor is paper_preprocess
    assert stock.named_steps["vec"].lowercase is False
    assert make_pipeline("tfidf", {"token_cache": False}).named_steps["vec"].analyzer == "word"
    assert make_pipeline("tfidf").named_steps["vec"].min_df == 1
    assert make_pipeline("tfidf", {"min_df": 3}).named_steps["vec"].min_df == 3
    assert make_pipeline("hashing").named_steps["vec"].n_features == 2**20
    clf = make_pipeline("count", {"C": 0.5}).named_steps["clf"]
    assert clf.C == 0.5 and clf.random_state == 0 and clf.max_iter >= 1000
    assert clf.solver == "liblinear" and clf.dual is True
    assert make_pipeline("count", {"solver": "lbfgs"}).named_steps["clf"].dual is False


def test_cached_analyzer_matches_stock_tokens(small_df):
    clear_token_cache()
    for text in [*small_df["text"].head(50), "Ünïcode wörds & café", "a I x2 don't", ""]:
        assert list(CachedAnalyzer("word")(text)) == CountVectorizer().build_analyzer()(text)
        assert list(CachedAnalyzer("paper")(text)) == paper_preprocess(text).split()
        assert CachedAnalyzer("word")(text) is CachedAnalyzer("word")(text)  # memoised
    assert pickle.loads(pickle.dumps(CachedAnalyzer("paper"))) == CachedAnalyzer("paper")
    with pytest.raises(ValueError, match="unknown analyzer mode"):
        CachedAnalyzer("char")


@pytest.mark.parametrize("preprocess", ["none", "paper"])
def test_token_cache_changes_nothing(small_df, preprocess):
    cfg = {"preprocess": preprocess, "min_df": 2, "n_jobs": 1, "data": {"n_folds": 3}}
    cached = run_baselines(small_df, cfg)
    stock = run_baselines(small_df, {**cfg, "token_cache": False})
    pd.testing.assert_frame_equal(cached, stock)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"features": ["tfidf", "bert"]}, "unknown"),
        ({"features": []}, "unknown or empty"),
        ({"features": ["count", "count"]}, "twice"),
        ({"preprocess": "lemma"}, "preprocess"),
        ({"C": 0}, "C=0"),
        ({"C": "big"}, "C='big' is invalid"),
        ({"max_iter": 0}, "max_iter"),
        ({"n_features": 1.5e9}, None),
        ({"min_df": 0}, "min_df"),
        ({"min_df": 1.5}, "min_df"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"solver": "saga"}, "solver"),
    ],
)
def test_validate_cfg(cfg, match):
    if match is None:
        validate_cfg(cfg)  # accepted
        return
    with pytest.raises(UserError, match=match):
        validate_cfg(cfg)


def test_single_feature_name_accepted(small_df):
    folds = run_baselines(small_df, {"features": "count", "n_jobs": 1, "data": {"n_folds": 3}})
    assert folds["features"].unique().tolist() == ["count"]


def test_run_baselines_in_process(small_df):
    cfg = {"n_jobs": 1, "data": {"split_seed": 42, "n_folds": 5}}
    folds = run_baselines(small_df, cfg)
    assert list(folds.columns) == FOLD_COLUMNS
    assert folds["features"].tolist() == [f for f in FEATURES for _ in range(5)]
    assert folds["fold"].tolist() == list(range(5)) * 3
    assert folds["accuracy"].between(0, 1).all() and folds["auroc"].between(0, 1).all()
    assert folds["accuracy"].mean() > 0.75
    summary = summarize(folds)
    assert list(summary) == FEATURES
    for entry in summary.values():
        assert set(entry) >= SUMMARY_KEYS and entry["n_folds"] == 5
    tfidf = folds[folds["features"] == "tfidf"]["accuracy"]
    assert summary["tfidf"]["accuracy_std"] == pytest.approx(tfidf.std(ddof=1))


def test_parallel_equals_sequential(small_df):
    cfg = {"features": ["tfidf", "hashing"], "data": {"n_folds": 4}}
    seq = run_baselines(small_df, {**cfg, "n_jobs": 1})
    par = run_baselines(small_df, {**cfg, "n_jobs": 2})
    pd.testing.assert_frame_equal(seq, par)


def test_paper_preprocess_runs(small_df):
    folds = run_baselines(
        small_df, {"preprocess": "paper", "n_jobs": 1, "min_df": 2, "data": {"n_folds": 3}}
    )
    assert len(folds) == 9 and folds["accuracy"].mean() > 0.75


def test_vectorizer_fitted_on_training_part_only(small_df):
    """A token that occurs only in a test fold never reaches that fold's fitted vocabulary."""
    df = small_df.copy()
    df["text"] = [f"{t} uniqtok{i:04d}" for i, t in enumerate(df["text"])]  # one token per row
    cfg = {"features": ["tfidf", "count"], "n_jobs": 1, "data": {"split_seed": 42, "n_folds": 5}}
    _, models = run_baselines(df, cfg, return_models=True)
    folds = kfold_splits(df["label"].to_numpy(), 5, 42)
    seen = []
    for features in ("tfidf", "count"):
        for k, (train, test) in enumerate(folds):
            vocab = set(models[(features, k)].named_steps["vec"].vocabulary_)
            assert {f"uniqtok{i:04d}" for i in test}.isdisjoint(vocab)
            assert {f"uniqtok{i:04d}" for i in train} <= vocab
            # fold k here is fold k of make_split (the folds BERT cv=true runs use)
            s = make_split(df, {"split_seed": 42, "n_folds": 5}, fold=k)
            part = np.r_[s.train, s.val]
            expected = CountVectorizer().fit(df["text"].to_numpy()[part]).vocabulary_
            assert vocab == set(expected)
            seen.append(frozenset(vocab))
    assert len(set(seen)) > 1  # a fresh vectorizer per fold, not one shared fit


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# --- the CLI ---------------------------------------------------------------------------------------


def _check_run_dir(run_dir: Path, n_folds: int) -> dict:
    folds = pd.read_csv(run_dir / "folds.csv")
    assert list(folds.columns) == FOLD_COLUMNS
    assert folds["features"].tolist() == [f for f in FEATURES for _ in range(n_folds)]
    assert folds["fold"].tolist() == list(range(n_folds)) * 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert list(summary) == FEATURES  # feature sets only: run metadata lives in meta.json
    for entry in summary.values():
        assert set(entry) >= SUMMARY_KEYS and entry["n_folds"] == n_folds
        assert entry["accuracy_mean"] > 0.75  # chance is ~0.57
    meta = json.loads((run_dir / "meta.json").read_text())
    for key in ("data", "preprocess", "n_folds", "split_seed", "wall_time_s", "versions"):
        assert key in meta
    assert len(meta["data"]["sha256"]) == 64 and meta["n_folds"] == n_folds
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    return meta


def test_cli_runs_all_pipelines(tmp_path, synthetic_csv, run_cli):
    run_dir = tmp_path / "out" / "run"
    proc = run_cli(
        "bertfreeze.cli.baselines",
        f"data.path='{synthetic_csv}'",
        f"hydra.run.dir='{run_dir}'",
        "n_jobs=1",  # the parallel path is covered in-process (worker start-up is slow)
    )
    assert proc.returncode == 0, proc.stderr
    stdout = proc.stdout.strip().splitlines()
    assert stdout[-1] == str(run_dir)
    assert any(line.startswith("tfidf") and "0.795" in line for line in stdout)  # paper column
    meta = _check_run_dir(run_dir, 10)
    assert meta["preprocess"] == "none" and meta["data"]["n_rows"] == 300
    assert "Traceback" not in proc.stderr


def test_cli_paper_preprocess_and_folds(tmp_path, synthetic_csv, run_cli):
    run_dir = tmp_path / "run"
    proc = run_cli(
        "bertfreeze.cli.baselines",
        f"data.path='{synthetic_csv}'",
        f"hydra.run.dir='{run_dir}'",
        "preprocess=paper",
        "min_df=2",
        "data.n_folds=5",
        "n_jobs=1",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(run_dir)
    meta = _check_run_dir(run_dir, 5)
    assert meta["preprocess"] == "paper"


def test_cli_bad_option_exits_2_and_leaves_nothing(tmp_path, synthetic_csv, run_cli):
    run_dir = tmp_path / "run"
    proc = run_cli(
        "bertfreeze.cli.baselines",
        f"data.path='{synthetic_csv}'",
        f"hydra.run.dir='{run_dir}'",
        "features=[tfidf,bert]",
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "choose from" in proc.stderr
    assert not run_dir.exists()


# --- acceptance on the real tweets ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.realdata
def test_real_tweets_acceptance(real_data_path):
    df = load_dataset(DataSpec(path=str(real_data_path)))
    folds = run_baselines(df, {"data": {"split_seed": 42, "n_folds": 10}})
    summary = summarize(folds)
    assert list(summary) == FEATURES
    for features, entry in summary.items():
        assert entry["n_folds"] == 10
        assert 0.785 <= entry["accuracy_mean"] <= 0.815, (features, entry)
        assert 0.725 <= entry["f1_mean"] <= 0.775, (features, entry)
