"""One training run from a composed Hydra config: data -> model -> freeze -> cache -> fit -> test.

Everything a run produces lands in its own directory; ``metrics.json`` is written last and
atomically, so its presence means the run completed.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict
from safetensors.torch import save_file

from bertfreeze import runs
from bertfreeze.atomic import atomic_write_csv
from bertfreeze.build import build_classifier, build_inputs, build_run
from bertfreeze.config_checks import check_train_config
from bertfreeze.console import run_label
from bertfreeze.data import DataSpec, file_sha256, load_dataset
from bertfreeze.datamodule import TextDataModule
from bertfreeze.epoch_line import EpochProgressLine
from bertfreeze.errors import UserError
from bertfreeze.freeze import FreezePlan, count_parameters
from bertfreeze.lit_module import ClassifierModule
from bertfreeze.model import resolve_pretrained
from bertfreeze.precision import (
    PrecisionChoice,
    cpu_bf16_isa,
    resolve_cache_bf16,
    resolve_precision,
)
from bertfreeze.schema import RunRecord, metric_block
from bertfreeze.splits import Split, make_split
from bertfreeze.worker_exit import ReleaseProcessGroup

log = logging.getLogger(__name__)


def validate_config(cfg: DictConfig) -> None:
    """Refuse nonsense before any work: one line naming the key and a fix."""
    check_train_config(cfg)  # the torch-free checks the CLI already ran (API callers too)
    checks = {
        "data.batch_size": cfg.data.batch_size,
        "data.eval_batch_size": cfg.data.eval_batch_size,
        "data.max_length": cfg.data.max_length,
        "trainer.max_epochs": cfg.trainer.max_epochs,
    }
    for key, value in checks.items():
        if not isinstance(value, int) or value <= 0:
            raise UserError(f"{key}={value} must be a positive integer")
    for key in ("lr", "head_lr"):
        value = cfg.optim.get(key)
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise UserError(f"optim.{key}={value} must be a positive learning rate")
    if cfg.get("cv") and cfg.get("fold") is None:
        raise UserError(
            "cv=true runs one job per fold: python train.py -m experiment=cv freeze=all "
            f"(or cv=true 'fold=range({cfg.data.n_folds})')"
        )
    if not 0 <= float(cfg.optim.warmup_ratio) < 1:
        raise UserError(f"optim.warmup_ratio={cfg.optim.warmup_ratio} must be in [0, 1)")


def apply_precision(cfg: DictConfig) -> PrecisionChoice:
    """Resolve ``trainer.precision``/``cache.bf16`` = auto in place, before the config is hashed.

    The hash then names what actually ran, so an fp32 run on one CPU and a bf16 run on
    another are never mistaken for the same recipe.
    """
    choice = resolve_precision(cfg.trainer.precision, cfg.trainer.get("accelerator"))
    with open_dict(cfg):
        cfg.trainer.precision = choice.precision
        cfg.cache.bf16 = resolve_cache_bf16(cfg.cache.get("bf16", "auto"), choice)
    log.info(
        "precision %s (asked %s; %s, cpu capability %s, native bf16 %s)",
        choice.precision,
        choice.requested,
        choice.device,
        choice.cpu_capability,
        choice.native_bf16,
    )
    return choice


def _loadable(ckpt: Path) -> bool:
    """A checkpoint cut short by a kill must not crash the resumed run: start afresh instead."""
    try:
        torch.load(ckpt, map_location="cpu", weights_only=True)
        return True
    except Exception:  # noqa: BLE001 - any unreadable checkpoint means "no checkpoint"
        log.warning("checkpoint %s is unreadable; training from scratch", ckpt)
        return False


def instantiate_all(node: DictConfig | None) -> list[Any]:
    if not node:
        return []
    return [hydra.utils.instantiate(v) for v in node.values() if v is not None and "_target_" in v]


def _write_predictions(path: Path, df: pd.DataFrame, outputs: dict[str, torch.Tensor]) -> None:
    idx = outputs["idx"].numpy()
    prob = outputs["prob"].numpy()
    pred = pd.DataFrame(
        {
            "id": df["id"].to_numpy()[idx],
            "prob": prob,
            "pred": (prob >= 0.5).astype(int),
            "label": df["label"].to_numpy()[idx],
        }
    )
    atomic_write_csv(pred, path)


def _load_tested_weights(module: ClassifierModule, best: str | None) -> None:
    """After ddp_spawn the main process holds the last epoch's weights: load the best ones."""
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state, strict=False)


