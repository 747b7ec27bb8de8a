"""Reliability: clear config errors, sweeps that survive a kill, failures recorded, no leakage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_bert import kill_mid_sweep_then_rerun, run_cli, tiny_overrides

from bertfreeze.datamodule import RowInputs, TextDataModule
from bertfreeze.feature_cache import tokenize
from bertfreeze.lit_module import ClassifierModule, NonFiniteLossError
from bertfreeze.model import TextClassifier, load_backbone
from bertfreeze.paths import REPO_ROOT
from bertfreeze.splits import Split


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("freeze=foo", "Could not find 'freeze/foo'"),
        ("freeze=top_k freeze.k=9", "backbone has 4 encoder layers"),
        ("optim.lr=0", "optim.lr=0 must be a positive learning rate"),
        ("data.batch_size=-4", "data.batch_size=-4 must be a positive integer"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0 must be a positive integer"),
        ("model.pretrained=/nonexistent/model", "folder not found"),
        ("model.pretrained=no-such-org/no-such-model", "offline and not in the local cache"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, override: str, expected: str
) -> None:
    run_dir = tmp_path / "run"
    args = [
        "train.py",
        *tiny_overrides(tiny_bert, tiny_data),
        *override.split(),
        f"hydra.run.dir={run_dir}",
    ]
    env = {"HF_HUB_OFFLINE": "1", "BERTFREEZE_CACHE": str(tmp_path / "cache")}
    res = run_cli(args, REPO_ROOT, env)
    assert res.returncode == 2, res.stderr[-2000:]
    assert expected in res.stderr
    assert "Traceback" not in res.stderr
    assert not run_dir.exists() or not any(
        p.name in {"metrics.json", "status.json"} for p in run_dir.iterdir()
    )


def test_not_a_model_folder(tiny_data: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake_model"
    fake.mkdir()
    (fake / "README.md").write_text("not a model")
    res = run_cli(
        [
            "train.py",
            f"model.pretrained={fake}",
            f"data.path={tiny_data}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        REPO_ROOT,
    )
    assert (
        res.returncode == 2
        and "is not a model folder" in res.stderr
        and "Traceback" not in res.stderr
    )


def test_failed_run_is_recorded_and_sweep_goes_on(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """freeze=top_k with k beyond the depth fails one job; the others complete; exit is non-zero."""
    sweep = tmp_path / "sweep"
    args = [
        "train.py",
        "-m",
        "freeze=top_k",
        "freeze.k=1,9",
        *tiny_overrides(tiny_bert, tiny_data),
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    ]
    res = run_cli(args, REPO_ROOT, {"BERTFREEZE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 1
    assert "1 completed, 1 failed" in res.stderr
    statuses = {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/status.json")}
    failed = [d for d, s in statuses.items() if s["status"] == "failed"]
    assert len(failed) == 1 and "freeze.k=9" in failed[0]
    assert "encoder layers" in statuses[failed[0]]["error"]
    assert not (sweep / failed[0] / "metrics.json").exists()


def _tiny_module(tiny_bert: Path) -> ClassifierModule:
    encoder, _ = load_backbone(str(tiny_bert))
    return ClassifierModule(TextClassifier(encoder, "cls"), {"lr": 1e-3, "head_lr": 1e-3})


def test_non_finite_loss_stops_the_run(tiny_bert: Path) -> None:
    module = _tiny_module(tiny_bert)
    with torch.no_grad():
        module.classifier.head.weight.fill_(float("nan"))
    batch = {
        "input_ids": torch.ones(2, 5, dtype=torch.long),
        "attention_mask": torch.ones(2, 5, dtype=torch.long),
        "labels": torch.tensor([0, 1]),
    }
    with pytest.raises(NonFiniteLossError):
        module.training_step(batch, 0)


@pytest.mark.slow  # minutes on 2 cores: CI runs it (make test-all)
def test_sweep_survives_sigkill_and_resumes(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """Kill a sweep mid-way, rerun the same command: each pair completes exactly once."""
    sweep = tmp_path / "sweep"
    args = [
        "train.py",
        "-m",
        "freeze=none,all",
        "seed=range(2)",
        *tiny_overrides(tiny_bert, tiny_data),
        "trainer.max_epochs=6",
        f"hydra.sweep.dir={sweep}",
    ]
    before, _, metrics = kill_mid_sweep_then_rerun(args, sweep, tmp_path / "cache", n_jobs=4)
    assert sorted((m["freeze"], m["seed"]) for m in metrics) == [
        ("all", 0),
        ("all", 1),
        ("none", 0),
        ("none", 1),
    ]
    resumed = [m for m in metrics if m["resumed_from_checkpoint"]]
    assert len(resumed) + len(before) <= 4


@pytest.mark.slow  # ~35 s on 2 cores
def test_config_change_means_new_run(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = [
        "train.py",
        *tiny_overrides(tiny_bert, tiny_data),
        "freeze=all",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run_dir}",
    ]
    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache")}
    assert run_cli(base, REPO_ROOT, env).returncode == 0
    first = json.loads((run_dir / "metrics.json").read_text())
    res = run_cli([*base, "optim.head_lr=0.5"], REPO_ROOT, env)
    assert res.returncode == 0 and "skip" not in res.stdout
    second = json.loads((run_dir / "metrics.json").read_text())
    assert second["config_hash"] != first["config_hash"] and second["head_lr"] == 0.5
    assert (run_dir / ".superseded" / first["config_hash"] / "metrics.json").is_file()


def test_test_rows_never_reach_training_or_validation(tiny_bert: Path, tiny_data: Path) -> None:
    import pandas as pd

    _, tok = load_backbone(str(tiny_bert))
    texts = pd.read_csv(tiny_data)["text"].tolist()
    labels = pd.read_csv(tiny_data)["target"].to_numpy()
    split = Split(np.arange(0, 150), np.arange(150, 190), np.arange(190, len(texts)))
    dm = TextDataModule(
        RowInputs("tokens", tokenize(texts, tok, 32, use_cache=False)), labels, split, batch_size=16
    )
    seen = {
        name: {int(i) for b in getattr(dm, f"{name}_dataloader")() for i in b["idx"]}
        for name in ("train", "val", "test")
    }
    assert seen["train"] == set(split.train.tolist()) and seen["val"] == set(split.val.tolist())
    assert not (seen["test"] & (seen["train"] | seen["val"]))


def test_model_selection_sees_validation_only() -> None:
    from hydra import compose, initialize_config_dir

    from bertfreeze.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train")
    monitors = [cb.get("monitor") for cb in cfg.callbacks.values() if cb and "monitor" in cb]
    assert monitors and all(m.startswith("val/") for m in monitors)


def test_user_error_on_rerun_keeps_earlier_results(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    base = [
        "train.py",
        *tiny_overrides(tiny_bert, tiny_data),
        "freeze=top_k",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run_dir}",
    ]
    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache")}
    assert run_cli(base, REPO_ROOT, env).returncode == 0
    res = run_cli([*base, "freeze.k=9"], REPO_ROOT, env)
    assert res.returncode == 2 and "encoder layers" in res.stderr
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert json.loads((run_dir / "metrics.json").read_text())["freeze"] == "top2"
