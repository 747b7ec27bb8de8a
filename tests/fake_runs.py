"""Generate fake sweeps and baselines dirs that follow docs/schemas.md exactly.

Used by the report tests (and handy by hand: ``python -m tests.fake_runs outputs/fake-sweep``).
Accuracies are drawn around the paper's per-mode means so the numbers look realistic.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Mean test accuracy per freeze mode (≈ the paper's Table 2) and per-seed sd.
MODE_MEANS = {"all": 0.824, "none": 0.831, "last2": 0.833, "top1": 0.826, "top3": 0.830}
LAYERS = 6  # MiniLM-L6 encoder layers


def trainable_layers(freeze: str, n_layers: int = LAYERS) -> list[int]:
    if freeze == "all":
        return []
    if freeze == "none":
        return list(range(n_layers))
    if freeze.startswith(("last", "top")):
        k = int(freeze.removeprefix("last").removeprefix("top"))
        return list(range(n_layers - k, n_layers))
    if freeze.startswith("first"):
        return list(range(int(freeze.removeprefix("first"))))
    raise ValueError(freeze)


def _scores(acc: float, rng: np.random.Generator) -> dict[str, float]:
    precision = float(np.clip(acc - 0.05 + rng.normal(0, 0.01), 0, 1))
    recall = float(np.clip(acc + 0.02 + rng.normal(0, 0.02), 0, 1))
    f1 = 2 * precision * recall / (precision + recall)
    return {
        "accuracy": acc,
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "auroc": float(min(acc + 0.05, 1.0)),
        "loss": float(1.2 - acc),
    }


def metrics_record(
    run_dir: str | Path,
    *,
    freeze: str = "all",
    seed: int = 0,
    backbone: str = "minilm",
    accuracy: float | None = None,
    fold: int | None = None,
    rng: np.random.Generator | None = None,
    data_name: str = "tweets",
    n_layers: int = LAYERS,
    **overrides: Any,
) -> dict[str, Any]:
    """One metrics.json as the training code writes it (schema_version 1)."""
    rng = rng or np.random.default_rng(seed)
    if accuracy is None:
        accuracy = float(np.clip(MODE_MEANS.get(freeze, 0.82) + rng.normal(0, 0.015), 0, 1))
    layers = trainable_layers(freeze, n_layers)
    rec: dict[str, Any] = {
        "schema_version": 1,
        "status": "completed",
        "run_dir": str(run_dir),
        "config_hash": hashlib.sha256(
            f"{backbone}|{freeze}|{seed}|{fold}|{data_name}|{sorted(overrides.items())}".encode()
        ).hexdigest()[:12],
        "experiment": "default",
        "backbone": backbone,
        "pretrained": f"/models/{backbone}/model",
        "freeze": freeze,
        "trainable_layers": layers,
        "embeddings_trainable": freeze == "none",
        "pooler_trainable": False,
        "n_layers": n_layers,
        "pooling": "mean",
        "head": "sigmoid",
        "seed": seed,
        "fold": fold,
        "lr": 5e-5,
        "head_lr": 3e-2 if freeze == "all" else 1e-3,  # conf/freeze/all.yaml sets its own
        "optimizer": "adamw",
        "weight_decay": 0.0,
        "warmup_ratio": 0.1,
        "layerwise_lr_decay": 1.0,
        "max_length": 128,
        "batch_size": 32,
        "epochs": 3,
        "precision": "32-true",
        "cache": freeze != "none",
        "trainable_params": 385 + 1_800_000 * len(layers),
        "total_params": 22_713_601,
        "wall_time_s": 12.3,
        "fit_time_s": 11.0,
        "peak_rss_mb": 900.0,
        "samples_per_s": 1500.0,
        "best_epoch": 2,
        "resumed_from_checkpoint": False,
        "data": {
            "name": data_name,
            "path": "/data/train.csv",
            "sha256": "0" * 64,
            "n_rows": 7613,
            "n_train": 6165,
            "n_val": 686,
            "n_test": 762,
            "split": "holdout" if fold is None else "fold",
        },
        "val": _scores(accuracy, rng),
        "test": _scores(accuracy, rng),
        "versions": {
            "bertfreeze": "0.1.0",
            "torch": "2.13.0",
            "transformers": "5.0.0",
            "lightning": "2.6.0",
            "python": "3.11.9",
        },
        "git_commit": "abc123",
        "config": {
            "model.name": backbone,
            "freeze.name": freeze,
            "seed": seed,
            "optim.lr": 5e-5,
            "optim.head_lr": 3e-2 if freeze == "all" else 1e-3,
            "optim.betas": [0.9, 0.999],
            "freeze.layers": "none" if freeze == "all" else freeze,
            "data.name": data_name,
            "data.max_length": 128,
            "data.num_workers": 0,
            "trainer.max_epochs": 3,
        },
    }
    for key, value in overrides.items():
        if key == "config":  # config={"cache.enabled": False}: flattened config keys
            rec["config"].update(value)
            continue
        if key in ("lr", "head_lr"):
            rec["config"][f"optim.{key}"] = value
        rec[key] = value
    return rec


def _hydra_files(run: Path, freeze: str, seed: int, backbone: str) -> None:
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(
        f"model:\n  name: {backbone}\nfreeze:\n  name: {freeze}\nseed: {seed}\n"
    )
    (run / ".hydra" / "overrides.yaml").write_text(f"- freeze={freeze}\n- seed={seed}\n")


def write_run(root: str | Path, *, freeze: str, seed: int, **kwargs: Any) -> Path:
    """A completed run dir (metrics.json, status.json, .hydra/, predictions.csv)."""
    name = f"freeze={freeze},seed={seed}"
    if kwargs.get("fold") is not None:
        name += f",fold={kwargs['fold']}"
    run = Path(root) / name
    run.mkdir(parents=True, exist_ok=True)
    rec = metrics_record(run, freeze=freeze, seed=seed, **kwargs)
    _hydra_files(run, freeze, seed, rec["backbone"])
    (run / "metrics.json").write_text(json.dumps(rec, indent=2))
    (run / "status.json").write_text(
        json.dumps({"status": "completed", "config_hash": rec["config_hash"]})
    )
    (run / "predictions.csv").write_text("id,prob,pred,label\n1,0.9,1,1\n2,0.2,0,0\n")
    return run


def write_failed_run(root: str | Path, *, freeze: str, seed: int, backbone: str = "minilm") -> Path:
    run = Path(root) / f"freeze={freeze},seed={seed}"
    run.mkdir(parents=True, exist_ok=True)
    _hydra_files(run, freeze, seed, backbone)
    (run / "status.json").write_text(
        json.dumps(
            {
                "status": "failed",
                "error": "RuntimeError: CUDA out of memory",
                "config_hash": "deadbeef0000",
            }
        )
    )
    return run


def write_corrupt_run(
    root: str | Path, *, freeze: str, seed: int, backbone: str = "minilm"
) -> Path:
    run = Path(root) / f"freeze={freeze},seed={seed}"
    run.mkdir(parents=True, exist_ok=True)
    _hydra_files(run, freeze, seed, backbone)
    (run / "metrics.json").write_text('{"schema_version": 1, "status": "compl')  # truncated
    return run


def make_sweep(
    root: str | Path,
    *,
    modes: Sequence[str] = ("all", "none", "last2"),
    seeds: Iterable[int] = range(4),
    backbone: str = "minilm",
    missing: Iterable[tuple[str, int]] = (),
    failed: Iterable[tuple[str, int]] = (),
    corrupt: Iterable[tuple[str, int]] = (),
    seed: int = 0,
    **fields: Any,
) -> Path:
    """A sweep dir with one run per (mode, seed); chosen combinations left out, failed or corrupt."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    missing, failed, corrupt = set(missing), set(failed), set(corrupt)
    for mode in modes:
        for s in seeds:
            if (mode, s) in missing:
                continue
            if (mode, s) in failed:
                write_failed_run(root, freeze=mode, seed=s, backbone=backbone)
            elif (mode, s) in corrupt:
                write_corrupt_run(root, freeze=mode, seed=s, backbone=backbone)
            else:
                write_run(root, freeze=mode, seed=s, backbone=backbone, rng=rng, **fields)
    return root


