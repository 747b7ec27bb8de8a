"""Predictions from a finished run: a Kaggle submission (``id,target``) and probabilities.

A run directory holds ``metrics.json`` (completed), ``trainable.safetensors`` (the weights that
trained, keys prefixed ``classifier.``) and ``.hydra/config.yaml`` (its config). The classifier is
rebuilt exactly as trained: the backbone named in ``metrics.json`` (``pretrained``), the run's
``model`` and ``freeze`` config, then the trained weights with strict key checking. Given a sweep
directory, the best completed run is chosen on a *validation* metric — never on test.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file

from bertfreeze import runs
from bertfreeze.atomic import atomic_write_csv
from bertfreeze.build import build_classifier
from bertfreeze.data import DataSpec, file_sha256, parse_table, prepare_texts, read_text_file
from bertfreeze.datamodule import RowInputs, TextDataModule
from bertfreeze.errors import UserError
from bertfreeze.feature_cache import tokenize
from bertfreeze.lit_module import ClassifierModule
from bertfreeze.model import TextClassifier
from bertfreeze.schema import METRICS, canonical_keys

log = logging.getLogger(__name__)

WEIGHTS = "trainable.safetensors"
CONFIG = Path(".hydra") / "config.yaml"
#: Validation metrics a sweep's best run can be chosen on, and whether higher is better.
SELECT_METRICS = {name: m.higher_is_better for name, m in METRICS.items()}


@dataclass(frozen=True)
class Candidate:
    run_dir: Path
    metrics: dict[str, Any]

    def val(self, metric: str) -> float | None:
        value = canonical_keys(self.metrics.get("val") or {}).get(metric)
        return None if value is None or not math.isfinite(float(value)) else float(value)


@dataclass(frozen=True)
class Selection:
    """The run to predict with, and a one-paragraph reason."""

    run_dir: Path
    metrics: dict[str, Any]
    reason: str


def _is_run_dir(path: Path) -> bool:
    return (path / "metrics.json").is_file() or (path / "status.json").is_file()


def _missing_files(run_dir: Path) -> list[str]:
    return [str(name) for name in (WEIGHTS, CONFIG) if not (run_dir / name).is_file()]


def _check_run(run_dir: Path, metrics: dict[str, Any] | None) -> dict[str, Any]:
    if metrics is None:
        status = (runs.read_json(run_dir / "status.json") or {}).get("status", "unknown")
        raise UserError(
            f"run_dir={run_dir} has not completed (status: {status}, no metrics.json) — "
            f"finish it (rerun the training command) or pick a completed run"
        )
    missing = _missing_files(run_dir)
    if missing:
        hint = " (it was trained with keep_weights=false)" if WEIGHTS in missing else ""
        raise UserError(
            f"run_dir={run_dir} lacks {', '.join(missing)}{hint} — retrain it with "
            f"keep_weights=true or pick another run"
        )
    return metrics


def select_run(path: str | Path, metric: str = "accuracy") -> Selection:
    """A finished run as given, or the best completed run below a sweep dir on validation ``metric``."""
    if metric not in SELECT_METRICS:
        raise UserError(
            f"select_metric={metric!r} is unknown — use one of {sorted(SELECT_METRICS)}"
        )
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(
            f"run_dir={path} does not exist — give a finished run "
            f"(outputs/runs/<name>/<overrides>) or a sweep (outputs/sweeps/<name>)"
        )
    if not root.is_dir():
        raise UserError(f"run_dir={path} is a file, not a run or sweep directory")
    if _is_run_dir(root):
        metrics = _check_run(root, runs.completed_metrics(root))
        return Selection(root, metrics, f"run {root} (given directly)")

    candidates, skipped = [], []
    for run_dir in runs.iter_run_dirs(root):  # skips .superseded/, .submitit/, ...
        metrics = runs.completed_metrics(run_dir)
        if metrics is None:
            continue
        missing = _missing_files(run_dir)
        if missing:
            skipped.append(f"{run_dir.name} (no {', '.join(missing)})")
            continue
        cand = Candidate(run_dir, metrics)
        if cand.val(metric) is None:
            skipped.append(f"{run_dir.name} (no validation {metric})")
            continue
        candidates.append(cand)
    if not candidates:
        why = f"; skipped: {'; '.join(skipped[:5])}" if skipped else ""
        raise UserError(
            f"run_dir={path}: no completed run with {WEIGHTS} and a validation {metric} below it"
            f"{why} — train one (python train.py ...) or point run_dir at a run"
        )
    higher = SELECT_METRICS[metric]

    def key(c: Candidate) -> tuple[float, float, str]:
        value = c.val(metric)
        assert value is not None
        loss = c.val("loss")
        return (-value if higher else value, loss if loss is not None else math.inf, str(c.run_dir))

    ranked = sorted(candidates, key=key)
    best = ranked[0]
    rel = best.run_dir.relative_to(root)
    direction = "highest" if higher else "lowest"
    lines = [
        f"chose {rel} from {len(candidates)} completed run(s) in {root}: {direction} validation "
        f"{metric} ({best.val(metric):.4f}); test metrics are never used to choose",
    ]
    for c in ranked[:5]:
        lines.append(
            f"  {'*' if c is best else ' '} {c.run_dir.relative_to(root)}: val {metric} "
            f"{c.val(metric):.4f}"
        )
    if len(ranked) > 5:
        lines.append(f"    ... {len(ranked) - 5} more")
    if skipped:
        lines.append(f"  skipped {len(skipped)}: {'; '.join(skipped[:3])}")
    return Selection(best.run_dir, best.metrics, "\n".join(lines))


def load_run_config(run_dir: Path) -> DictConfig:
    cfg = OmegaConf.load(run_dir / CONFIG)
    assert isinstance(cfg, DictConfig)
    for key in ("model", "freeze", "data"):
        if key not in cfg:
            raise UserError(
                f"{run_dir / CONFIG} has no {key!r} section — is this a bertfreeze run?"
            )
    return cfg


def _backbone_path(metrics: dict[str, Any], cfg: DictConfig) -> str:
    """The backbone the run was trained from; the config's name when that path is not here."""
    recorded = str(metrics.get("pretrained") or "")
    if recorded and (
        Path(recorded).expanduser().exists() or not recorded.startswith(("/", "~", "."))
    ):
        return recorded
    fallback = str(cfg.model.pretrained)
    log.warning(
        "backbone %s (from metrics.json) is not on this machine; using %s", recorded, fallback
    )
    return fallback


