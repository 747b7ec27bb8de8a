"""Freeze strategies applied to the encoder's own modules: embeddings, each layer, pooler.

A strategy names the trainable encoder layers (``all``, ``none``, ``top:k``, ``bottom:k`` or
an explicit list), whether the embeddings train, and — explicitly — the pooler. The head is
always trained. When the trainable layers are a top suffix and the embeddings are frozen, the
frozen part is a prefix whose output can be cached (see :mod:`bertfreeze.feature_cache`).

``method`` says what trains inside a selected layer: everything (``layers``, the default), or a
parameter-efficient part of it — LoRA or IA³ adapters, or only the biases (BitFit); see
:mod:`bertfreeze.peft_modes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bertfreeze import peft_modes
from bertfreeze.errors import UserError
from bertfreeze.model import TextClassifier


@dataclass(frozen=True)
class FreezeSpec:
    name: str
    layers: str | Sequence[int] = "all"  # all | none | top:k | bottom:k | [indices]
    embeddings: bool | None = None  # None: trained iff every layer is trained
    pooler: str | bool = "auto"  # auto | if_all | true | false (see apply_freeze)
    method: str = "layers"  # layers | lora | bitfit | ia3: what trains inside a selected layer
    adapter: Mapping[str, Any] = field(default_factory=dict)  # LoRA/IA³ options (peft_modes)

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> FreezeSpec:
        layers = cfg.get("layers", "all")
        if not isinstance(layers, str | int):
            layers = tuple(int(i) for i in layers)
        adapter = cfg.get("adapter") or {}
        if isinstance(adapter, DictConfig):
            adapter = OmegaConf.to_container(adapter, resolve=True)
        return cls(
            name=str(cfg.get("name", "custom")),
            layers=str(layers) if isinstance(layers, int) else layers,
            embeddings=cfg.get("embeddings"),
            pooler=cfg.get("pooler", "auto"),
            method=peft_modes.check_method(cfg.get("method", "layers")),
            adapter=dict(adapter),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class FreezePlan:
    """What trains: the result of applying a :class:`FreezeSpec` to a model."""

    trainable_layers: tuple[int, ...]
    embeddings: bool
    pooler: bool
    n_layers: int
    method: str = "layers"

    @property
    def frozen_prefix(self) -> int | None:
        """Number of bottom layers forming a frozen prefix (None if the frozen part isn't one).

        ``n_layers`` means the whole encoder is frozen (pooled features can be cached).
        """
        if self.embeddings:
            return None
        start = min(self.trainable_layers, default=self.n_layers)
        if tuple(range(start, self.n_layers)) != self.trainable_layers:
            return None
        return start


def trainable_layers(spec: FreezeSpec, n_layers: int) -> tuple[int, ...]:
    """Resolve the spec's layer selection against a backbone with ``n_layers`` layers."""
    layers = spec.layers
    if isinstance(layers, str):
        key = layers.strip().lower()
        if key == "all":
            return tuple(range(n_layers))
        if key in {"none", ""}:
            return ()
        kind, _, num = key.partition(":")
        if kind in {"top", "bottom"} and num.lstrip("-").isdigit():
            k = int(num)
            if not 0 <= k <= n_layers:
                raise UserError(
                    f"freeze {spec.name!r} trains the {kind} {k} layers but the backbone has "
                    f"{n_layers} encoder layers — use a depth between 0 and {n_layers}"
                )
            return tuple(range(n_layers - k, n_layers)) if kind == "top" else tuple(range(k))
        raise UserError(
            f"freeze.layers={layers!r} is not understood — use all, none, top:K, bottom:K or a "
            f"list of layer indices"
        )
    bad = [i for i in layers if not 0 <= i < n_layers]
    if bad:
        raise UserError(
            f"freeze.layers names layer(s) {bad} but the backbone has layers 0..{n_layers - 1}"
        )
    return tuple(sorted(set(layers)))


def apply_freeze(model: TextClassifier, spec: FreezeSpec) -> FreezePlan:
    """Set ``requires_grad`` on the encoder's modules; the head always trains.

    For LoRA/IA³ this also injects the adapters, so call it once per freshly built model.
    """
    n = model.n_layers
    layers = trainable_layers(spec, n)
    method = peft_modes.check_method(spec.method)
    if method in peft_modes.PEFT_METHODS and spec.embeddings:
        raise UserError(
            f"freeze.embeddings=true with freeze.method={method}: adapters go into encoder "
            f"layers only — use freeze.method=layers to train the embeddings"
        )
    default_embeddings = len(layers) == n and method == "layers"
    embeddings = spec.embeddings if spec.embeddings is not None else default_embeddings
    if spec.pooler == "auto":  # trains iff it is used and the layer under it trains
        pooler = model.pooling == "pooler" and (n - 1) in layers
    elif spec.pooler == "if_all":  # the paper: frozen modes freeze the pooler too
        pooler = len(layers) == n
    elif isinstance(spec.pooler, bool):
        pooler = spec.pooler
    else:
        raise UserError(
            f"freeze.pooler={spec.pooler!r} is unknown — use auto, if_all, true or false"
        )
    enc = model.encoder
    has_pooler = getattr(enc, "pooler", None) is not None
    if method == "layers":
        enc.embeddings.requires_grad_(bool(embeddings))
        for i, layer in enumerate(enc.encoder.layer):
            layer.requires_grad_(i in layers)
        if has_pooler:
            enc.pooler.requires_grad_(pooler)
    elif method == "bitfit":
        peft_modes.bitfit(enc, layers, bool(embeddings))
        if has_pooler and pooler:  # the pooler's bias only
            enc.pooler.dense.bias.requires_grad_(True)
    else:
        peft_modes.inject(method, enc, layers, spec.adapter)
        if has_pooler:
            enc.pooler.requires_grad_(pooler)
    model.head.requires_grad_(True)
    return FreezePlan(layers, bool(embeddings), pooler, n, method)


def count_parameters(model: TextClassifier) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
