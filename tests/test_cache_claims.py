"""The frozen-prefix cache as users get it: the shipped dtype, the bf16 prefix, whole runs.

Stated tolerances (tiny random BERT, logits of order 0.1-0.4; measured differences in brackets):
* cache.dtype=float16 (the default): |logit difference| <= 2e-3 vs the uncached pass [<= 3e-4];
* cache.bf16=true on top (prefix computed under bf16 autocast): <= 5e-3 [<= 4e-4];
* a whole fp32 training run with the cache at float32 vs without the cache, dropout off: the same
  predicted labels and test probabilities within 1e-4; at float16, probabilities within 1e-2.
bf16 on an AVX2 CPU is emulated and slow, hence the 40-text, 4-layer, 32-wide tensors here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_bert import tiny_overrides, train_in_process

from bertfreeze.feature_cache import (
    Ragged,
    frozen_prefix_arrays,
    pad_batch,
    plan_prefix,
    texts_digest,
    tokenize,
)
from bertfreeze.freeze import FreezeSpec, apply_freeze
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.paths import CONF_DIR
from bertfreeze.predict import predict, proba_path

TOLERANCE = {("float16", False): 2e-3, ("float16", True): 5e-3}


def shipped_cache_settings() -> dict:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return dict(compose(config_name="train").cache)


@pytest.mark.parametrize("bf16", [False, True], ids=["float16", "float16+bf16-prefix"])
@pytest.mark.parametrize(
    ("spec", "pooling"),
    [(FreezeSpec("all", "none", False, False), "mean"), (FreezeSpec("last2", "top:2"), "cls")],
    ids=["all-mean", "last2-cls"],
)
def test_cache_at_shipped_dtype_matches_uncached(
    tiny_bert: Path, tiny_data: Path, cache_env: Path, spec: FreezeSpec, pooling: str, bf16: bool
) -> None:
    dtype = shipped_cache_settings()["dtype"]
    assert dtype == "float16"  # what users get; a new default needs a new stated tolerance
    encoder, tok = load_backbone(str(tiny_bert))
    torch.manual_seed(0)
    clf = TextClassifier(encoder, pooling, dropout=0.0)
    plan = apply_freeze(clf, spec)
    clf.eval()
    texts = pd.read_csv(tiny_data)["text"].tolist()[:40]
    tokens = tokenize(texts, tok, 32)
    prefix = plan_prefix(clf, plan.frozen_prefix, plan.pooler)
    arrays, _ = frozen_prefix_arrays(
        clf, tok, tokens, texts_digest(texts), 32, prefix, dtype=dtype, autocast_bf16=bf16
    )
    ids, mask = pad_batch(list(tokens), tok.pad_token_id)
    with torch.no_grad():
        full = clf(ids.long(), mask)
        if prefix.features:
            assert np.asarray(arrays["features"]).dtype == np.float16
            cached = clf.classify(torch.tensor(np.asarray(arrays["features"]), dtype=torch.float))
        else:
            assert arrays["values"].dtype == np.float16
            hidden = Ragged(arrays["values"], arrays["offsets"])
            h, m = pad_batch([hidden[i] for i in range(len(texts))], 0.0)
            cached = clf.forward_from_hidden(h.float(), m, prefix.start)
    diff = float((full - cached).abs().max())
    assert diff <= TOLERANCE[(dtype, bf16)], diff
    assert diff > 0  # float16 storage is not exact: the comparison really went through it


# ----------------------------------------------------------------------------- whole runs
@pytest.fixture(scope="module")
def dropout_free_bert(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with its internal dropout off (the cached prefix always runs in eval mode)."""
    out = tmp_path_factory.mktemp("tiny_bert_nodrop")
    shutil.copytree(tiny_bert, out, dirs_exist_ok=True)
    config = json.loads((out / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (out / "config.json").write_text(json.dumps(config))
    return out


def run_tiny(model: Path, data: Path, run_dir: Path, *overrides: str) -> dict:
    """Pinned to fp32: the 1e-4 claim is about the cache, and under bf16-mixed (what ``auto``
    picks on a CPU with native bf16) rounding differs with batch composition by ~5e-4 (CI on an
    AMX Xeon, 2026-12-05)."""
    return train_in_process(
        [
            *tiny_overrides(model, data),
            "model.dropout=0",
            "freeze=last2",
            "trainer.precision=32-true",
            *overrides,
        ],
        run_dir,
    )


def probs(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "predictions.csv").sort_values("id").reset_index(drop=True)


@pytest.fixture(scope="module")
def runs_on_off(
    dropout_free_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """freeze=last2 trained three ways: no cache, cache at float32, cache at the shipped float16."""
    root = tmp_path_factory.mktemp("cache_on_off")
    mp = pytest.MonkeyPatch()
    mp.setenv("BERTFREEZE_CACHE", str(root / "cache"))
    out = {}
    try:
        for name, extra in {
            "off": ["cache.enabled=false"],
            "float32": ["cache.dtype=float32"],
            "float16": [],  # the shipped default
        }.items():
            metrics = run_tiny(dropout_free_bert, tiny_data, root / name, *extra)
            assert metrics["cache"] is (name != "off")
            out[name] = root / name
    finally:
        mp.undo()
    return out


def test_cache_on_and_off_give_the_same_predictions(runs_on_off: dict[str, Path]) -> None:
    off, on = probs(runs_on_off["off"]), probs(runs_on_off["float32"])
    assert list(off["id"]) == list(on["id"])
    assert (off["pred"] == on["pred"]).all()
    np.testing.assert_allclose(on["prob"], off["prob"], atol=1e-4)
    shipped = probs(runs_on_off["float16"])
    np.testing.assert_allclose(shipped["prob"], off["prob"], atol=1e-2)


def test_predict_works_on_a_cached_run(
    runs_on_off: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    """`make predict` rebuilds the full (uncached) model from a run trained on the float16
    cache and gives back that run's test probabilities, within the float16 tolerance."""
    run = runs_on_off["float16"]
    assert json.loads((run / "metrics.json").read_text())["cache"] is True
    out = tmp_path / "submission.csv"
    summary = predict(run, tiny_data, out, quiet=True)
    assert summary["n_rows"] == len(pd.read_csv(tiny_data))
    ours = pd.read_csv(proba_path(out))
    both = probs(run).merge(ours, on="id", suffixes=("_run", "_predict"))
    assert len(both) == len(probs(run))
    np.testing.assert_allclose(both["prob_predict"], both["prob_run"], atol=2e-3)
    assert set(pd.read_csv(out).columns) == {"id", "target"}
