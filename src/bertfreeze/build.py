"""One build path: backbone -> classifier -> freeze -> inputs (cache) -> DataModule -> module.

``train``, ``predict`` and the benchmarks all build through here, so a new model piece (a
classifier class, an optimiser, a pooling) is wired once. Swappable parts come from configs
with ``_target_`` (lightning-hydra-template style), defaulting to the built-in classes so the
shipped recipes (and their config hashes) stay as they were:

- ``+model._target_=my.pkg.MyClassifier`` — called as ``cls(encoder, pooling, dropout, head)``;
- ``+optim._target_=torch.optim.SGD`` — called as ``cls(param_groups, **accepted optim keys)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from bertfreeze.datamodule import RowInputs, TextDataModule
from bertfreeze.errors import UserError
from bertfreeze.feature_cache import (
    Ragged,
    frozen_prefix_arrays,
    plan_prefix,
    texts_digest,
    tokenize,
)
from bertfreeze.freeze import FreezePlan, FreezeSpec, apply_freeze
from bertfreeze.lit_module import ClassifierModule
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.splits import Split

log = logging.getLogger(__name__)

DEFAULT_CLASSIFIER = "bertfreeze.model.TextClassifier"


def classifier_class(model_cfg: Any) -> type[TextClassifier]:
    target = str(model_cfg.get("_target_") or DEFAULT_CLASSIFIER)
    try:
        cls = get_class(target)
    except Exception as err:  # noqa: BLE001 - hydra raises several kinds for a bad path
        raise UserError(f"model._target_={target!r} cannot be imported: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, TextClassifier)):
        raise UserError(f"model._target_={target!r} is not a bertfreeze.model.TextClassifier")
    return cls


def build_classifier(
    cfg: DictConfig, pretrained: str | None = None, quiet: bool | None = None
) -> tuple[TextClassifier, Any, FreezePlan]:
    """Backbone + classifier (``model._target_``) + freeze plan applied."""
    encoder, tokenizer = load_backbone(pretrained or str(cfg.model.pretrained), quiet=quiet)
    cls = classifier_class(cfg.model)
    clf = cls(encoder, str(cfg.model.pooling), float(cfg.model.dropout), str(cfg.model.head))
    plan = apply_freeze(clf, FreezeSpec.from_cfg(cfg.freeze))
    return clf, tokenizer, plan


def _device(cfg: DictConfig) -> str:
    accel = cfg.trainer.get("accelerator", "auto")
    return "cuda" if torch.cuda.is_available() and accel in ("gpu", "cuda", "auto") else "cpu"


def build_inputs(
    cfg: DictConfig,
    clf: TextClassifier,
    tokenizer: Any,
    plan: FreezePlan,
    texts: list[str],
    use_cache: bool | None = None,
) -> tuple[RowInputs, int, bool]:
    """Token ids, or the cached frozen prefix when the freeze plan has one. (inputs, start, cached)

    The returned ``RowInputs.kind`` is the contract the DataModule and module follow
    (bertfreeze.batch)."""
    cache_on = bool(cfg.cache.enabled) if use_cache is None else use_cache
    max_length = int(cfg.data.max_length)
    tokens = tokenize(texts, tokenizer, max_length, use_cache=cache_on)
    pad_id = tokenizer.pad_token_id or 0
    pad_to = max_length if cfg.data.get("pad_to_max", False) else None
    prefix = plan_prefix(clf, plan.frozen_prefix, plan.pooler) if cache_on else None
    if prefix is None:
        return RowInputs("tokens", tokens, pad_id=pad_id, pad_to=pad_to), 0, False
    arrays, hit = frozen_prefix_arrays(
        clf,
        tokenizer,
        tokens,
        texts_digest(texts),
        max_length,
        prefix,
        dtype=str(cfg.cache.dtype),
        autocast_bf16=bool(cfg.cache.bf16),
        batch_size=int(cfg.cache.batch_size),
        device=_device(cfg),
        quiet_bar=bool(cfg.get("quiet", False)),
    )
    log.info("frozen-prefix cache %s (layers < %d)", "hit" if hit else "built", prefix.start)
    if prefix.features:
        return (
            RowInputs("features", tokens, features=arrays["features"], pad_id=pad_id),
            prefix.start,
            True,
        )
    hidden = Ragged(arrays["values"], arrays["offsets"])
    return RowInputs("hidden", tokens, hidden=hidden, pad_id=pad_id), prefix.start, True


def build_datamodule(
    cfg: DictConfig, inputs: RowInputs, labels: np.ndarray, split: Split
) -> TextDataModule:
    return TextDataModule(
        inputs,
        labels,
        split,
        batch_size=int(cfg.data.batch_size),
        eval_batch_size=int(cfg.data.eval_batch_size),
        seed=int(cfg.seed),
        bucket=bool(cfg.data.bucket),
        num_workers=int(cfg.data.num_workers),
        pin_memory=torch.cuda.is_available(),
    )


def build_module(
    cfg: DictConfig, clf: TextClassifier, start: int, run_config: dict[str, Any] | None = None
) -> ClassifierModule:
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    assert isinstance(optim, dict)
    module = ClassifierModule(clf, optim, start_layer=start, run_config=run_config)
    if cfg.get("compile"):
        if _device(cfg) == "cpu":  # measured, not assumed: bench/results/levers/
            log.warning(
                "compile=true on a CPU: torch.compile was slower than eager where measured (a "
                "2-core AVX512_BF16 EPYC; docs/benchmarks.md, 'What the levers buy'), after up to "
                "a minute of compiling; `python -m bench.levers` measures it on this machine"
            )
        module.classifier.compile()  # in place: state_dict keys (and checkpoints) stay the same
    return module


@dataclass
class BuiltRun:
    """Everything a run trains and tests with."""

    classifier: TextClassifier
    tokenizer: Any
    plan: FreezePlan
    inputs: RowInputs
    start_layer: int
    cached: bool
    datamodule: TextDataModule
    module: ClassifierModule


def build_run(
    cfg: DictConfig,
    texts: list[str],
    labels: np.ndarray,
    split: Split,
    run_config: dict[str, Any] | None = None,
    built: tuple[TextClassifier, Any, FreezePlan] | None = None,
) -> BuiltRun:
    """The whole build from a composed config (``built``: a classifier made earlier)."""
    clf, tokenizer, plan = built or build_classifier(cfg, quiet=bool(cfg.get("quiet", False)))
    inputs, start, cached = build_inputs(cfg, clf, tokenizer, plan, texts)
    dm = build_datamodule(cfg, inputs, labels, split)
    module = build_module(cfg, clf, start, run_config)
    return BuiltRun(clf, tokenizer, plan, inputs, start, cached, dm, module)
