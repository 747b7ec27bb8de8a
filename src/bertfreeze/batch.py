"""The input contract between the cache, the DataModule and the LightningModule.

A batch is one typed :class:`Batch` whose ``kind`` says where the model starts:

- ``tokens``: token ids -> the full pass (embeddings, every layer, pooling, head);
- ``hidden``: cached hidden states entering encoder layer ``start_layer`` (a frozen bottom);
- ``features``: cached pooled features -> straight to the head (everything below is frozen).

The cache decides the kind (:func:`bertfreeze.train_task.build_inputs` -> ``RowInputs.kind``),
:class:`~bertfreeze.datamodule.Collate` builds the batch, and
:meth:`~bertfreeze.lit_module.ClassifierModule.forward` dispatches on ``kind`` — nobody guesses
from which keys happen to be present.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

InputKind = Literal["tokens", "hidden", "features"]
INPUT_KINDS: tuple[str, ...] = ("tokens", "hidden", "features")
#: the tensors each kind must carry
REQUIRED: dict[str, tuple[str, ...]] = {
    "tokens": ("input_ids", "attention_mask"),
    "hidden": ("hidden", "attention_mask"),
    "features": ("features",),
}


@dataclass
class Batch:
    """One model batch. ``idx``: row positions in the dataset; ``labels`` may be None (predict).

    Read-only mapping access (``batch["labels"]``) is kept for code written against the
    dict batches of earlier versions.
    """

    kind: str
    idx: torch.Tensor
    labels: torch.Tensor | None = None
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    features: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"batch kind {self.kind!r} is not one of {INPUT_KINDS}")
        absent = [name for name in REQUIRED[self.kind] if getattr(self, name) is None]
        if absent:
            raise ValueError(f"a {self.kind!r} batch needs {absent}")

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, key: str) -> torch.Tensor:
        value = getattr(self, key, None) if key != "kind" else None
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key != "kind" and getattr(self, key, None) is not None

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True)."""
        pinned = {
            f.name: getattr(self, f.name).pin_memory()
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **pinned)

    @classmethod
    def from_mapping(cls, batch: Mapping[str, Any]) -> Batch:
        """A dict batch of earlier versions (tests, benchmarks); its kind from its tensors."""
        kind = batch.get("kind") or (
            "features" if "features" in batch else "hidden" if "hidden" in batch else "tokens"
        )
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in batch.items() if k in fields and k != "kind"}
        if "idx" not in values:
            n = len(next(v for v in values.values() if isinstance(v, torch.Tensor)))
            values["idx"] = torch.arange(n)
        return cls(kind=str(kind), **values)


def as_batch(batch: Batch | Mapping[str, Any]) -> Batch:
    return batch if isinstance(batch, Batch) else Batch.from_mapping(batch)
