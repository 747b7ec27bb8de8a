"""Find and read finished runs and baselines; detect what varies; list what is missing.

A *run dir* is any directory under the sweep dir holding ``metrics.json`` (completed) or
``status.json`` (failed / running). Nothing here is fatal except "no completed runs at all":
broken runs become :class:`Problem` rows that the report lists.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bertfreeze.errors import UserError
from bertfreeze.runs import (
    NON_RECIPE_KEYS,
    flatten,
    iter_run_dirs,
    run_state,
)
from bertfreeze.schema import METRICS, canonical, canonical_keys

__all__ = ["iter_run_dirs"]  # the one run discovery lives in bertfreeze.runs

SWEEP_HINT = "run `make sweep` first or pass sweep_dir=<dir with finished runs>"

TEST_METRICS = tuple(METRICS)  # the registry: accuracy, f1, precision, recall, auroc, loss

# metrics.json fields that define a recipe: runs differing in one are never pooled.
# column name -> label shown in group labels and report.md
RECIPE_FIELDS: dict[str, str] = {
    "experiment": "experiment",
    "data_split": "data.split",
    "pooling": "pooling",
    "head": "head",
    "lr": "lr",
    "head_lr": "head_lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "warmup_ratio": "warmup_ratio",
    "layerwise_lr_decay": "layerwise_lr_decay",
    "max_length": "max_length",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "numeric_precision": "precision",
}
# Config keys that vary between runs of one recipe by design, or do not change results.
# runs.NON_RECIPE_KEYS, plus keys that vary by design (seed, fold, freeze) or do not change
# results (locations, devices, workers). ``cache.enabled`` is kept: with the cache the frozen
# layers run without dropout (eval mode), so on and off are two recipes (study cache-ablation).
IGNORED_CONFIG = re.compile(
    "|".join(f"^{re.escape(k)}(\\.|$)" for k in NON_RECIPE_KEYS)
    + r"|(^|\.)(seed|fold|name)$|^freeze\.|^logger|path|dir$|_dir\.|"
    r"file|cache(?!\.enabled$)|hash|num_workers|eval_batch_size|devices|accelerator|pretrained|"
    r"run_name|tags|"
    r"^compile$|log_every_n_steps",
)


@dataclass(frozen=True)
class Problem:
    """Something the report could not use: kind is failed | running | interrupted | unreadable |
    missing | duplicate."""

    kind: str
    run_dir: str | None
    detail: str
    freeze: str | None = None
    seed: int | None = None
    fold: int | None = None
    backbone: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        if self.run_dir:
            return self.run_dir
        bits = [f"freeze={self.freeze}", f"seed={self.seed}"]
        if self.fold is not None:
            bits.append(f"fold={self.fold}")
        if self.backbone:
            bits.insert(0, f"backbone={self.backbone}")
        return ", ".join(bits)


# ----------------------------------------------------------------------------- reading runs
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_int(value: Any) -> int | None:
    if _is_missing(value) or value == "null":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _run_identity(run: Path) -> dict[str, Any]:
    """Best-effort (freeze, seed, fold, backbone) of a run without metrics.json: from
    .hydra/config.yaml, then .hydra/overrides.yaml, then the dir name (``freeze=all,seed=3``)."""
    ident: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key not in ident and not _is_missing(value):
            ident[key] = value

    cfg_path = run / ".hydra" / "config.yaml"
    if cfg_path.is_file():
        try:
            from omegaconf import OmegaConf

            cfg = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)
        except Exception:  # a broken config.yaml is just less information
            cfg = None
        if isinstance(cfg, dict):
            freeze = cfg.get("freeze")
            put("freeze", freeze.get("name") if isinstance(freeze, dict) else freeze)
            put("seed", _as_int(cfg.get("seed")))
            fold = cfg.get("fold")
            if fold is None and isinstance(cfg.get("data"), dict):
                fold = cfg["data"].get("fold")
            put("fold", _as_int(fold))
            model = cfg.get("model")
            put("backbone", model.get("name") if isinstance(model, dict) else model)
    tokens: list[str] = []
    ov_path = run / ".hydra" / "overrides.yaml"
    if ov_path.is_file():
        with contextlib.suppress(OSError):
            tokens += [ln.strip().lstrip("-").strip() for ln in ov_path.read_text().splitlines()]
    tokens += run.name.split(",")
    for tok in tokens:
        if "=" not in tok:
            continue
        key, value = (s.strip().strip("'\"") for s in tok.split("=", 1))
        key = key.lstrip("+~")
        if key in ("freeze", "freeze.name"):
            put("freeze", value)
        elif key == "seed":
            put("seed", _as_int(value))
        elif key in ("fold", "data.fold"):
            put("fold", _as_int(value))
        elif key in ("model", "model.name"):
            put("backbone", value)
    return ident


def _row_from_metrics(m: Mapping[str, Any], run: Path) -> dict[str, Any]:
    """One runs_df row from a metrics.json dict; raises KeyError/TypeError/ValueError if the
    required fields are absent or malformed."""
    for key in ("backbone", "freeze", "seed", "test"):
        if key not in m:
            raise KeyError(key)
    test = canonical_keys(m["test"]) if isinstance(m["test"], Mapping) else m["test"]
    if not isinstance(test, Mapping) or "accuracy" not in test:
        raise KeyError("test.accuracy")
    data = m.get("data") or {}
    layers = m.get("trainable_layers")
    row: dict[str, Any] = {
        "run_dir": str(run),
        "config_hash": m.get("config_hash"),
        "experiment": m.get("experiment"),
        "backbone": str(m["backbone"]),
        "pretrained": m.get("pretrained"),
        "freeze": str(m["freeze"]),
        "freeze_method": m.get("freeze_method") or "layers",
        "trainable_layers": tuple(layers) if isinstance(layers, list | tuple) else None,
        "n_trainable_layers": len(layers) if isinstance(layers, list | tuple) else math.nan,
        "seed": int(m["seed"]),
        "fold": _as_int(m.get("fold")),
        "pooling": m.get("pooling"),
        "head": m.get("head"),
        "lr": m.get("lr"),
        "head_lr": m.get("head_lr"),
        "optimizer": m.get("optimizer"),
        "weight_decay": m.get("weight_decay"),
        "warmup_ratio": m.get("warmup_ratio"),
        "layerwise_lr_decay": m.get("layerwise_lr_decay"),
        "max_length": m.get("max_length"),
        "batch_size": m.get("batch_size"),
        "epochs": m.get("epochs"),
        "numeric_precision": m.get("precision"),
        "cache": m.get("cache"),
        "trainable_params": m.get("trainable_params"),
        "total_params": m.get("total_params"),
        "wall_time_s": m.get("wall_time_s"),
        "samples_per_s": m.get("samples_per_s"),
        "best_epoch": m.get("best_epoch"),
        "data_name": data.get("name") if isinstance(data, Mapping) else None,
        "data_path": data.get("path") if isinstance(data, Mapping) else None,
        "data_sha256": data.get("sha256") if isinstance(data, Mapping) else None,
        "data_split": data.get("split") if isinstance(data, Mapping) else None,
        "n_train": data.get("n_train") if isinstance(data, Mapping) else None,
        "n_val": data.get("n_val") if isinstance(data, Mapping) else None,
        "n_test": data.get("n_test") if isinstance(data, Mapping) else None,
        "versions": m.get("versions") or {},
        "git_commit": m.get("git_commit"),
        "config": flatten(m.get("config") or {}, lists_as_json=True),
    }
    for metric in TEST_METRICS:
        value = test.get(metric)
        row[metric] = float(value) if value is not None else math.nan
        val = canonical_keys(m.get("val") or {})
        v = val.get(metric) if isinstance(val, Mapping) else None
        row[f"val_{metric}"] = float(v) if v is not None else math.nan
    return row


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def collect_runs(sweep_dir: str | Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Read every run under ``sweep_dir`` (recursively).

    Returns ``(runs_df, problems)``: one row per completed run (test metrics as columns
    ``accuracy, f1, precision, recall, auroc, loss``; the training precision setting is
    ``numeric_precision``) with ``family`` and ``group`` labels (see :func:`assign_groups`),
    and the failed / running / unreadable / duplicate / missing runs. Raises UserError when
    there is no completed run at all.
    """
    sweep = Path(sweep_dir)
    if not sweep.is_dir():
        raise UserError(f"sweep_dir {sweep} does not exist or is not a directory: {SWEEP_HINT}")
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for run in iter_run_dirs(sweep):
        rel = str(run)
        metrics_path, status_path = run / "metrics.json", run / "status.json"
        if metrics_path.is_file():
            try:
                m = _read_json(metrics_path)
                if not isinstance(m, Mapping):
                    raise TypeError("not a JSON object")
                rows.append(_row_from_metrics(m, run))
            except (OSError, ValueError, KeyError, TypeError) as err:
                what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
                problems.append(
                    Problem("unreadable", rel, f"metrics.json: {what}", **_run_identity(run))
                )
            continue
        try:
            status = _read_json(status_path)
            state = str(status.get("status", "unknown"))
        except (OSError, ValueError, AttributeError) as err:
            problems.append(Problem("unreadable", rel, f"status.json: {err}", **_run_identity(run)))
            continue
        if state == "failed":
            error = str(status.get("error") or "no error message").strip().splitlines()
            detail = error[-1] if error else "no error message"
            problems.append(Problem("failed", rel, detail, **_run_identity(run)))
        elif state == "running":
            live = run_state(run)
            if live.state == "interrupted":
                how = f"; resume: {live.resume_command}" if live.resume_command else ""
                detail = f"interrupted (its process is gone){how}"
                problems.append(Problem("interrupted", rel, detail, **_run_identity(run)))
            else:
                problems.append(Problem("running", rel, "still running", **_run_identity(run)))
        else:
            problems.append(
                Problem(
                    "unreadable",
                    rel,
                    f"status.json says {state!r} but there is no metrics.json",
                    **_run_identity(run),
                )
            )
    if not rows:
        counts = pd.Series([p.kind for p in problems]).value_counts().to_dict() if problems else {}
        extra = f" ({', '.join(f'{v} {k}' for k, v in counts.items())})" if counts else ""
        raise UserError(f"no completed runs (metrics.json) under {sweep}{extra}: {SWEEP_HINT}")
    runs = pd.DataFrame(rows)
    # fold: int or None (object dtype), never NaN, so sets and equality behave
    runs["fold"] = pd.Series([_as_int(v) for v in runs["fold"]], index=runs.index, dtype=object)
    runs, dups = _drop_duplicates(runs)
    problems += dups
    runs = assign_groups(runs)
    problems += find_missing(runs, problems)
    return runs.reset_index(drop=True), problems


