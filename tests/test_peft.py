"""Parameter-efficient modes (LoRA, BitFit, IA³): what trains, exact counts, predict, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from safetensors.torch import load_file, save_file
from tiny_bert import kill_mid_sweep_then_rerun, run_cli, tiny_overrides

import bertfreeze.train_task as tt
from bertfreeze.errors import UserError
from bertfreeze.freeze import FreezeSpec, apply_freeze, count_parameters
from bertfreeze.lit_module import ClassifierModule
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.paths import CONF_DIR, REPO_ROOT
from bertfreeze.predict import predict, proba_path

MODES = ["lora", "lora_top_k", "bitfit", "bitfit_top_k", "ia3", "ia3_top_k"]
# The tiny BERT: 4 layers, hidden 32, FFN 64; the sigmoid head has 32 + 1 parameters.
HIDDEN, FFN, LAYERS, HEAD = 32, 64, 4, 33
LORA_PER_LAYER = 2 * (8 * HIDDEN + HIDDEN * 8)  # query and value: A (r x in) + B (out x r), r=8
BIAS_PER_LAYER = 3 * HIDDEN + HIDDEN + HIDDEN + FFN + HIDDEN + HIDDEN  # qkv, attn out, LN, FFN, LN
IA3_PER_LAYER = HIDDEN + HIDDEN + FFN  # key and value (output side), FFN output.dense (input side)


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def build(tiny_bert: Path, freeze: str, pooling: str = "cls", extra: list[str] | None = None):
    cfg = compose_train([f"freeze={freeze}", *(extra or [])])
    encoder, _ = load_backbone(str(tiny_bert))
    clf = TextClassifier(encoder, pooling)
    return clf, apply_freeze(clf, FreezeSpec.from_cfg(cfg.freeze))


def trained_names(clf: torch.nn.Module) -> set[str]:
    return {n for n, p in clf.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("freeze", MODES)
def test_peft_configs_compose_with_their_own_lr(freeze: str) -> None:
    cfg = compose_train([f"freeze={freeze}"])
    assert cfg.freeze.method in ("lora", "bitfit", "ia3")
    assert cfg.optim.lr == cfg.freeze.lr > 5e-5  # adapters need a larger step than fine-tuning
    assert compose_train(["freeze=none"]).optim.lr == 5e-5  # the paper's modes are unchanged


@pytest.mark.parametrize(
    ("freeze", "layers", "per_layer", "pattern"),
    [
        ("lora", [0, 1, 2, 3], LORA_PER_LAYER, r"attention\.self\.(query|value)\.lora_[AB]\."),
        ("lora_top_k", [2, 3], LORA_PER_LAYER, r"attention\.self\.(query|value)\.lora_[AB]\."),
        ("bitfit", [0, 1, 2, 3], BIAS_PER_LAYER, r"\.bias$"),
        ("bitfit_top_k", [2, 3], BIAS_PER_LAYER, r"\.bias$"),
        ("ia3", [0, 1, 2, 3], IA3_PER_LAYER, r"(attention\.self\.(key|value)|\d\.output\.dense)"),
        ("ia3_top_k", [2, 3], IA3_PER_LAYER, r"(attention\.self\.(key|value)|\d\.output\.dense)"),
    ],
)
def test_each_mode_trains_only_what_it_claims(
    tiny_bert: Path, freeze: str, layers: list[int], per_layer: int, pattern: str
) -> None:
    import re

    clf, plan = build(tiny_bert, freeze)
    trainable, total = count_parameters(clf)
    assert trainable == HEAD + per_layer * len(layers)
    assert total == sum(p.numel() for p in clf.parameters())
    assert list(plan.trainable_layers) == layers and not plan.embeddings and not plan.pooler
    encoder_names = trained_names(clf) - {"head.weight", "head.bias"}
    assert {"head.weight", "head.bias"} <= trained_names(clf)
    assert encoder_names and all(re.search(pattern, n) for n in encoder_names)
    assert {int(n.split(".layer.")[1].split(".")[0]) for n in encoder_names} == set(layers)
    if freeze.startswith("ia3"):  # the FFN's output.dense, not the attention's
        assert ".attention.output.dense." not in " ".join(encoder_names)
    if layers != [0, 1, 2, 3]:  # a top-k mode leaves a frozen prefix for the feature cache
        assert plan.frozen_prefix == layers[0]


def test_bitfit_pooler_bias_trains_only_when_the_pooler_is_used(tiny_bert: Path) -> None:
    clf, plan = build(tiny_bert, "bitfit", pooling="pooler")
    assert plan.pooler
    pooler = {n for n in trained_names(clf) if ".pooler." in n}
    assert pooler == {"encoder.pooler.dense.bias"}
    assert count_parameters(clf)[0] == HEAD + BIAS_PER_LAYER * LAYERS + HIDDEN


def test_adapter_options_are_checked(tiny_bert: Path) -> None:
    with pytest.raises(UserError, match="matches no Linear layer"):
        build(tiny_bert, "lora", extra=["freeze.adapter.target_modules=[qery]"])
    with pytest.raises(UserError, match="LoRA needs r > 0"):
        build(tiny_bert, "lora", extra=["freeze.adapter.r=0"])
    with pytest.raises(UserError, match="adapters go into encoder layers only"):
        build(tiny_bert, "lora", extra=["freeze.embeddings=true"])
    with pytest.raises(UserError, match="freeze.method='prefix' is unknown"):
        build(tiny_bert, "lora", extra=["freeze.method=prefix"])


def test_lora_rank_and_targets_come_from_the_config(tiny_bert: Path) -> None:
    clf, _ = build(
        tiny_bert, "lora", extra=["freeze.adapter.r=2", "freeze.adapter.target_modules=[key]"]
    )
    names = trained_names(clf) - {"head.weight", "head.bias"}
    assert all(".attention.self.key.lora_" in n for n in names)
    assert count_parameters(clf)[0] == HEAD + LAYERS * (2 * HIDDEN + HIDDEN * 2)


class ChangeProbe(L.Callback):
    """Which parameters differ between the start and the end of fit."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.changed: dict[str, int] = {}
        self.requires_grad: set[str] = set()

    def on_fit_start(self, trainer, pl_module) -> None:
        named = pl_module.classifier.named_parameters()
        self.before = {n: p.detach().clone() for n, p in named}

    def on_fit_end(self, trainer, pl_module) -> None:
        for n, p in pl_module.classifier.named_parameters():
            if p.requires_grad:
                self.requires_grad.add(n)
            if not torch.equal(p.detach(), self.before[n]):
                self.changed[n] = p.numel()


