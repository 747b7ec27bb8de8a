"""Parameter-efficient modes next to layer freezing: LoRA and IA³ (from ``peft``), and BitFit.

Each mode trains a small part of the layers the freeze spec selects (``layers: all`` or
``top:k``) and nothing else of the encoder, so a mode on the top ``k`` layers leaves a frozen
prefix below that the feature cache can reuse. Adapters are injected in place into the
encoder (``peft.inject_adapter_in_model``), so ``embeddings``/``encoder.layer`` keep their
paths and a run's saved weights (the adapter tensors) reload onto a model rebuilt with the same
config. Targets are matched inside each selected layer: a name with a dot is a path relative
to the layer (``output.dense`` is the FFN's output projection, not ``attention.output.dense``);
a bare name (``query``) matches every submodule with that last name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from bertfreeze.errors import UserError

#: ``freeze.method`` values: ``layers`` is plain freezing (every weight of a selected layer trains).
METHODS = ("layers", "lora", "bitfit", "ia3")
PEFT_METHODS = ("lora", "ia3")

# Defaults when a config leaves a key out (conf/freeze/<mode>.yaml sets them explicitly).
LORA_DEFAULTS = {"r": 8, "alpha": 8, "dropout": 0.1, "target_modules": ["query", "value"]}
IA3_DEFAULTS = {
    "target_modules": ["attention.self.key", "attention.self.value", "output.dense"],
    "feedforward_modules": ["output.dense"],
}


def check_method(method: str) -> str:
    key = str(method).strip().lower()
    if key not in METHODS:
        raise UserError(f"freeze.method={method!r} is unknown — use one of {list(METHODS)}")
    return key


def _matches(relative: str, target: str) -> bool:
    if "." in target:
        return relative == target
    return relative == target or relative.endswith(f".{target}")


def layer_targets(
    encoder: nn.Module, layers: Sequence[int], targets: Sequence[str], option: str
) -> list[str]:
    """Full module names (relative to ``encoder``) of the targeted Linear layers, per layer.

    Every target must match in every selected layer: a typo would otherwise train nothing.
    """
    names: list[str] = []
    for i in layers:
        layer = encoder.encoder.layer[i]
        linear = {n for n, m in layer.named_modules() if isinstance(m, nn.Linear)}
        for target in targets:
            hits = sorted(n for n in linear if _matches(n, target))
            if not hits:
                raise UserError(
                    f"freeze.{option}: {target!r} matches no Linear layer in encoder layer {i} — "
                    f"use names like {sorted(linear)[:4]}"
                )
            names += [f"encoder.layer.{i}.{n}" for n in hits]
    return names


def _targets(adapter: Mapping[str, Any], key: str, default: Sequence[str]) -> list[str]:
    value = adapter.get(key, default)
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value]


def peft_config(method: str, encoder: nn.Module, layers: Sequence[int], adapter: Mapping[str, Any]):
    """The ``peft`` config for ``method`` on the selected layers (explicit module names)."""
    from peft import IA3Config, LoraConfig

    if method == "lora":
        opts = {**LORA_DEFAULTS, **adapter}
        r, alpha, dropout = int(opts["r"]), float(opts["alpha"]), float(opts["dropout"])
        if r <= 0 or alpha <= 0 or not 0 <= dropout < 1:
            raise UserError(
                f"freeze.adapter: LoRA needs r > 0, alpha > 0 and 0 <= dropout < 1 "
                f"(got r={r}, alpha={alpha}, dropout={dropout})"
            )
        targets = layer_targets(
            encoder, layers, _targets(opts, "target_modules", []), "adapter.target_modules"
        )
        return LoraConfig(
            r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none"
        )
    opts = {**IA3_DEFAULTS, **adapter}
    targets_short = _targets(opts, "target_modules", [])
    ff_short = _targets(opts, "feedforward_modules", [])
    missing = [t for t in ff_short if t not in targets_short]
    if missing:
        raise UserError(
            f"freeze.adapter.feedforward_modules {missing} must also be in target_modules"
        )
    targets = layer_targets(encoder, layers, targets_short, "adapter.target_modules")
    feedforward = layer_targets(encoder, layers, ff_short, "adapter.feedforward_modules")
    return IA3Config(target_modules=targets, feedforward_modules=feedforward)


def inject(method: str, encoder: nn.Module, layers: Sequence[int], adapter: Mapping[str, Any]):
    """Inject LoRA/IA³ into the selected layers in place; only the adapter tensors train.

    Nothing is injected when no layer is selected (the mode then trains the head only).
    """
    encoder.requires_grad_(False)
    if not layers:
        return
    from peft import inject_adapter_in_model

    inject_adapter_in_model(peft_config(method, encoder, layers, adapter), encoder)
    for name, param in encoder.named_parameters():
        param.requires_grad_(_is_adapter(name))


def _is_adapter(name: str) -> bool:
    return any(f".{tag}" in name for tag in ("lora_A.", "lora_B.", "ia3_l."))


def bitfit(encoder: nn.Module, layers: Sequence[int], embeddings: bool) -> None:
    """Only bias terms train (Ben Zaken et al. 2022): every bias of the selected layers,
    LayerNorm biases included, and the embeddings' LayerNorm bias when ``embeddings``."""
    encoder.requires_grad_(False)
    modules: list[nn.Module] = [encoder.encoder.layer[i] for i in layers]
    if embeddings:
        modules.append(encoder.embeddings)
    for module in modules:
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.requires_grad_(True)
