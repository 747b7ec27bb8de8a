"""Deterministic splits that never depend on the training seed.

Every BERT seed is scored on the same holdout tweets, and BERT k-fold reuses exactly the
baselines' folds, so comparisons can be paired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from bertfreeze.errors import UserError


@dataclass(frozen=True)
class Split:
    """Row positions of each part; ``fold`` is set for k-fold splits."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    fold: int | None = None

    def check_disjoint(self) -> None:
        """Guard against leakage: no row may be in two parts."""
        parts = [set(self.train.tolist()), set(self.val.tolist()), set(self.test.tolist())]
        if parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]:
            raise AssertionError("split parts overlap")


def kfold_splits(
    labels: np.ndarray, n_folds: int = 10, seed: int = 42
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, shuffled folds (the file is sorted by keyword: never fold it unshuffled)."""
    if n_folds < 2:
        raise UserError(f"data.n_folds={n_folds} must be at least 2")
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    if len(counts) and counts.min() < n_folds:
        raise UserError(
            f"data.n_folds={n_folds} is more than the smallest class has examples "
            f"({int(counts.min())}) — lower data.n_folds or use more data"
        )
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(labels)), labels))


def read_holdout_ids(path: str | Path, ids: pd.Series) -> np.ndarray:
    """Positions of the rows named in a one-column ``id`` CSV (an exact published split)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(
            f"holdout ids file not found: {path} — fix data.holdout_ids or set it to null"
        )
    try:
        wanted = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"holdout ids file {path} is not a one-column CSV with header 'id': {first}"
        ) from err
    if "id" not in wanted.columns:
        raise UserError(
            f"holdout ids file {path} needs a column 'id'; it has {list(wanted.columns)}"
        )
    wanted_ids = wanted["id"].dropna().str.strip()
    wanted_ids = wanted_ids[wanted_ids != ""].drop_duplicates()
    if wanted_ids.empty:
        raise UserError(
            f"holdout ids file {path} lists no ids — fill it or set data.holdout_ids=null"
        )
    pos = pd.Series(np.arange(len(ids)), index=ids.astype(str).values)
    unknown = wanted_ids[~wanted_ids.isin(pos.index)]
    if len(unknown):
        raise UserError(
            f"holdout ids file {path} names {len(unknown)} id(s) not in the data "
            f"(first: {unknown.tolist()[:5]}) — is it for this data file?"
        )
    return np.sort(pos.loc[wanted_ids.values].to_numpy())


def _stratified_split(
    pos: np.ndarray, labels: np.ndarray, size: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``train_test_split`` of positions; too-small data is a user error."""
    try:
        return train_test_split(pos, test_size=size, stratify=labels[pos], random_state=seed)
    except ValueError as err:
        raise UserError(
            f"cannot carve a stratified {what}={size} part from {len(pos)} rows: {err} — "
            f"use more data or change {what}"
        ) from err


def make_split(df: pd.DataFrame, cfg: Mapping[str, Any], fold: int | None = None) -> Split:
    """Train/val/test positions from the ``data`` config.

    ``fold=None``: a stratified holdout (``test_size``) or the rows in ``holdout_ids``.
    ``fold=k``: fold k of ``n_folds`` stratified folds is the test part.
    The validation part is always carved from the training part only.
    """
    labels = df["label"].to_numpy()
    seed = int(cfg.get("split_seed", 42))
    all_pos = np.arange(len(df))
    if fold is not None:
        n_folds = int(cfg.get("n_folds", 10))
        if not 0 <= fold < n_folds:
            raise UserError(f"fold={fold} is outside 0..{n_folds - 1} (data.n_folds={n_folds})")
        train, test = kfold_splits(labels, n_folds, seed)[fold]
    elif cfg.get("holdout_ids"):
        test = read_holdout_ids(cfg["holdout_ids"], df["id"])
        train = np.setdiff1d(all_pos, test)
        if len(train) == 0:
            raise UserError(
                f"holdout ids file {cfg['holdout_ids']} names every row: nothing is left to train on"
            )
    else:
        test_size = float(cfg.get("test_size", 0.1))
        if not 0 < test_size < 1:
            raise UserError(f"data.test_size={test_size} must be between 0 and 1")
        train, test = _stratified_split(all_pos, labels, test_size, seed, "data.test_size")
    val_size = float(cfg.get("val_size", 0.1))
    if not 0 <= val_size < 1:
        raise UserError(f"data.val_size={val_size} must be in [0, 1) (0: no validation part)")
    if val_size > 0:
        train, val = _stratified_split(np.sort(train), labels, val_size, seed, "data.val_size")
    else:
        val = np.array([], dtype=int)
    split = Split(np.sort(train), np.sort(val), np.sort(test), fold)
    split.check_disjoint()
    return split