_metric_block = metric_block  # the registry's reader of Lightning's logged metrics


def spawns_workers(cfg: DictConfig) -> bool:
    """Does the strategy start fresh worker processes (ddp_spawn, ddp_fork, ddp_notebook)?
    Decided from the config (public), not from Lightning's private launcher classes."""
    strategy = cfg.trainer.get("strategy", "auto")
    name = strategy if isinstance(strategy, str) else str(strategy.get("_target_", ""))
    if not isinstance(strategy, str):
        name += str(strategy.get("start_method", ""))
    return any(word in name for word in ("spawn", "fork", "notebook"))


def fit_callbacks(cfg: DictConfig) -> list[Any]:
    """The config's callbacks plus the ones a run's own settings call for."""
    callbacks = instantiate_all(cfg.get("callbacks"))
    if not cfg.trainer.enable_progress_bar:  # quiet: one live line per run instead of bars
        callbacks.append(EpochProgressLine(run_label(cfg.freeze.name, cfg.seed, cfg.get("fold"))))
    # a process group (if any) is released by its rank, not by the interpreter's exit
    callbacks.append(ReleaseProcessGroup("fit_end" if spawns_workers(cfg) else "exit"))
    return callbacks


@dataclass
class FitResult:
    """What a fit + final validation/test leaves behind."""

    val: dict[str, float]
    test: dict[str, float]
    outputs: dict[str, torch.Tensor]
    best_epoch: int | None
    fit_s: float
    epochs_run: int
    is_global_zero: bool


def prepare_run_dir(run_dir: Path, chash: str, resume_command: str | None = None) -> Path | None:
    """Move aside results of another config, keep a resumable checkpoint, mark the run running.

    Returns the checkpoint to resume from (same config hash, readable), if any.
    """
    lead = rank_zero_only.rank == 0  # other ranks of a ddp/srun launch leave bookkeeping to rank 0
    done = runs.completed_metrics(run_dir)
    if lead and done and done.get("config_hash") != chash:
        moved = runs.supersede(run_dir, str(done.get("config_hash")))
        log.warning("config changed: previous results of %s moved to %s", run_dir, moved)
    status = runs.read_json(run_dir / "status.json") or {}
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    same = status.get("config_hash") == chash
    resume = ckpt if ckpt.is_file() and same and _loadable(ckpt) else None
    if lead and ckpt.is_file() and resume is None:
        ckpt.unlink()
    if lead:
        runs.mark_running(run_dir, chash, resume_command)
    if resume is not None:
        log.info("resuming %s from %s", run_dir, resume)
        print(f"resume from checkpoint: {resume}")
    return resume


def fit_and_score(
    cfg: DictConfig, module: ClassifierModule, dm: TextDataModule, resume: Path | None
) -> FitResult:
    """Fit (model selection on validation only), then score val and test once with the best weights."""
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, logger=loggers or False, callbacks=fit_callbacks(cfg)
    )
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume else None)
    fit_s = time.perf_counter() - t0
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    best_epoch = None
    if best and Path(best).is_file():
        best_epoch = int(torch.load(best, map_location="cpu", weights_only=True).get("epoch", -1))
    epochs = int(trainer.current_epoch or cfg.trainer.max_epochs)
    if spawns_workers(cfg):
        # ddp_spawn: score here, in one process, with the best weights. Spawning workers again
        # per stage only adds gloo teardown risk, and their fresh logger copies would delete
        # the fit's csv log; one process also scores every row exactly once.
        _load_tested_weights(module, best)
        trainer = L.Trainer(
            accelerator=cfg.trainer.accelerator,
            devices=1,
            precision=cfg.trainer.precision,
            logger=False,
            enable_progress_bar=bool(cfg.trainer.enable_progress_bar),
            enable_model_summary=False,
        )
        best = None
    val = {}
    if len(dm.split.val):
        val = _metric_block(
            trainer.validate(module, datamodule=dm, ckpt_path=best, verbose=False)[0], "val"
        )
    if not cfg.get("score_test", True):  # a selection run: the test rows are never scored
        return FitResult(val, {}, {}, best_epoch, fit_s, epochs, trainer.is_global_zero)
    test = _metric_block(
        trainer.test(module, datamodule=dm, ckpt_path=best, verbose=False)[0], "test"
    )
    outputs = module.gathered_test_outputs()
    return FitResult(val, test, outputs, best_epoch, fit_s, epochs, trainer.is_global_zero)


