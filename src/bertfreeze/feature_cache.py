"""On-disk caches: token ids once per dataset, and the frozen prefix's output once per backbone.

A frozen prefix (embeddings + bottom ``k`` layers, run in eval mode) gives the same output
every epoch and every seed, so it is computed once and the trainable top is trained on it.
Entries are keyed by everything that changes them (tokenizer, max_length, the exact input
texts, the frozen weights, ``k``, pooling, dtype) and published by an atomic directory rename,
so concurrent sweep jobs never see a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bertfreeze.hashing import digest
from bertfreeze.model import TextClassifier
from bertfreeze.paths import cache_dir
from bertfreeze.settings import settings

log = logging.getLogger(__name__)


def quiet() -> bool:
    """Default for callers that pass no ``quiet`` (the environment's setting)."""
    return settings().quiet


@dataclass(frozen=True)
class Ragged:
    """Variable-length rows stored flat: row ``i`` is ``values[offsets[i]:offsets[i+1]]``."""

    values: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_rows(cls, rows: Sequence[np.ndarray], dtype: Any) -> Ragged:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(r) for r in rows])
        values = np.concatenate(rows).astype(dtype) if rows else np.zeros(0, dtype=dtype)
        return cls(values, offsets)


def texts_digest(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def tokenizer_digest(tokenizer: Any) -> str:
    """Hash of the vocabulary and pipeline (not of call-time truncation/padding state)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return hashlib.sha256(
            json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()
        ).hexdigest()
    spec = json.loads(backend.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def weights_digest(modules: Iterable[torch.nn.Module]) -> str:
    """Hash of the parameters and buffers of the given modules (the frozen part's identity)."""
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_arrays(
    kind: str,
    key: str,
    compute: Callable[[], dict[str, np.ndarray]],
    meta: dict[str, Any] | None = None,
    root: Path | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """Load ``root/kind/key`` or compute and publish it atomically. Returns (arrays, hit)."""
    base = (root or cache_dir()) / kind
    final = base / key
    if (final / "meta.json").is_file():
        names = json.loads((final / "meta.json").read_text())["arrays"]
        return {n: np.load(final / f"{n}.npy", mmap_mode="r") for n in names}, True
    arrays = compute()
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=base))
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        info = {"arrays": sorted(arrays), "key": key, **(meta or {})}
        (tmp / "meta.json").write_text(json.dumps(info, indent=1, default=str))
        try:
            os.rename(tmp, final)  # atomic; fails if another job published first
        except OSError:
            log.info("cache entry %s was published by another job; using it", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {n: np.load(final / f"{n}.npy", mmap_mode="r") for n in sorted(arrays)}, False


def tokenize(
    texts: Sequence[str], tokenizer: Any, max_length: int, use_cache: bool = True
) -> Ragged:
    """Token ids of every text (truncated to ``max_length``), computed once per dataset."""

    def compute() -> dict[str, np.ndarray]:
        enc = tokenizer(
            list(texts), truncation=True, max_length=max_length, padding=False, verbose=False
        )["input_ids"]
        rows = [np.asarray(r, dtype=np.int32) for r in enc]
        r = Ragged.from_rows(rows, np.int32)
        return {"values": r.values, "offsets": r.offsets}

    if not use_cache:
        arrays = compute()
    else:
        key = digest("tokens", tokenizer_digest(tokenizer), max_length, texts_digest(texts))
        arrays, _ = cached_arrays(
            "tokens", key, compute, {"max_length": max_length, "n": len(texts)}
        )
    return Ragged(arrays["values"], arrays["offsets"])


def pad_batch(rows: Sequence[np.ndarray], pad_value: float | int = 0, to: int | None = None):
    """Stack variable-length rows into a padded tensor and its attention mask."""
    width = to or max(len(r) for r in rows)
    first = np.asarray(rows[0])
    out = np.full((len(rows), width, *first.shape[1:]), pad_value, dtype=first.dtype)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return torch.from_numpy(out), torch.from_numpy(mask)


@dataclass(frozen=True)
class PrefixPlan:
    """Where the trainable part starts: ``start == n_layers`` means pooled features."""

    start: int
    features: bool


def _between_encoder_and_head_trains(model: TextClassifier) -> bool:
    """A trainable module outside the encoder and the head (e.g. a learned pooling) must see
    hidden states: pooled features would freeze it silently."""
    return any(
        p.requires_grad
        for name, p in model.named_parameters()
        if not name.startswith(("encoder.", "head."))
    )


def plan_prefix(
    model: TextClassifier, frozen_prefix: int | None, pooler_trains: bool
) -> PrefixPlan | None:
    """Decide what can be cached, or None when nothing useful is frozen."""
    if frozen_prefix is None or frozen_prefix == 0:
        return None
    n = model.n_layers
    if frozen_prefix == n and not pooler_trains and not _between_encoder_and_head_trains(model):
        return PrefixPlan(n, features=True)
    if model.pooling == "concat_last4" and n - frozen_prefix < 3:
        log.info("concat_last4 needs frozen layer outputs: frozen-prefix cache disabled")
        return None
    return PrefixPlan(frozen_prefix, features=False)


@torch.inference_mode()
def compute_prefix(
    model: TextClassifier,
    tokens: Ragged,
    plan: PrefixPlan,
    pad_id: int,
    batch_size: int = 128,
    dtype: str = "float16",
    autocast_bf16: bool = False,
    device: str | torch.device = "cpu",
    quiet_bar: bool | None = None,
) -> dict[str, np.ndarray]:
    """Run the frozen part once (eval mode, length-sorted batches) over every row."""
    was_training = model.training
    model.eval().to(device)
    np_dtype = np.dtype(dtype)
    order = np.argsort(tokens.lengths, kind="stable")
    n = len(tokens)
    feats = np.zeros((n, model.feature_dim), dtype=np_dtype) if plan.features else None
    rows: list[np.ndarray | None] = [None] * n
    dev = torch.device(device)
    ctx = torch.autocast(dev.type, dtype=torch.bfloat16) if autocast_bf16 else nullcontext()
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    for idx in tqdm(
        batches,
        desc=f"frozen prefix (layers < {plan.start})",
        disable=quiet() if quiet_bar is None else quiet_bar,
    ):
        ids, mask = pad_batch([tokens[i] for i in idx], pad_id)
        ids, mask = ids.long().to(dev), mask.to(dev)
        with ctx:
            hidden = model.embed(ids)
            if plan.features:
                out = model.features_from_hidden(hidden, mask, 0)
                feats[idx] = out.float().cpu().numpy().astype(np_dtype)
                continue
            if plan.start > 0:
                hidden = model.run_layers(hidden, mask, 0, plan.start)[-1]
        hidden = hidden.float().cpu().numpy()
        for j, i in enumerate(idx):
            rows[i] = hidden[j, : len(tokens[i])].astype(np_dtype)
    model.train(was_training)
    if plan.features:
        return {"features": feats}
    r = Ragged.from_rows(rows, np_dtype)  # type: ignore[arg-type]
    return {"values": r.values, "offsets": r.offsets}


def frozen_prefix_arrays(
    model: TextClassifier,
    tokenizer: Any,
    tokens: Ragged,
    texts_hash: str,
    max_length: int,
    plan: PrefixPlan,
    dtype: str = "float16",
    autocast_bf16: bool = False,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    quiet_bar: bool | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """The cached frozen-prefix output for this (backbone, tokenizer, data, depth, pooling)."""
    enc = model.encoder
    frozen: list[torch.nn.Module] = [enc.embeddings, *enc.encoder.layer[: plan.start]]
    if plan.features and model.pooling == "pooler":
        frozen.append(enc.pooler)
    key = digest(
        "prefix",
        weights_digest(frozen),
        tokenizer_digest(tokenizer),
        max_length,
        texts_hash,
        plan.start,
        plan.features,
        model.pooling if plan.features else None,
        dtype,
        autocast_bf16,
    )

    def compute() -> dict[str, np.ndarray]:
        return compute_prefix(
            model,
            tokens,
            plan,
            tokenizer.pad_token_id or 0,
            batch_size,
            dtype,
            autocast_bf16,
            device,
            quiet_bar,
        )

    meta = {
        "start": plan.start,
        "features": plan.features,
        "max_length": max_length,
        "dtype": dtype,
    }
    return cached_arrays("prefix", key, compute, meta)