@pytest.mark.parametrize("freeze", ["lora", "lora_top_k", "bitfit", "ia3_top_k"])
def test_trainable_params_are_exactly_the_parameters_that_change(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, cache_env: Path, freeze: str
) -> None:
    probe = ChangeProbe()
    cfg = compose_train(
        [
            *tiny_overrides(tiny_bert, tiny_data),
            f"freeze={freeze}",
            "trainer.max_epochs=1",
            "logger=none",
            f"hydra.run.dir={tmp_path}",
            f"paths.output_dir={tmp_path}",
        ]
    )
    HydraConfig.instance().set_config(cfg)
    orig = tt.instantiate_all
    tt.instantiate_all = lambda node: (
        [*orig(node), probe] if node is cfg.get("callbacks") else orig(node)
    )
    try:
        metrics = tt.train(cfg, tmp_path)
    finally:
        tt.instantiate_all = orig
    assert metrics is not None and metrics["freeze_method"] == cfg.freeze.method
    assert metrics["cache"] == freeze.endswith("_top_k")  # top-k modes train on the cached prefix
    assert set(probe.changed) == probe.requires_grad
    assert sum(probe.changed.values()) == metrics["trainable_params"]
    saved = load_file(str(tmp_path / "trainable.safetensors"))
    assert {k.removeprefix("classifier.") for k in saved} == probe.requires_grad


def test_lora_checkpoint_state_loads_into_a_rebuilt_model(tiny_bert: Path) -> None:
    """Resume and ``ckpt_path=best`` load the lean checkpoint into a freshly injected model."""
    clf, _ = build(tiny_bert, "lora_top_k")
    with torch.no_grad():
        for p in clf.parameters():
            if p.requires_grad:
                p.add_(1.0)
    state = ClassifierModule(clf, {"lr": 1e-3}).trainable_state_dict()
    fresh = ClassifierModule(build(tiny_bert, "lora_top_k")[0], {"lr": 1e-3})
    result = fresh.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    trained = {f"classifier.{n}" for n in trained_names(fresh.classifier)}
    assert trained <= set(state)
    for key in trained:
        torch.testing.assert_close(fresh.state_dict()[key], state[key])


