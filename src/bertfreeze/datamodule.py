"""LightningDataModule over pre-tokenised rows (or cached frozen-prefix outputs).

Batches are padded dynamically; training batches come from a length-bucketed sampler
(shuffled pools sorted by length, batches shuffled again, so the order still changes with the
seed and the epoch) and inference batches are length-sorted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from bertfreeze.batch import INPUT_KINDS, Batch
from bertfreeze.feature_cache import Ragged, pad_batch
from bertfreeze.splits import Split


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of row positions with similar lengths.

    ``shuffle=True``: shuffle, cut into pools of ``batch_size * pool_factor``, sort each pool by
    length, batch, shuffle the batches — random across epochs/seeds, little padding.
    ``shuffle=False``: all rows sorted by length (inference). ``bucket=False`` gives plain
    random batches (the paper's/HF's behaviour, for benchmarks). Under DDP each rank takes
    every world-th batch (padded by repetition so all ranks see the same count).
    """

    def __init__(
        self,
        indices: np.ndarray,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int,
        bucket: bool = True,
        pool_factor: int = 50,
    ) -> None:
        self.indices = np.asarray(indices)
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket = bucket
        self.pool = batch_size * pool_factor
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[np.ndarray]:
        idx = self.indices
        bs = self.batch_size
        if not self.shuffle:
            order = idx[np.argsort(self.lengths[idx], kind="stable")] if self.bucket else idx
            return [order[i : i + bs] for i in range(0, len(order), bs)]
        rng = np.random.default_rng([self.seed, self.epoch])
        perm = rng.permutation(idx)
        if not self.bucket:
            return [perm[i : i + bs] for i in range(0, len(perm), bs)]
        batches = []
        for p in range(0, len(perm), self.pool):
            pool = perm[p : p + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(pool[i : i + bs] for i in range(0, len(pool), bs))
        rng.shuffle(batches)
        return batches

    def _rank_share(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return batches
        world, rank = dist.get_world_size(), dist.get_rank()
        if not self.shuffle:  # evaluation: split batches rather than repeat rows (exact metrics)
            batches = _split_to_multiple(batches, world)
        per_rank = -(-len(batches) // world)
        padded = batches + batches[: per_rank * world - len(batches)]
        return padded[rank::world]

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._rank_share(self._batches()):
            yield b.tolist()

    def __len__(self) -> int:
        n = -(-len(self.indices) // self.batch_size)
        if dist.is_available() and dist.is_initialized():
            n = -(-n // dist.get_world_size())
        return n


def _split_to_multiple(batches: list[np.ndarray], world: int) -> list[np.ndarray]:
    """Halve the largest batches until every rank gets the same count and no row repeats."""
    batches = list(batches)
    while len(batches) % world and any(len(b) > 1 for b in batches):
        i = max(range(len(batches)), key=lambda j: len(batches[j]))
        half = (len(batches[i]) + 1) // 2
        batches[i : i + 1] = [batches[i][:half], batches[i][half:]]
    return batches


@dataclass
class RowInputs:
    """What a batch is built from: token ids, cached hidden states, or pooled features."""

    kind: str  # tokens | hidden | features (bertfreeze.batch.InputKind)
    tokens: Ragged  # always present: lengths drive bucketing
    hidden: Ragged | None = None
    features: np.ndarray | None = None
    pad_id: int = 0
    pad_to: int | None = None  # fixed padding (the paper's / a benchmark's baseline)


class Collate:
    """Turn a list of row positions into a typed :class:`~bertfreeze.batch.Batch` (picklable).

    ``labels`` may be None (prediction on unlabelled text)."""

    def __init__(self, inputs: RowInputs, labels: np.ndarray | None) -> None:
        if inputs.kind not in INPUT_KINDS:
            raise ValueError(f"RowInputs.kind={inputs.kind!r} is not one of {INPUT_KINDS}")
        self.inputs = inputs
        self.labels = labels

    def __call__(self, rows: list[int]) -> Batch:
        inp = self.inputs
        idx = torch.as_tensor(rows, dtype=torch.long)
        labels = (
            None if self.labels is None else torch.as_tensor(self.labels[rows], dtype=torch.long)
        )
        if inp.kind == "features":
            assert inp.features is not None
            feats = torch.from_numpy(np.asarray(inp.features[rows], dtype=np.float32))
            return Batch("features", idx, labels, features=feats)
        if inp.kind == "hidden":
            assert inp.hidden is not None
            hidden, mask = pad_batch([inp.hidden[i] for i in rows], 0.0)
            return Batch("hidden", idx, labels, hidden=hidden.float(), attention_mask=mask)
        ids, mask = pad_batch([inp.tokens[i] for i in rows], inp.pad_id, to=inp.pad_to)
        return Batch("tokens", idx, labels, input_ids=ids.long(), attention_mask=mask)


class TextDataModule(L.LightningDataModule):
    """Train/val/test loaders over one fixed :class:`~bertfreeze.splits.Split`."""

    def __init__(
        self,
        inputs: RowInputs,
        labels: np.ndarray,
        split: Split,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        seed: int = 0,
        bucket: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.labels = np.asarray(labels)
        self.split = split
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.bucket = bucket
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.collate = Collate(inputs, self.labels)

    def _loader(self, part: np.ndarray, train: bool) -> DataLoader:
        sampler = BucketBatchSampler(
            part,
            self.inputs.tokens.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            bucket=self.bucket,
        )
        return DataLoader(
            list(range(len(self.labels))),
            batch_sampler=sampler,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split.train, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.split.val, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split.test, train=False)

    def predict_dataloader(self) -> DataLoader:
        """Every row of the test part (prediction: the whole input file), length-sorted."""
        return self._loader(self.split.test, train=False)

    @classmethod
    def for_prediction(cls, inputs: RowInputs, batch_size: int) -> TextDataModule:
        """A DataModule whose test/predict part is every row (unlabelled text)."""
        n = len(inputs.tokens)
        empty = np.empty(0, dtype=np.int64)
        dm = cls(
            inputs,
            np.zeros(n, dtype=np.int64),
            Split(empty, empty, np.arange(n)),
            eval_batch_size=batch_size,
        )
        dm.collate = Collate(inputs, None)
        return dm