def metrics_record(
    cfg: DictConfig,
    run_dir: Path,
    recipe: dict[str, Any],
    data: dict[str, Any],
    plan: FreezePlan,
    params: tuple[int, int],
    cached: bool,
    result: FitResult,
    wall_s: float,
    resumed: bool,
    precision: PrecisionChoice,
    earlier_attempts_s: float = 0.0,
) -> dict[str, Any]:
    """The self-describing ``metrics.json`` (schema: docs/schemas.md)."""
    n_seen = data["n_train"] * result.epochs_run
    fold = cfg.get("fold")
    return {
        "schema_version": 1,
        "status": "completed",
        "run_dir": str(run_dir),
        "config_hash": runs.config_hash(recipe),
        "experiment": cfg.get("experiment_name", "default"),
        "backbone": cfg.model.name,
        "pretrained": resolve_pretrained(str(cfg.model.pretrained)),
        "freeze": cfg.freeze.name,
        "freeze_method": plan.method,
        "trainable_layers": list(plan.trainable_layers),
        "embeddings_trainable": plan.embeddings,
        "pooler_trainable": plan.pooler,
        "n_layers": plan.n_layers,
        "pooling": cfg.model.pooling,
        "head": cfg.model.head,
        "seed": int(cfg.seed),
        "fold": None if fold is None else int(fold),
        "lr": float(cfg.optim.lr),
        "head_lr": float(cfg.optim.head_lr or cfg.optim.lr),
        "optimizer": cfg.optim.name,
        "weight_decay": float(cfg.optim.weight_decay),
        "warmup_ratio": float(cfg.optim.warmup_ratio),
        "layerwise_lr_decay": float(cfg.optim.layerwise_lr_decay),
        "max_length": int(cfg.data.max_length),
        "batch_size": int(cfg.data.batch_size),
        "epochs": int(cfg.trainer.max_epochs),
        "precision": str(cfg.trainer.precision),
        "precision_requested": precision.requested,
        "cpu_capability": precision.cpu_capability,
        "native_bf16": precision.native_bf16,
        "cpu_bf16_isa": cpu_bf16_isa(),
        "cache": cached,
        "trainable_params": params[0],
        "total_params": params[1],
        "wall_time_s": round(wall_s, 3),  # across resumes (earlier attempts included)
        "earlier_attempts_s": round(earlier_attempts_s, 3),
        "fit_time_s": round(result.fit_s, 3),
        "samples_per_s": round(n_seen / result.fit_s, 2) if result.fit_s > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "best_epoch": result.best_epoch,
        "resumed_from_checkpoint": resumed,
        "data": data,
        "val": result.val,
        "test": result.test,  # {} when score_test=false
        "test_scored": bool(cfg.get("score_test", True)),
        "versions": runs.versions(),
        "git_commit": runs.git_commit(),
        "config": runs.flatten(recipe),
    }