@pytest.mark.parametrize(
    ("freeze", "extra"), [("lora", []), ("lora_top_k", ["cache.dtype=float32"])]
)
def test_lora_run_reloads_for_predict_with_the_same_predictions(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, freeze: str, extra: list[str]
) -> None:
    run_dir = tmp_path / "run"
    args = [
        "train.py",
        f"freeze={freeze}",
        *tiny_overrides(tiny_bert, tiny_data),
        *extra,
        "model.pooling=mean",
        "optim.lr=1e-2",
        # fp32: the claim is about reloading weights; under bf16-mixed (auto on a CPU with native
        # bf16) predict's batches round differently from the run's by ~5e-4 (CI, AMX, 2026-12-05)
        "trainer.precision=32-true",
        f"hydra.run.dir={run_dir}",
    ]
    res = run_cli(args, REPO_ROOT, {"BERTFREEZE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    weights = load_file(str(run_dir / "trainable.safetensors"))
    lora_b = [v for k, v in weights.items() if ".lora_B." in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # the adapters really trained

    out = tmp_path / "sub.csv"
    predict(run_dir, tiny_data, out, quiet=True)
    ours = pd.read_csv(proba_path(out))
    ref = pd.read_csv(run_dir / "predictions.csv")
    both = ref.merge(ours, on="id", suffixes=("_run", "_predict"))
    assert len(both) == len(ref)
    np.testing.assert_allclose(both["prob_predict"], both["prob_run"], atol=1e-5)

    # Without its adapter weights the run cannot be rebuilt: a one-line error, not silence.
    save_file({k: v for k, v in weights.items() if ".lora_A." not in k}, str(run_dir / "t.st"))
    (run_dir / "t.st").replace(run_dir / "trainable.safetensors")
    with pytest.raises(UserError, match="does not fit the rebuilt model"):
        predict(run_dir, tiny_data, tmp_path / "sub2.csv", quiet=True)


@pytest.mark.slow  # minutes on 2 cores: CI runs it (make test-all)
def test_sweep_with_peft_modes_resumes_after_a_kill(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """Kill a sweep over the new modes mid-way, rerun it: each run completes exactly once."""
    sweep = tmp_path / "sweep"
    args = [
        "train.py",
        "-m",
        "freeze=lora,bitfit,ia3_top_k",
        "seed=0",
        *tiny_overrides(tiny_bert, tiny_data),
        "trainer.max_epochs=6",
        f"hydra.sweep.dir={sweep}",
    ]
    _, _, metrics = kill_mid_sweep_then_rerun(args, sweep, tmp_path / "cache", n_jobs=3)
    assert sorted(m["freeze"] for m in metrics) == ["bitfit", "ia3_top2", "lora"]
    assert any(m["resumed_from_checkpoint"] for m in metrics)  # the killed run went on


# -- the report: accuracy vs trainable parameters, Table 2, one Holm family ------------------
PEFT_FAKE = {  # freeze name -> (method, trainable params, mean accuracy)
    "ia3": ("ia3", 9_600, 0.800),
    "lora": ("lora", 74_113, 0.836),
    "bitfit": ("bitfit", 31_105, 0.829),
}


def fake_peft_sweep(root: Path, seeds: range = range(4)) -> Path:
    """The standard fake sweep (all, last2, none) plus lora/bitfit/ia3 runs on the same seeds."""
    sys.path.insert(0, str(Path(__file__).parent))
    import fake_runs

    fake_runs.make_sweep(root, seeds=seeds)
    rng = np.random.default_rng(1)
    for freeze, (method, n_params, acc) in PEFT_FAKE.items():
        for seed in seeds:
            run = fake_runs.write_run(root.parent / "tmp", freeze="none", seed=seed, rng=rng)
            rec = json.loads((run / "metrics.json").read_text())
            rec.update(
                freeze=freeze,
                freeze_method=method,
                trainable_params=n_params,
                embeddings_trainable=False,
                config_hash=f"{freeze}{seed}",
            )
            rec["test"]["accuracy"] = acc + rng.normal(0, 0.004)
            (run / "metrics.json").write_text(json.dumps(rec))
            run.rename(root / f"freeze={freeze},seed={seed}")
    return root


def test_report_draws_accuracy_vs_trainable_parameters(tmp_path: Path) -> None:
    from PIL import Image

    from bertfreeze.report import build_report

    sweep = fake_peft_sweep(tmp_path / "sweep")
    res = build_report(sweep, tmp_path / "report", find_baselines=False, n_boot=200)
    assert len(res.runs) == 6 * len(range(4))
    assert set(res.runs["freeze"]) == {"all", "last2", "none", "lora", "bitfit", "ia3"}
    params = pd.read_csv(tmp_path / "report" / "study_params.csv")
    assert list(params["freeze"]) == ["all", "ia3", "bitfit", "lora", "last2", "none"]
    assert list(params["trainable params"]) == sorted(params["trainable params"])
    # frontier: a mode is on it iff no mode with at most as many parameters has a higher mean
    for _, row in params.iterrows():
        fewer = params[params["trainable params"] <= row["trainable params"]]
        assert row["frontier"] == (row["accuracy"] >= fewer["accuracy"].max())
    assert params.set_index("freeze").loc["lora", "frontier"]  # 0.836 with 74k parameters
    assert not params.set_index("freeze").loc["ia3", "frontier"]  # below the head-only mode
    lo, hi = params["95% t-CI low"], params["95% t-CI high"]
    assert ((lo < params["accuracy"]) & (params["accuracy"] < hi)).all()
    fig = res.figures["figure4"]
    assert fig.png.is_file() and fig.svg.is_file()
    assert Image.open(fig.png).size == fig.pixels
    text = res.report_md.read_text()
    assert "Accuracy vs trainable parameters" in text and "figure4_params.png" in text
    # Table 2 gains the new modes, ordered by trainable parameters, with their counts
    t2 = res.table2.set_index("freeze")
    assert list(t2.index) == ["all", "ia3", "bitfit", "lora", "last2", "none"]
    assert t2.loc["lora", "trainable_params"] == 74_113
    # every pair of the six modes, in one Holm family per metric (15 accuracy comparisons)
    acc = [r for r in res.stats if r["kind"] == "freeze_pair" and r["metric"] == "accuracy"]
    pairs = {frozenset((r["a"].split(" / ")[-1], r["b"].split(" / ")[-1])) for r in acc}
    assert len(acc) == len(pairs) == 15
    ranked = sorted(r["p"] for r in acc)
    holm = np.maximum.accumulate([min(1.0, (15 - i) * p) for i, p in enumerate(ranked)])
    np.testing.assert_allclose(sorted(r["p_holm"] for r in acc), holm)
    lora_vs_ia3 = next(r for r in acc if {"lora", "ia3"} == pairs_of(r))
    assert lora_vs_ia3["a"].endswith("lora")  # a = more trainable parameters


def pairs_of(rec: dict) -> set[str]:
    return {rec["a"].split(" / ")[-1], rec["b"].split(" / ")[-1]}


# -- learning rates chosen on validation only -------------------------------------------------
def fake_selection_sweep(root: Path) -> Path:
    """lora and bitfit at three lrs x 2 seeds; the best validation lr is never the best test lr."""
    sys.path.insert(0, str(Path(__file__).parent))
    import fake_runs

    val = {1e-4: 0.80, 1e-3: 0.84, 1e-2: 0.82}
    test = {1e-4: 0.83, 1e-3: 0.79, 1e-2: 0.86}
    for freeze, shift in (("lora", 0.0), ("bitfit", -0.01)):
        for lr in val:
            for seed in (100, 101):
                run = fake_runs.write_run(root / "tmp", freeze="none", seed=seed)
                rec = json.loads((run / "metrics.json").read_text())
                rec.update(freeze=freeze, lr=lr)
                rec["config"]["optim.lr"] = lr
                rec["val"]["accuracy"] = val[lr] + shift + 0.001 * seed
                rec["test"]["accuracy"] = test[lr]
                (run / "metrics.json").write_text(json.dumps(rec))
                run.rename(root / f"freeze={freeze},optim.lr={lr},seed={seed}")
    return root


def test_selection_reads_validation_only_and_writes_one_csv_per_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bertfreeze.selection import main as select_main

    sweep = fake_selection_sweep(tmp_path / "sweep")
    out = tmp_path / "results" / "selection"
    assert select_main([str(sweep), "--param", "optim.lr", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["bitfit_lr.csv", "lora_lr.csv"]
    for name in ("lora", "bitfit"):
        table = pd.read_csv(out / f"{name}_lr.csv")
        assert list(table.columns) == ["lr", "seed", "val_accuracy"]  # no test column
        assert len(table) == 6 and sorted(table["seed"].unique()) == [100, 101]
    assert "lora: optim.lr: best mean validation accuracy at 0.001" in printed
    assert "bitfit: optim.lr: best mean validation accuracy at 0.001" in printed  # not 0.01


def test_select_peft_lr_experiment_composes() -> None:
    cfg = compose_train(["experiment=select_peft_lr"])
    params = cfg.hydra.sweeper.params
    assert set(str(params["freeze"]).split(",")) == {"lora", "bitfit", "ia3"}
    # freeze.lr, not optim.lr: the shipped lr must not enter a selection run's config hash
    assert "optim.lr" not in params
    lrs = [float(v) for v in str(params["freeze.lr"]).split(",")]
    assert min(lrs) <= 4e-4 and max(lrs) >= 3e-3  # spans the literature defaults
    assert "range(100" in str(params["seed"])  # not the report's seeds 0-9
    job = compose_train(["experiment=select_peft_lr", "freeze=lora", "freeze.lr=1e-4"])
    assert job.optim.lr == 1e-4  # the swept value is the lr that trains
