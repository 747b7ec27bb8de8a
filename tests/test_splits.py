"""Splits: disjoint, stratified, deterministic and independent of any training seed."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch

from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.errors import UserError
from bertfreeze.splits import Split, kfold_splits, make_split

CFG = {"split_seed": 42, "test_size": 0.1, "val_size": 0.1, "n_folds": 10, "holdout_ids": None}


@pytest.fixture(scope="module")
def df(make_synthetic) -> pd.DataFrame:
    raw = make_synthetic(1000, seed=1)
    return pd.DataFrame({"id": raw["id"], "text": raw["text"], "label": raw["target"]})


def _rate(df: pd.DataFrame, pos: np.ndarray) -> float:
    return float(df["label"].to_numpy()[pos].mean())


def _assert_same(a: Split, b: Split) -> None:
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))


@pytest.mark.parametrize("fold", [None, 0, 7])
def test_parts_disjoint_and_cover(df, fold):
    s = make_split(df, CFG, fold=fold)
    s.check_disjoint()
    parts = [set(s.train.tolist()), set(s.val.tolist()), set(s.test.tolist())]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(range(len(df)))
    assert s.fold == fold


@pytest.mark.parametrize("fold", [None, 3])
def test_stratified_within_one_point(df, fold):
    s = make_split(df, CFG, fold=fold)
    overall = float(df["label"].mean())
    for part in (s.train, s.val, s.test):
        assert abs(_rate(df, part) - overall) <= 0.01


def test_holdout_sizes(df):
    s = make_split(df, CFG)
    assert len(s.test) == 100
    assert len(s.val) == 90 and len(s.train) == 810


def test_identical_across_calls(df):
    _assert_same(make_split(df, CFG), make_split(df, CFG))
    _assert_same(make_split(df, CFG, fold=4), make_split(df, CFG, fold=4))


def test_independent_of_training_seed(df):
    splits = []
    for seed in (0, 1234):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        np.random.rand(17)  # consume global state too
        splits.append((make_split(df, CFG), make_split(df, CFG, fold=2), kfold_splits(df["label"])))
    (h0, f0, k0), (h1, f1, k1) = splits
    _assert_same(h0, h1)
    _assert_same(f0, f1)
    for (tr0, te0), (tr1, te1) in zip(k0, k1, strict=True):
        np.testing.assert_array_equal(tr0, tr1)
        np.testing.assert_array_equal(te0, te1)


def test_split_seed_changes_the_split(df):
    a = make_split(df, CFG)
    b = make_split(df, {**CFG, "split_seed": 7})
    assert not np.array_equal(a.test, b.test)


def test_validation_carved_from_train_only(df):
    hold = make_split(df, CFG)
    no_val = make_split(df, {**CFG, "val_size": 0})
    # same test part with or without validation; validation comes out of the training part
    np.testing.assert_array_equal(hold.test, no_val.test)
    assert len(no_val.val) == 0
    np.testing.assert_array_equal(np.sort(np.r_[hold.train, hold.val]), no_val.train)
    for k in (0, 9):
        s = make_split(df, CFG, fold=k)
        tr, te = kfold_splits(df["label"].to_numpy(), 10, 42)[k]
        np.testing.assert_array_equal(s.test, np.sort(te))
        np.testing.assert_array_equal(np.sort(np.r_[s.train, s.val]), np.sort(tr))


def test_holdout_ids_synthetic(df, tmp_path):
    wanted = df["id"].iloc[[5, 50, 500, 999]].tolist()
    ids_file = tmp_path / "holdout_ids.csv"
    ids_file.write_text("id\n" + "\n".join([*wanted, wanted[0], " " + wanted[1] + " "]) + "\n")
    s = make_split(df, {**CFG, "holdout_ids": str(ids_file)})
    np.testing.assert_array_equal(s.test, [5, 50, 500, 999])  # duplicates/blanks tolerated
    assert len(s.train) + len(s.val) == len(df) - 4
    s.check_disjoint()


@pytest.mark.realdata
def test_paper_holdout_ids_give_762_test_rows(real_data_path, paper_ref_dir):
    df = load_dataset(DataSpec(path=str(real_data_path)))
    cfg = {**CFG, "holdout_ids": str(paper_ref_dir / "holdout_ids.csv")}
    s = make_split(df, cfg)
    assert len(s.test) == 762
    assert len(s.train) + len(s.val) == len(df) - 762
    s.check_disjoint()


def test_kfold_partitions_the_data(df):
    labels = df["label"].to_numpy()
    folds = kfold_splits(labels, 10, 42)
    assert len(folds) == 10
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(df)))  # each row in exactly one test fold
    for tr, te in folds:
        assert not set(tr.tolist()) & set(te.tolist())
        assert len(tr) + len(te) == len(df)
        assert abs(labels[te].mean() - labels.mean()) <= 0.01
    for i in range(10):
        for j in range(i + 1, 10):
            assert not set(folds[i][1].tolist()) & set(folds[j][1].tolist())


def test_kfold_deterministic_and_shuffled(df):
    labels = df["label"].to_numpy()
    a, b = kfold_splits(labels, 10, 42), kfold_splits(labels, 10, 42)
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(tr_a, tr_b)
        np.testing.assert_array_equal(te_a, te_b)
    # shuffled: the first test fold is not a contiguous block of the (keyword-sorted) file
    assert a[0][1].max() - a[0][1].min() > len(a[0][1])


def test_kfold_bad_arguments(df):
    with pytest.raises(UserError, match="at least 2"):
        kfold_splits(df["label"].to_numpy(), 1)
    with pytest.raises(UserError, match="smallest class"):
        kfold_splits(np.array([0, 1, 0, 1, 0, 1, 0]), 4)
    with pytest.raises(UserError, match="outside 0..9"):
        make_split(df, CFG, fold=10)


def test_bad_sizes(df):
    with pytest.raises(UserError, match="data.test_size"):
        make_split(df, {**CFG, "test_size": 1.5})
    with pytest.raises(UserError, match="data.val_size"):
        make_split(df, {**CFG, "val_size": 1.0})
    tiny = df.iloc[:4].assign(label=[0, 1, 1, 1]).reset_index(drop=True)
    with pytest.raises(UserError, match="cannot carve a stratified"):
        make_split(tiny, {**CFG, "test_size": 0.5})