def rebuild_classifier(
    run_dir: Path, metrics: dict[str, Any], cfg: DictConfig
) -> tuple[TextClassifier, Any]:
    """The classifier exactly as trained, in eval mode, with the run's trained weights loaded."""
    clf, tokenizer, _ = build_classifier(cfg, pretrained=_backbone_path(metrics, cfg))
    trained = {n for n, p in clf.named_parameters() if p.requires_grad}
    raw = load_file(str(run_dir / WEIGHTS))
    state = {}
    for key, value in raw.items():
        name = key.removeprefix("classifier.").replace("_orig_mod.", "")  # torch.compile'd runs
        state[name] = value
    own = clf.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(trained - set(state))
    bad_shape = sorted(
        k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if unexpected or missing or bad_shape:
        raise UserError(
            f"{run_dir / WEIGHTS} does not fit the rebuilt model (backbone "
            f"{metrics.get('pretrained')}, freeze={cfg.freeze.get('name')}): "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {bad_shape[:3]} — "
            f"the run's backbone or config differs from this one"
        )
    clf.load_state_dict(state, strict=False)
    return clf.eval(), tokenizer


def read_texts(
    path: Path, data_cfg: Any, id_col: str | None = "auto"
) -> tuple[pd.Series, list[str]]:
    """Ids and model input texts from an unlabelled CSV, prepared like the run's training data."""
    spec = DataSpec.from_cfg({**_plain(data_cfg), "path": str(path)})
    text = read_text_file(path, spec.encoding)
    df = parse_table(path, text, spec)
    ids_from = spec.id_col if id_col == "auto" else id_col
    wanted = [spec.text_col, *spec.extra_text_cols]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {missing}; the file has columns {list(df.columns)[:10]} — "
            f"the run was trained on data.text_col={spec.text_col!r}"
            + (
                f" with extra_text_cols={list(spec.extra_text_cols)}"
                if spec.extra_text_cols
                else ""
            )
        )
    if ids_from and ids_from not in df.columns:
        raise UserError(
            f"{path}: no id column {ids_from!r}; the file has columns {list(df.columns)[:10]} — "
            f"set id_col=<column>, or id_col=null to number the rows"
        )
    texts, empty = prepare_texts(path, df, spec)
    if empty.any():
        log.warning(
            "%d row(s) of %s have empty text; they are predicted from the empty string",
            empty.sum(),
            path,
        )
    ids = (
        df[ids_from].astype(str).str.strip()
        if ids_from
        else pd.Series([str(i) for i in range(len(df))])
    )
    return ids.reset_index(drop=True), texts.tolist()