def make_standard_sweep(root: str | Path) -> Path:
    """3 modes x 4 seeds with one missing, one failed and one corrupt combination."""
    return make_sweep(
        root,
        missing=[("last2", 3)],
        failed=[("none", 3)],
        corrupt=[("all", 3)],
    )


def make_baselines(
    root: str | Path, *, n_folds: int = 10, seed: int = 0, data_name: str = "tweets"
) -> Path:
    """A baselines run dir as `make baselines` leaves it: folds.csv, summary.json, meta.json."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    means = {"tfidf": 0.795, "count": 0.796, "hashing": 0.793}
    rows = ["features,fold,accuracy,f1,precision,recall,roc_auc"]
    summary: dict[str, Any] = {}
    for feats, mean in means.items():
        accs, f1s = [], []
        for fold in range(n_folds):
            acc = float(mean + rng.normal(0, 0.014))
            f1 = float(acc - 0.05 + rng.normal(0, 0.01))
            accs.append(acc)
            f1s.append(f1)
            rows.append(f"{feats},{fold},{acc:.6f},{f1:.6f},0.80,0.69,0.86")
        summary[feats] = {
            "accuracy_mean": float(np.mean(accs)),
            "accuracy_std": float(np.std(accs, ddof=1)),
            "f1_mean": float(np.mean(f1s)),
            "f1_std": float(np.std(f1s, ddof=1)),
            "n_folds": n_folds,
        }
    meta = {
        "schema_version": 1,
        "kind": "baselines",
        "data": {"name": data_name, "path": "/data/train.csv", "sha256": "0" * 64},
        "features": list(means),
        "preprocess": "none",
        "n_folds": n_folds,
        "split_seed": 42,
    }
    (root / "folds.csv").write_text("\n".join(rows) + "\n")
    (root / "summary.json").write_text(json.dumps(summary, indent=2))
    (root / "meta.json").write_text(json.dumps(meta, indent=2))
    return root


if __name__ == "__main__":  # pragma: no cover - manual helper
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/fake")
    make_standard_sweep(out / "sweep")
    make_baselines(out / "baselines" / "2024-01-01_00-00-00")
    print(out)