def train(
    cfg: DictConfig, run_dir: Path, resume_command: str | None = None
) -> dict[str, Any] | None:
    """Train and test one configuration in ``run_dir``; returns its metrics (None off rank 0).

    ``resume_command`` is recorded in ``status.json`` so an interrupted run says how to resume.
    """
    t_start = time.perf_counter()
    validate_config(cfg)
    precision = apply_precision(cfg)
    data_spec = DataSpec.from_cfg(cfg.data)
    df = load_dataset(data_spec)
    data_sha = file_sha256(data_spec.path)
    recipe = runs.recipe(cfg, data_sha)
    chash = runs.config_hash(recipe)
    done = runs.completed_metrics(run_dir)
    if done and not done.get("test") and cfg.get("score_test", True):
        done = None  # finished without scoring test (score_test=false): train it again to score it
    if done and done.get("config_hash") == chash and cfg.skip_completed:
        log.info("skipping %s: completed with the same config (hash %s)", run_dir, chash)
        print(f"skip (already completed, config {chash}): {run_dir}")
        if rank_zero_only.rank == 0:
            runs.mark_skipped(run_dir, chash)
        return done
    reused = _reuse_identical(cfg, run_dir, recipe, chash, resume_command)
    if reused is not None:
        return reused or None  # {} off rank 0, as a trained run returns None there
    L.seed_everything(int(cfg.seed), workers=True)  # every seed, 0 included
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    fold = cfg.get("fold")
    split: Split = make_split(df, cfg.data, fold=None if fold is None else int(fold))
    clf, tokenizer, plan = build_classifier(cfg, quiet=bool(cfg.get("quiet", False)))
    params = count_parameters(clf)
    log.info(
        "parameters: %d trainable of %d (freeze=%s, layers %s)",
        *params,
        cfg.freeze.name,
        list(plan.trainable_layers),
    )
    # Only now, with data, split and model known to be valid, touch the run directory.
    resume = prepare_run_dir(run_dir, chash, resume_command)
    built = build_run(
        cfg,
        df["text"].tolist(),
        df["label"].to_numpy(),
        split,
        run_config={"config_hash": chash, "recipe": recipe},
        built=(clf, tokenizer, plan),
    )
    module, dm, cached = built.module, built.datamodule, built.cached
    module.attempt_started = t_start
    result = fit_and_score(cfg, module, dm, resume)
    if not result.is_global_zero:
        return None

    if result.outputs:  # score_test=false: no test predictions to write
        _write_predictions(run_dir / "predictions.csv", df, result.outputs)
    if cfg.keep_weights:
        state = {
            k: v.detach().cpu().contiguous()
            for k, v in module.trainable_state_dict().items()
            if k.startswith("classifier.")
        }
        save_file(state, str(run_dir / "trainable.safetensors"))
    split_kind = (
        "fold" if fold is not None else ("holdout_ids" if cfg.data.holdout_ids else "holdout")
    )
    data = {
        "name": cfg.data.name,
        "path": str(data_spec.path),
        "sha256": data_sha,
        "n_rows": len(df),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "split": split_kind,
    }
    wall = module.elapsed_s()  # this attempt, plus earlier ones when resumed
    metrics = metrics_record(
        cfg,
        run_dir,
        recipe,
        data,
        plan,
        params,
        cached,
        result,
        wall,
        resume is not None,
        precision,
        earlier_attempts_s=module.earlier_attempts_s,
    )
    RunRecord(metrics).write(run_dir)
    runs.mark_completed(run_dir, chash)
    for f in (run_dir / "checkpoints").glob("*.ckpt"):
        f.unlink()
    return metrics


def _reuse_identical(
    cfg: DictConfig,
    run_dir: Path,
    recipe: dict[str, Any],
    chash: str,
    resume_command: str | None,
) -> dict[str, Any] | None:
    """With ``reuse_from`` set, a finished run there that trains exactly this recipe (labels
    aside: :data:`bertfreeze.runs.LABEL_KEYS`) is recorded as this run instead of training it
    again, e.g. the depth study's ``top2`` from the main study's ``last2``. None: train."""
    pools = [Path(str(p)) for p in (cfg.get("reuse_from") or [])]
    flat = runs.flatten(recipe)
    source = runs.find_identical(pools, flat) if pools else None
    if source is None or source.resolve() == run_dir.resolve():
        return None
    if rank_zero_only.rank != 0:
        return {}
    prepare_run_dir(run_dir, chash, resume_command)  # moves another config's results aside
    labels = {
        "run_dir": str(run_dir),
        "experiment": cfg.get("experiment_name", "default"),
        "freeze": cfg.freeze.name,
        "config": flat,
    }
    metrics = runs.adopt(run_dir, source, chash, labels)
    log.info("reused %s for %s: identical recipe (config %s)", source, run_dir, chash)
    print(f"reuse (identical recipe, config {chash}): {metrics['reused_from']} -> {run_dir}")
    return metrics


#: Kept for callers of the old name; the lifecycle lives in :mod:`bertfreeze.runs`.
record_failure = runs.mark_failed


__all__ = ["build_classifier", "build_inputs", "record_failure", "train"]  # old import paths
