"""The frozen-prefix cache: exact (same logits and gradients) and correctly invalidated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_bert import run_cli, tiny_overrides  # noqa: F401

from bertfreeze.datamodule import BucketBatchSampler
from bertfreeze.feature_cache import (
    PrefixPlan,
    frozen_prefix_arrays,
    pad_batch,
    plan_prefix,
    texts_digest,
    tokenize,
)
from bertfreeze.freeze import FreezeSpec, apply_freeze
from bertfreeze.model import TextClassifier, load_backbone


def classifier(model_dir: Path, pooling: str, spec: FreezeSpec) -> tuple[TextClassifier, object]:
    encoder, tokenizer = load_backbone(str(model_dir))
    torch.manual_seed(0)
    clf = TextClassifier(encoder, pooling, dropout=0.0)
    apply_freeze(clf, spec)
    return clf.eval(), tokenizer  # dropout off: the cached path runs frozen layers in eval mode


@pytest.mark.parametrize(
    ("spec", "pooling"),
    [
        (FreezeSpec("all", "none", False, False), "mean"),
        (FreezeSpec("all", "none", False, False), "cls"),
        (FreezeSpec("all", "none", False, False), "pooler"),
        (FreezeSpec("last2", "top:2"), "cls"),
        (FreezeSpec("last2", "top:2"), "mean"),
        (FreezeSpec("top3", "top:3"), "concat_last4"),
    ],
)
def test_cached_path_matches_full_pass(
    tiny_bert: Path, tiny_data: Path, cache_env: Path, spec: FreezeSpec, pooling: str
) -> None:
    clf, tok = classifier(tiny_bert, pooling, spec)
    plan = apply_freeze(clf, spec)
    texts = pd.read_csv(tiny_data)["text"].tolist()[:40]
    tokens = tokenize(texts, tok, 32)
    prefix = plan_prefix(clf, plan.frozen_prefix, plan.pooler)
    assert prefix is not None
    arrays, hit = frozen_prefix_arrays(
        clf, tok, tokens, texts_digest(texts), 32, prefix, dtype="float32"
    )
    assert not hit
    rows = list(range(len(texts)))
    ids, mask = pad_batch([tokens[i] for i in rows], tok.pad_token_id)
    full = clf(ids.long(), mask)
    if prefix.features:
        cached = clf.classify(torch.from_numpy(np.asarray(arrays["features"])[rows]))
    else:
        from bertfreeze.feature_cache import Ragged

        hidden = Ragged(arrays["values"], arrays["offsets"])
        h, m = pad_batch([hidden[i] for i in rows], 0.0)
        cached = clf.forward_from_hidden(h.float(), m, prefix.start)
    assert torch.allclose(full, cached, atol=1e-5), (full - cached).abs().max()

    labels = torch.tensor([i % 2 for i in rows])
    grads = []
    for logits in (full, cached):
        clf.zero_grad()
        clf.loss(logits, labels).backward(retain_graph=True)
        grads.append({k: p.grad.clone() for k, p in clf.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-5), k


def test_no_cache_for_trainable_embeddings_or_bottom_layers(tiny_bert: Path) -> None:
    clf, _ = classifier(tiny_bert, "cls", FreezeSpec("none", "all", True))
    assert (
        plan_prefix(clf, apply_freeze(clf, FreezeSpec("none", "all", True)).frozen_prefix, False)
        is None
    )
    plan = apply_freeze(clf, FreezeSpec("first2", "bottom:2"))
    assert plan.frozen_prefix is None
    assert plan_prefix(
        clf, apply_freeze(clf, FreezeSpec("last2", "top:2")).frozen_prefix, False
    ) == PrefixPlan(2, False)


def _key_and_hit(clf, tok, texts, max_length):
    tokens = tokenize(texts, tok, max_length)
    plan = PrefixPlan(clf.n_layers, True)
    _, hit = frozen_prefix_arrays(
        clf, tok, tokens, texts_digest(texts), max_length, plan, dtype="float32"
    )
    return hit


def test_cache_invalidation(tiny_bert: Path, tiny_data: Path, cache_env: Path) -> None:
    clf, tok = classifier(tiny_bert, "mean", FreezeSpec("all", "none", False, False))
    texts = pd.read_csv(tiny_data)["text"].tolist()[:30]
    assert not _key_and_hit(clf, tok, texts, 32)  # built
    assert _key_and_hit(clf, tok, texts, 32)  # reused
    assert not _key_and_hit(clf, tok, [*texts[:-1], texts[-1] + " fire"], 32)  # data changed
    assert not _key_and_hit(clf, tok, texts, 16)  # max_length changed
    with torch.no_grad():
        clf.encoder.encoder.layer[0].output.dense.weight.add_(0.01)  # weights changed
    assert not _key_and_hit(clf, tok, texts, 32)
    assert len(list((cache_env / "prefix").iterdir())) == 4
    assert not list((cache_env / "prefix").glob(".*"))  # no temp dirs left behind


def test_bucket_sampler_shuffles_by_seed_and_epoch() -> None:
    lengths = np.random.default_rng(0).integers(3, 60, size=500)
    idx = np.arange(500)

    def order(seed: int, epoch: int) -> list[list[int]]:
        s = BucketBatchSampler(idx, lengths, 32, shuffle=True, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    a = order(0, 0)
    assert sorted(i for b in a for i in b) == list(range(500))  # every row once
    assert a == order(0, 0)
    assert a != order(1, 0) and a != order(0, 1)
    # buckets cut padding: mean within-batch spread far below random batches
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in a])
    rand = BucketBatchSampler(idx, lengths, 32, shuffle=True, seed=0, bucket=False)
    spread_rand = np.mean([lengths[b].max() - lengths[b].min() for b in rand])
    assert spread < spread_rand / 3
    inference = list(BucketBatchSampler(idx, lengths, 64, shuffle=False, seed=0))
    flat = [i for b in inference for i in b]
    assert list(lengths[flat]) == sorted(lengths)