def _drop_duplicates(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    cols = ["config_hash", "seed", "fold", "backbone", "freeze"]
    ident = [
        "|".join(_fmt_value(v) for v in row) if row[0] is not None else run_dir
        for row, run_dir in zip(runs[cols].itertuples(index=False), runs["run_dir"], strict=True)
    ]
    runs = runs.assign(dup_key=ident).sort_values("run_dir")
    dup = runs.duplicated("dup_key", keep="first")
    first = runs[~dup].set_index("dup_key")["run_dir"]
    problems = [
        Problem(
            "duplicate",
            r.run_dir,
            f"same config_hash/seed as {first[r.dup_key]}; not counted twice",
            r.freeze,
            int(r.seed),
            r.fold,
            r.backbone,
        )
        for r in runs[dup].itertuples()
    ]
    return runs[~dup].drop(columns="dup_key"), problems


# ----------------------------------------------------------------------------- grouping
def _fmt_value(value: Any) -> str:
    if _is_missing(value):
        return "None"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _varies(series: pd.Series) -> bool:
    return series.map(_fmt_value).nunique() > 1


def _cells(runs: pd.DataFrame, extra: Iterable[str] = ()) -> pd.Series:
    cols = ["data_name", "backbone", "freeze", *extra]
    return runs[cols].map(_fmt_value).agg("|".join, axis=1)


def varied_keys(runs: pd.DataFrame) -> list[str]:
    """Recipe keys that differ among runs of the same dataset, backbone *and freeze mode*
    (metrics.json fields, then flattened ``config`` keys that split runs the fields do not).

    A setting that differs only between freeze modes (``freeze=all`` brings its own
    ``head_lr``) is part of that mode's recipe, not a reason to split: see
    :func:`mode_specific_keys`.
    """
    cells = _cells(runs)
    keys = [
        col
        for col in RECIPE_FIELDS
        if col in runs and runs[col].map(_fmt_value).groupby(cells).nunique().max() > 1
    ]
    cfg = pd.DataFrame(list(runs["config"]), index=runs.index) if "config" in runs else None
    if cfg is None or cfg.empty:
        return keys
    labels = _cells(runs, keys)
    for col in sorted(cfg.columns):
        if IGNORED_CONFIG.search(col):
            continue
        values = cfg[col].map(_fmt_value)
        if values.groupby(labels).nunique().max() > 1:
            keys.append(f"config:{col}")
    return keys


def mode_specific_keys(runs: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Recipe fields that differ between freeze modes (or backbones) but are constant within
    each: ``{field: {"backbone / freeze": value}}``."""
    varied = set(runs.attrs.get("varied_keys") or varied_keys(runs))
    out: dict[str, dict[str, str]] = {}
    for col in RECIPE_FIELDS:
        if col in runs and col not in varied and _varies(runs[col]):
            per = runs.assign(value_=runs[col].map(_fmt_value))
            per = per.drop_duplicates(["backbone", "freeze"])
            out[col] = {f"{r.backbone} / {r.freeze}": r.value_ for r in per.itertuples()}
    return out


def key_label(key: str) -> str:
    return key.removeprefix("config:") if key.startswith("config:") else RECIPE_FIELDS.get(key, key)


def assign_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``family`` (dataset, backbone and every varied recipe key except the freeze mode)
    and ``group`` (family + freeze) labels, and store the varied keys in ``runs.attrs``."""
    runs = runs.copy()
    keys = varied_keys(runs)
    several_datasets = _varies(runs["data_name"])
    cfg = pd.DataFrame(list(runs["config"]), index=runs.index)
    for key in keys:
        if key.startswith("config:"):
            runs[key] = cfg[key.removeprefix("config:")]

    def family(row: pd.Series) -> str:
        label = str(row["backbone"])
        if several_datasets:
            label = f"{_fmt_value(row['data_name'])}: {label}"
        extra = [f"{key_label(k)}={_fmt_value(row[k])}" for k in keys]
        return f"{label}, {', '.join(extra)}" if extra else label

    runs["family"] = runs.apply(family, axis=1) if len(runs) else []
    runs["group"] = runs["family"] + " / " + runs["freeze"]
    runs.attrs["varied_keys"] = keys
    runs.attrs["several_datasets"] = several_datasets
    return runs


def mode_order(runs: pd.DataFrame) -> list[str]:
    """Freeze modes from fewest to most trainable parameters, then trainable encoder layers,
    then name. Parameters first: LoRA or BitFit touch every layer yet train less than last2."""
    layers = runs.groupby("freeze")["n_trainable_layers"].median()
    params = (
        pd.to_numeric(runs["trainable_params"], errors="coerce").groupby(runs["freeze"]).median()
        if "trainable_params" in runs
        else pd.Series(math.nan, index=layers.index)
    )

    def key(f: str) -> tuple[float, float, str]:
        n_params, n_layers = float(params.get(f, math.nan)), float(layers[f])
        return (
            n_params if not math.isnan(n_params) else math.inf,
            n_layers if not math.isnan(n_layers) else 1e9,
            f,
        )

    return sorted(layers.index, key=key)


def group_order(runs: pd.DataFrame) -> list[str]:
    """Groups sorted by family, then by number of trainable layers."""
    order = {f: i for i, f in enumerate(mode_order(runs))}
    first = runs.drop_duplicates("group")
    first = first.assign(_o=first["freeze"].map(order)).sort_values(["family", "_o", "group"])
    return list(first["group"])


def find_missing(runs: pd.DataFrame, problems: list[Problem]) -> list[Problem]:
    """Expected (freeze, seed[, fold]) combinations of each family that no run dir accounts
    for: expected = every freeze mode x every seed (x every fold) seen in that family."""
    reported = [p for p in problems if p.freeze is not None and p.seed is not None]
    out: list[Problem] = []
    for _, fam in runs.groupby("family", sort=True):
        backbone = fam["backbone"].iloc[0]
        present = set(zip(fam["freeze"], fam["seed"], fam["fold"], strict=True))
        folds = sorted(set(fam["fold"]), key=lambda f: -1 if f is None else f)
        # broken runs of this backbone show which seeds / modes the sweep was meant to have
        mine = [p for p in reported if p.backbone in (None, backbone)]
        freezes = set(fam["freeze"]) | {p.freeze for p in mine if p.freeze in set(runs["freeze"])}
        seeds = set(fam["seed"]) | {p.seed for p in mine}
        for freeze in sorted(freezes):
            for seed in sorted(seeds):
                for fold in folds:
                    if (freeze, seed, fold) in present:
                        continue
                    if any(
                        p.freeze == freeze
                        and p.seed == seed
                        and (p.fold is None or p.fold == fold)
                        and (p.backbone is None or p.backbone == backbone)
                        for p in reported
                    ):
                        continue
                    out.append(
                        Problem(
                            "missing",
                            None,
                            "no run dir for this combination",
                            freeze,
                            int(seed),
                            fold,
                            backbone,
                        )
                    )
    return out


# ----------------------------------------------------------------------------- baselines
BASELINE_COLUMNS = ("features", "fold", "accuracy", "f1")


def find_baselines_dir(*roots: str | Path) -> Path | None:
    """The newest ``<root>/baselines/*/`` (by folds.csv mtime) holding folds.csv, if any;
    ``outputs`` (relative to the working directory) is searched after ``roots``."""
    candidates: list[Path] = []
    for root in [*roots, "outputs"]:
        base = Path(root) / "baselines"
        if base.is_dir():
            candidates += [p.parent for p in base.glob("*/folds.csv") if p.is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: ((p / "folds.csv").stat().st_mtime, str(p)))


@dataclass
class Baselines:
    """Per-fold baseline scores (folds.csv), summary.json and meta.json (both optional)."""

    dir: Path
    folds: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def _data(self) -> dict[str, Any]:
        for source in (self.meta.get("data"), self.summary.get("data")):
            if isinstance(source, Mapping):
                return dict(source)
            if isinstance(source, str):
                return {"name": source}
        return {}

    @property
    def data_name(self) -> str | None:
        return self._data().get("name")

    @property
    def data_sha256(self) -> str | None:
        return self._data().get("sha256")

    def best(self, metric: str = "accuracy") -> str:
        """The feature set with the highest mean ``metric``."""
        return str(self.folds.groupby("features")[metric].mean().idxmax())


def load_baselines(path: str | Path) -> Baselines:
    """Read a baselines run dir (or its folds.csv); UserError if it is unusable."""
    path = Path(path)
    folds_csv = path if path.suffix == ".csv" else path / "folds.csv"
    hint = "run `make baselines` or pass baselines_dir=<dir with folds.csv>"
    if not folds_csv.is_file():
        raise UserError(f"no folds.csv at {folds_csv}: {hint}")
    try:
        folds = pd.read_csv(folds_csv)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise UserError(f"cannot read {folds_csv}: {err}: {hint}") from err
    absent = [c for c in BASELINE_COLUMNS if c not in folds.columns]
    if absent:
        raise UserError(
            f"{folds_csv} lacks column(s) {', '.join(absent)} (expected "
            f"features,fold,accuracy,f1,precision,recall,auroc): {hint}"
        )
    if folds.empty:
        raise UserError(f"{folds_csv} has no rows: {hint}")
    folds = folds.rename(columns=canonical)  # roc_auc (older folds.csv) -> auroc
    folds["features"] = folds["features"].astype(str)
    extra: dict[str, dict[str, Any]] = {}
    for name in ("summary", "meta"):
        try:
            loaded = _read_json(folds_csv.parent / f"{name}.json")
        except (OSError, ValueError):
            loaded = None
        extra[name] = loaded if isinstance(loaded, dict) else {}
    return Baselines(folds_csv.parent, folds, extra["summary"], extra["meta"])
