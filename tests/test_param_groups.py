"""Optimiser groups come from named_parameters(): nothing trainable is ever left out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from bertfreeze.batch import Batch
from bertfreeze.feature_cache import plan_prefix
from bertfreeze.freeze import FreezeSpec, apply_freeze
from bertfreeze.lit_module import ClassifierModule
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.paths import CONF_DIR

OPTIM = {"lr": 1e-2, "head_lr": 1e-2, "weight_decay": 0.01, "layerwise_lr_decay": 0.9}


class LearnedPooling(TextClassifier):
    """A parametrised pooling (attention weights over tokens) that no code path knows about."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__(encoder, "cls")
        self.attn = nn.Linear(encoder.config.hidden_size, 1)

    def pool(self, layer_outputs: list[torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
        last = layer_outputs[-1]
        scores = self.attn(last).squeeze(-1).masked_fill(attention_mask == 0, -1e4)
        return (scores.softmax(-1).unsqueeze(-1) * last).sum(1)


def _groups_cover_trainables_once(module: ClassifierModule) -> None:
    seen: dict[int, int] = {}
    for group in module._param_groups():
        for p in group["params"]:
            seen[id(p)] = seen.get(id(p), 0) + 1
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert set(seen) == trainable
    assert all(count == 1 for count in seen.values())


@pytest.mark.parametrize("freeze", ["none", "all", "last2", "first2"])
def test_every_trainable_parameter_is_in_exactly_one_group(tiny_bert: Path, freeze: str) -> None:
    encoder, _ = load_backbone(str(tiny_bert))
    clf = TextClassifier(encoder, "pooler")
    spec = FreezeSpec.from_cfg(OmegaConf.load(CONF_DIR / "freeze" / f"{freeze}.yaml"))
    apply_freeze(clf, spec)
    _groups_cover_trainables_once(ClassifierModule(clf, OPTIM))


def test_parametrised_pooling_is_optimised(tiny_bert: Path) -> None:
    encoder, _ = load_backbone(str(tiny_bert))
    clf = LearnedPooling(encoder)
    plan = apply_freeze(clf, FreezeSpec(name="all", layers="none", embeddings=False, pooler=False))
    # the frozen-feature cache would freeze the pooling: it must fall back to hidden states
    prefix = plan_prefix(clf, plan.frozen_prefix, plan.pooler)
    assert prefix is None or not prefix.features
    module = ClassifierModule(clf, {"lr": 1e-2, "head_lr": 1e-2})
    _groups_cover_trainables_once(module)
    opt = torch.optim.AdamW(module._param_groups())
    before = clf.attn.weight.detach().clone()
    batch = Batch(
        "tokens",
        torch.arange(4),
        torch.tensor([0, 1, 0, 1]),
        input_ids=torch.randint(5, 50, (4, 7)),
        attention_mask=torch.ones(4, 7, dtype=torch.long),
    )
    module.training_step(batch, 0).backward()
    opt.step()
    assert not torch.equal(before, clf.attn.weight)


def test_batch_kind_is_declared_not_guessed() -> None:
    with pytest.raises(ValueError, match="needs"):
        Batch("hidden", torch.arange(2), input_ids=torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="not one of"):
        Batch("pixels", torch.arange(2))


def test_optimizer_and_classifier_come_from_target(tiny_bert: Path) -> None:
    from omegaconf import OmegaConf

    from bertfreeze.build import classifier_class
    from bertfreeze.errors import UserError

    encoder, _ = load_backbone(str(tiny_bert))
    module = ClassifierModule(
        TextClassifier(encoder, "cls"), {"lr": 0.1, "_target_": "torch.optim.SGD"}
    )
    assert module.optimizer_class() is torch.optim.SGD
    assert ClassifierModule(TextClassifier(encoder, "cls"), {"lr": 0.1}).optimizer_class() is (
        torch.optim.AdamW
    )
    with pytest.raises(UserError, match="optim._target_"):
        ClassifierModule(TextClassifier(encoder, "cls"), {"lr": 0.1, "_target_": "torch.nn.Linear"})
    model = OmegaConf.create({"_target_": "tests_learned.LearnedPooling"})
    with pytest.raises(UserError, match="model._target_"):
        classifier_class(model)
    assert classifier_class(OmegaConf.create({})) is TextClassifier
    assert module.hparams["optim"]["_target_"] == "torch.optim.SGD"  # the checkpoint says so


@pytest.mark.parametrize("compile_", [True, False])
def test_compile_on_a_cpu_warns_that_it_was_measured_slower(
    tiny_bert: Path, compile_: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """compile=true is honoured on a CPU, with one warning line pointing at the measurement
    (bench/results/levers: slower than eager there); without it, nothing is said."""
    import logging

    from bertfreeze.build import build_module

    encoder, _ = load_backbone(str(tiny_bert))
    cfg = OmegaConf.create({"compile": compile_, "trainer": {"accelerator": "cpu"}, "optim": OPTIM})
    with caplog.at_level(logging.WARNING, logger="bertfreeze.build"):
        module = build_module(cfg, TextClassifier(encoder, "cls"), 0)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if compile_:
        assert len(warned) == 1 and "slower than eager" in warned[0]
        assert "bench.levers" in warned[0] and "\n" not in warned[0]
        assert module.classifier._compiled_call_impl is not None  # still compiled, as asked
    else:
        assert not warned
