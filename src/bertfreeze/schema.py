"""The run schema: the metric registry and :class:`RunRecord` (``metrics.json``).

Every place that names a metric — the LightningModule's torchmetrics, ``metrics.json``, the
baselines' ``folds.csv``, predict's run selection, the report's tables — reads :data:`METRICS`.
Adding a metric is one :class:`Metric` entry here (plus its test); BERT runs and the baselines
then both compute it, under the same name. Torch-free (the baselines CLI imports it).
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Metric:
    """One evaluation metric.

    ``torchmetric``: dotted class path of the torchmetrics metric (fed probabilities), or None
    for the loss, which the module tracks itself. ``sklearn``: dotted function path and whether
    it takes hard predictions (``"pred"``) or scores (``"score"``). ``aliases``: older names
    still read from existing files.
    """

    name: str
    display: str
    higher_is_better: bool = True
    torchmetric: str | None = None
    sklearn: tuple[str, str] | None = None
    sklearn_kwargs: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def make_torchmetric(self) -> Any:
        return _load(self.torchmetric)() if self.torchmetric else None

    def score(self, y_true: Any, y_pred: Any, scores: Any) -> float:
        """This metric from labels, hard predictions and scores (the baselines' path)."""
        if self.sklearn is None:
            raise ValueError(f"metric {self.name} has no sklearn computation")
        fn: Callable[..., float] = _load(self.sklearn[0])
        given = y_pred if self.sklearn[1] == "pred" else scores
        return float(fn(y_true, given, **self.sklearn_kwargs))


def _load(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


_POS = {"pos_label": 1, "zero_division": 0}
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy",
            "accuracy",
            torchmetric="torchmetrics.classification.BinaryAccuracy",
            sklearn=("sklearn.metrics.accuracy_score", "pred"),
        ),
        Metric(
            "f1",
            "F1",
            torchmetric="torchmetrics.classification.BinaryF1Score",
            sklearn=("sklearn.metrics.f1_score", "pred"),
            sklearn_kwargs=_POS,
        ),
        Metric(
            "precision",
            "precision",
            torchmetric="torchmetrics.classification.BinaryPrecision",
            sklearn=("sklearn.metrics.precision_score", "pred"),
            sklearn_kwargs=_POS,
        ),
        Metric(
            "recall",
            "recall",
            torchmetric="torchmetrics.classification.BinaryRecall",
            sklearn=("sklearn.metrics.recall_score", "pred"),
            sklearn_kwargs=_POS,
        ),
        Metric(
            "auroc",
            "AUROC",
            torchmetric="torchmetrics.classification.BinaryAUROC",
            sklearn=("sklearn.metrics.roc_auc_score", "score"),
            aliases=("roc_auc",),
        ),
        Metric("loss", "loss", higher_is_better=False),
    )
}
#: Metrics computed from predictions (everything but the loss), in display order.
SCORE_METRICS = tuple(n for n, m in METRICS.items() if m.torchmetric or m.sklearn)
#: Metrics the baselines compute (no loss: logistic regression's is not comparable).
BASELINE_METRICS = tuple(n for n, m in METRICS.items() if m.sklearn)
ALIASES = {alias: m.name for m in METRICS.values() for alias in m.aliases}


def canonical(name: str) -> str:
    """A metric's registry name (``roc_auc`` -> ``auroc``)."""
    return ALIASES.get(name, name)


def canonical_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """A metric mapping with old names replaced by registry names (the registry name wins)."""
    out = {canonical(k): v for k, v in values.items() if canonical(k) != k}
    out.update({k: v for k, v in values.items() if canonical(k) == k})
    return out


def metric_block(logged: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """``{metric: value}`` from Lightning's logged ``{"<prefix>/<metric>": value}``."""
    return {k: float(logged[f"{prefix}/{k}"]) for k in METRICS if f"{prefix}/{k}" in logged}


def finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass
class RunRecord:
    """A completed run's ``metrics.json`` (schema: docs/schemas.md), read and written here.

    ``fields`` holds the full record; the properties are the parts every reader needs, with
    metric names made canonical, so old files (``roc_auc``) read like new ones.
    """

    fields: dict[str, Any]

    FILE = "metrics.json"

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord | None:
        """The completed record of ``run_dir``, or None (absent, unreadable, not completed)."""
        try:
            data = json.loads((Path(run_dir) / cls.FILE).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("status") != "completed":
            return None
        return cls(data)

    def write(self, run_dir: Path) -> None:
        from bertfreeze.atomic import write_json_atomic

        write_json_atomic(Path(run_dir) / self.FILE, self.fields)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.fields)

    def split_metrics(self, split: str) -> dict[str, float]:
        block = self.fields.get(split) or {}
        return canonical_keys(block) if isinstance(block, Mapping) else {}

    @property
    def val(self) -> dict[str, float]:
        return self.split_metrics("val")

    @property
    def test(self) -> dict[str, float]:
        return self.split_metrics("test")

    @property
    def config_hash(self) -> str | None:
        value = self.fields.get("config_hash")
        return None if value is None else str(value)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)