DATA_KEYS = ("sep", "encoding", "text_col", "id_col", "extra_text_cols", "normalize")


def _plain(node: Any) -> dict[str, Any]:
    """The run's text-preparation settings (not its path: that may be an env interpolation)."""
    out: dict[str, Any] = {}
    for key in DATA_KEYS:
        if key in node:
            value = node[key]
            out[key] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
    return out


def predict_proba(
    clf: TextClassifier,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    batch_size: int = 128,
    device: str = "cpu",
    quiet: bool = False,
    precision: str = "auto",
) -> np.ndarray:
    """P(label = 1) for every text, in input order, through Lightning's predict loop
    (length-sorted batches, dynamic padding; the same DataModule and module as training).

    ``precision`` as in training (``auto``: bf16 only where the hardware has it natively);
    :func:`predict` passes the precision the run was trained with.
    """
    from bertfreeze.precision import resolve_precision

    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    tokens = tokenize(texts, tokenizer, max_length, use_cache=False)
    inputs = RowInputs("tokens", tokens, pad_id=tokenizer.pad_token_id or 0)
    dm = TextDataModule.for_prediction(inputs, batch_size)
    module = ClassifierModule(clf, {"lr": 1.0})  # the optimiser settings are never used here
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=[int(device.split(":")[1])] if device.startswith("cuda:") else 1,
        precision=resolve_precision(precision, accelerator).precision,
        logger=False,
        enable_progress_bar=not quiet,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    outputs = trainer.predict(module, datamodule=dm) or []
    probs = np.zeros(len(texts), dtype=np.float32)
    seen = np.zeros(len(texts), dtype=bool)
    for out in outputs:
        assert isinstance(out, dict)
        probs[out["idx"].numpy()] = out["prob"].numpy()
        seen[out["idx"].numpy()] = True
    missing = int((~seen).sum())
    if missing:  # a sampler that dropped rows would otherwise write made-up predictions
        raise RuntimeError(f"the predict loop returned no probability for {missing} row(s)")
    return probs


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={device} but no CUDA GPU is visible — use device=cpu or auto")
    return device


def proba_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_proba{output.suffix or '.csv'}")


def predict(
    run_dir: str | Path,
    input_path: str | Path,
    output: str | Path,
    select_metric: str = "accuracy",
    batch_size: int = 128,
    threshold: float = 0.5,
    device: str = "auto",
    id_col: str | None = "auto",
    quiet: bool = False,
) -> dict[str, Any]:
    """Choose the run, rebuild it, predict ``input_path`` and write the two CSVs; returns a summary."""
    if not 0 < float(threshold) < 1:
        raise UserError(f"threshold={threshold} must be between 0 and 1")
    if int(batch_size) <= 0:
        raise UserError(f"batch_size={batch_size} must be a positive integer")
    if quiet:  # transformers' own "Loading weights" bar
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    selection = select_run(run_dir, select_metric)
    inp = Path(input_path).expanduser()
    if not inp.exists():
        raise UserError(
            f"input file not found: {inp} — give the Kaggle test.csv (`make data` puts it at "
            f"data/test.csv): input=/path/to/test.csv"
        )
    cfg = load_run_config(selection.run_dir)
    ids, texts = read_texts(inp, cfg.data, id_col)
    clf, tokenizer = rebuild_classifier(selection.run_dir, selection.metrics, cfg)
    prob = predict_proba(
        clf,
        tokenizer,
        texts,
        int(cfg.data.max_length),
        int(batch_size),
        _resolve_device(str(device)),
        quiet,
        str(selection.metrics.get("precision") or "auto"),  # as the run was trained
    )
    out = Path(output).expanduser()
    atomic_write_csv(pd.DataFrame({"id": ids, "target": (prob >= threshold).astype(int)}), out)
    atomic_write_csv(pd.DataFrame({"id": ids, "prob": prob}), proba_path(out))
    return {
        "run_dir": str(selection.run_dir),
        "reason": selection.reason,
        "input": str(inp),
        "input_sha256": file_sha256(inp),
        "output": str(out),
        "proba": str(proba_path(out)),
        "n_rows": len(ids),
        "positive_rate": float((prob >= threshold).mean()) if len(prob) else float("nan"),
        "threshold": float(threshold),
        "select_metric": select_metric,
        "val": selection.metrics.get("val", {}),
        "config_hash": selection.metrics.get("config_hash"),
    }
