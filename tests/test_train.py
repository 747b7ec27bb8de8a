"""Training: config composition, freeze strategies, dropout, the CLI multirun, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny_bert import run_cli, tiny_overrides

from bertfreeze.freeze import FreezeSpec, apply_freeze, count_parameters
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.paths import CONF_DIR, REPO_ROOT
from bertfreeze.train_task import train


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("freeze", ["none", "all", "last2", "first2", "top_k", "custom"])
def test_every_freeze_config_composes(freeze: str) -> None:
    cfg = compose_train([f"freeze={freeze}", "seed=0"])
    assert cfg.freeze.name
    assert cfg.seed == 0
    assert cfg.optim.head_lr > 0


def expected_counts(clf: TextClassifier, layers: list[int], embeddings: bool) -> int:
    enc = clf.encoder
    n = sum(p.numel() for p in clf.head.parameters())
    n += sum(p.numel() for i in layers for p in enc.encoder.layer[i].parameters())
    if embeddings:
        n += sum(p.numel() for p in enc.embeddings.parameters())
    return n


@pytest.mark.parametrize(
    ("cfg_name", "layers", "embeddings"),
    [
        ("none", [0, 1, 2, 3], True),
        ("all", [], False),
        ("last2", [2, 3], False),
        ("first2", [0, 1], False),
    ],
)
def test_parameter_counts_per_mode(
    tiny_bert: Path, cfg_name: str, layers: list[int], embeddings: bool
) -> None:
    cfg = compose_train([f"freeze={cfg_name}", "model.pooling=cls"])
    encoder, _ = load_backbone(str(tiny_bert))
    clf = TextClassifier(encoder, "cls")
    plan = apply_freeze(clf, FreezeSpec.from_cfg(cfg.freeze))
    trainable, total = count_parameters(clf)
    assert list(plan.trainable_layers) == layers
    assert trainable == expected_counts(clf, layers, embeddings)
    assert total == sum(p.numel() for p in clf.parameters())
    assert not plan.pooler  # cls pooling never trains the pooler
    assert all(not p.requires_grad for p in clf.encoder.pooler.parameters())


def test_pooler_is_explicit(tiny_bert: Path) -> None:
    encoder, _ = load_backbone(str(tiny_bert))
    clf = TextClassifier(encoder, "pooler")
    assert apply_freeze(clf, FreezeSpec("last2", "top:2")).pooler  # auto: top layer trains
    assert not apply_freeze(clf, FreezeSpec("all", "none", False, False)).pooler
    assert not apply_freeze(clf, FreezeSpec("last2", "top:2", False, False)).pooler


def test_backbone_is_in_train_mode_so_dropout_is_on(tiny_bert: Path) -> None:
    """transformers 5 returns models in eval mode; Lightning keeps submodule modes."""
    encoder, _ = load_backbone(str(tiny_bert))
    assert encoder.training
    assert all(m.training for m in encoder.modules() if isinstance(m, torch.nn.Dropout))


def test_dropout_active_during_fit(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, cache_env: Path
) -> None:
    import lightning as L

    seen: list[bool] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            layer = pl_module.classifier.encoder.encoder.layer[-1]
            seen.append(layer.training and pl_module.classifier.dropout.training)

    cfg = compose_train(
        [
            *tiny_overrides(tiny_bert, tiny_data),
            "freeze=none",
            "trainer.max_epochs=1",
            "cache.enabled=false",
            f"hydra.run.dir={tmp_path}",
            f"paths.output_dir={tmp_path}",
        ]
    )
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    import bertfreeze.train_task as tt

    orig = tt.instantiate_all
    tt.instantiate_all = lambda node: (
        [*orig(node), Probe()] if node is cfg.get("callbacks") else orig(node)
    )
    try:
        train(cfg, tmp_path)
    finally:
        tt.instantiate_all = orig
    assert seen and all(seen)


def test_fast_dev_run_each_mode(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, cache_env: Path
) -> None:
    from hydra.core.hydra_config import HydraConfig

    for freeze in ("none", "all", "last2", "first2"):
        run_dir = tmp_path / freeze
        cfg = compose_train(
            [
                *tiny_overrides(tiny_bert, tiny_data),
                f"freeze={freeze}",
                "+trainer.fast_dev_run=true",
                "logger=none",
                f"hydra.run.dir={run_dir}",
                f"paths.output_dir={run_dir}",
            ]
        )
        HydraConfig.instance().set_config(cfg)
        metrics = train(cfg, run_dir)
        assert metrics is not None and metrics["freeze"] == freeze
        assert 0.0 <= metrics["test"]["accuracy"] <= 1.0


REQUIRED = [
    "status",
    "backbone",
    "freeze",
    "seed",
    "lr",
    "max_length",
    "epochs",
    "trainable_params",
    "total_params",
    "wall_time_s",
    "samples_per_s",
    "test",
    "val",
]
METRIC_KEYS = ["accuracy", "f1", "precision", "recall", "auroc"]


@pytest.mark.slow  # ~56 s on 2 cores: keeps `make test` under 10 minutes
def test_cli_multirun_sweep(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    """The design card's sweep, verbatim in form, on the tiny model: 6 complete runs."""
    sweep = tmp_path / "sweep"
    args = [
        "train.py",
        "-m",
        "freeze=none,all,last2",
        "seed=range(2)",
        *tiny_overrides(tiny_bert, tiny_data),
        f"hydra.sweep.dir={sweep}",
    ]
    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache")}
    res = run_cli(args, REPO_ROOT, env)
    assert res.returncode == 0, res.stderr[-3000:]
    # a quiet console: Hydra's launch line and our run line per run, no library chatter
    console = res.stdout + res.stderr
    chatter = ["GPU available", "TPU available", "litlogger", "LeafSpec", "to estimate number"]
    chatter += ["Restoring states", "Loaded model weights", "Seed set to"]
    assert [c for c in chatter if c in console] == [], console[-3000:]
    assert len(console.strip().splitlines()) <= 3 * 6, console[-3000:]
    assert sum(line.startswith("freeze=last2 seed=1 | ") for line in res.stdout.splitlines()) == 1
    dirs = sorted(p.parent.name for p in sweep.glob("*/metrics.json"))
    metrics = {d: json.loads((sweep / d / "metrics.json").read_text()) for d in dirs}
    by_pair = {(m["freeze"], m["seed"]): d for d, m in metrics.items()}
    assert sorted(by_pair) == sorted((f, s) for f in ("all", "last2", "none") for s in (0, 1))
    for (freeze, seed), d in by_pair.items():  # readable, stable names
        assert f"freeze={freeze}" in d.split(",") and f"seed={seed}" in d.split(",")
    for d, m in metrics.items():
        assert all(k in m for k in REQUIRED), d
        assert m["status"] == "completed"
        for part in ("test", "val"):
            assert all(0.0 <= m[part][k] <= 1.0 for k in METRIC_KEYS)
        assert (sweep / d / "predictions.csv").is_file()
        assert (sweep / d / ".hydra" / "config.yaml").is_file()
        assert (sweep / d / "csv" / "metrics.csv").is_file()
    assert (
        metrics[by_pair["all", 0]]["trainable_params"]
        < metrics[by_pair["last2", 0]]["trainable_params"]
        < metrics[by_pair["none", 0]]["trainable_params"]
    )
    # seed 0 is seeded and differs from seed 1
    p0 = pd.read_csv(sweep / by_pair["none", 0] / "predictions.csv")
    p1 = pd.read_csv(sweep / by_pair["none", 1] / "predictions.csv")
    assert not p0["prob"].equals(p1["prob"])
    # every seed is scored on the same test rows
    assert p0["id"].tolist() == p1["id"].tolist()

    # the same seed twice agrees bit for bit (fresh process, fresh dir)
    again = tmp_path / "again"
    res = run_cli(
        [
            "train.py",
            "freeze=none",
            "seed=0",
            *tiny_overrides(tiny_bert, tiny_data),
            f"hydra.run.dir={again}",
        ],
        REPO_ROOT,
        env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m_again = json.loads((again / "metrics.json").read_text())
    assert m_again["test"] == metrics[by_pair["none", 0]]["test"]
    assert m_again["config_hash"] == metrics[by_pair["none", 0]]["config_hash"]
    assert pd.read_csv(again / "predictions.csv").equals(p0)

    # rerunning the sweep skips every completed run
    res = run_cli(args, REPO_ROOT, env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("skip (already completed") == 6


@pytest.mark.slow
def test_embedded_minilm_loads_offline_and_runs() -> None:
    encoder, tokenizer = load_backbone("minilm")
    assert encoder.config.num_hidden_layers == 6 and encoder.config.hidden_size == 384
    clf = TextClassifier(encoder, "mean").eval()
    batch = tokenizer(
        ["Forest fire near La Ronge Sask. Canada", "I love fruits"],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        logits = clf(batch["input_ids"], batch["attention_mask"])
    assert logits.shape == (2,) and torch.isfinite(logits).all()
