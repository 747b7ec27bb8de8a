"""The LightningModule: loss, torchmetrics, optimiser groups, schedules, lean checkpoints."""

from __future__ import annotations

import inspect
import math
import random
import re
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from hydra.utils import get_class
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics import MeanMetric, MetricCollection
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

from bertfreeze.batch import Batch, as_batch
from bertfreeze.errors import UserError
from bertfreeze.model import TextClassifier
from bertfreeze.optim import BertAdam
from bertfreeze.schema import METRICS, SCORE_METRICS

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,  # bias-corrected, decoupled weight decay
    "adam": torch.optim.Adam,  # the paper's "Adam" (weight decay as L2)
    "bertadam": BertAdam,  # the original BERT optimiser: no bias correction
}
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")
_LAYER = re.compile(r"encoder\.encoder\.layer\.(\d+)\.")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf: the run is recorded as failed instead of writing garbage."""


def classification_metrics(prefix: str) -> MetricCollection:
    """Every registry metric computed from probabilities (bertfreeze.schema.METRICS)."""
    return MetricCollection(
        {name: METRICS[name].make_torchmetric() for name in SCORE_METRICS}, prefix=prefix
    )


class ClassifierModule(L.LightningModule):
    """Trains the trainable part of a :class:`TextClassifier` from tokens or a cached prefix.

    ``start_layer`` is where a batch of cached hidden states enters the encoder; batches of
    pooled ``features`` go straight to the head.
    """

    def __init__(
        self,
        classifier: TextClassifier,
        optim: dict[str, Any],
        start_layer: int = 0,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # A checkpoint describes itself: optimiser settings, where batches enter the encoder and
        # the run's recipe (the classifier is rebuilt from it, so it is not pickled here).
        self.save_hyperparameters(ignore=["classifier"])
        self.classifier = classifier
        self.optim = dict(optim)
        self.start_layer = start_layer
        self.val_metrics = classification_metrics("val/")
        self.test_metrics = classification_metrics("test/")
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.test_outputs: list[dict[str, torch.Tensor]] = []
        # Checkpoints keep only the trainable weights; the frozen rest is the pretrained backbone.
        self.strict_loading = False
        self._check_optim()

    def _check_optim(self) -> None:
        for key in ("lr", "head_lr"):
            value = self.optim.get(key)
            if value is not None and not float(value) > 0:
                raise UserError(f"optim.{key}={value} must be a positive learning rate")
        if self.optim.get("_target_"):
            self.optimizer_class()  # an importable class, checked before training
        elif self.optim.get("name", "adamw") not in OPTIMIZERS:
            raise UserError(
                f"optim.name={self.optim.get('name')!r} is unknown — use one of {sorted(OPTIMIZERS)}"
            )

    # -- forward --------------------------------------------------------------------------
    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits; where the pass starts is the batch's declared ``kind`` (bertfreeze.batch)."""
        b = as_batch(batch)
        clf = self.classifier
        if b.kind == "features":
            return clf.classify(b["features"])
        if b.kind == "hidden":
            return clf.forward_from_hidden(b["hidden"], b["attention_mask"], self.start_layer)
        return clf(b["input_ids"], b["attention_mask"])

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.classifier.loss(self(batch), batch["labels"])
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at epoch {self.current_epoch}, "
                f"step {self.global_step} — lower optim.lr/head_lr or use precision 32"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def _eval_step(
        self, batch: Batch, metrics: MetricCollection, loss_m: MeanMetric
    ) -> torch.Tensor:
        logits = self(batch)
        probs = self.classifier.probabilities(logits)
        metrics.update(probs, batch["labels"])
        loss_m.update(self.classifier.loss(logits, batch["labels"]), weight=len(batch["labels"]))
        return probs

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, self.val_loss)

    def on_validation_epoch_end(self) -> None:
        # torchmetrics already synced the values across ranks; sync_dist only silences the warning
        self.log_dict(self.val_metrics.compute(), prog_bar=False, sync_dist=True)
        self.log("val/loss", self.val_loss.compute(), prog_bar=True, sync_dist=True)
        self.val_metrics.reset()
        self.val_loss.reset()

    def on_test_epoch_start(self) -> None:
        self.test_outputs = []

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        probs = self._eval_step(batch, self.test_metrics, self.test_loss)
        self.test_outputs.append({"idx": batch["idx"].cpu(), "prob": probs.detach().float().cpu()})

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute(), sync_dist=True)
        self.log("test/loss", self.test_loss.compute(), sync_dist=True)
        self.test_metrics.reset()
        self.test_loss.reset()

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Row positions and P(label = 1) (Lightning's predict loop; labels not needed)."""
        probs = self.classifier.probabilities(self(batch))
        return {"idx": batch["idx"].cpu(), "prob": probs.detach().float().cpu()}

    def gathered_test_outputs(self) -> dict[str, torch.Tensor]:
        """Test-set row positions and probabilities from every rank, de-duplicated."""
        idx = (
            torch.cat([o["idx"] for o in self.test_outputs])
            if self.test_outputs
            else torch.empty(0)
        )
        prob = (
            torch.cat([o["prob"] for o in self.test_outputs])
            if self.test_outputs
            else torch.empty(0)
        )
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (idx, prob))
            idx = torch.cat([p[0] for p in parts])
            prob = torch.cat([p[1] for p in parts])
        order = torch.argsort(idx, stable=True)
        idx, prob = idx[order], prob[order]
        keep = torch.ones_like(idx, dtype=torch.bool)
        keep[1:] = idx[1:] != idx[:-1]
        return {"idx": idx[keep], "prob": prob[keep]}

    # -- optimisation ---------------------------------------------------------------------
    def _block(self, name: str) -> tuple[int, float]:
        """(order, lr) of a classifier parameter: head, embeddings, layer i, then the rest."""
        o = self.optim
        lr, head_lr = float(o["lr"]), float(o.get("head_lr") or o["lr"])
        decay = float(o.get("layerwise_lr_decay", 1.0))
        n = self.classifier.n_layers
        if name.startswith("head."):
            return 0, head_lr
        if name.startswith("encoder.embeddings."):
            return 1, lr * decay**n
        match = _LAYER.match(name)
        if match:
            i = int(match.group(1))
            return 2 + i, lr * decay ** (n - 1 - i)
        # the pooler and any other trainable submodule (e.g. a learned pooling): backbone lr
        return 2 + n, lr

    def _param_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups from ``named_parameters()``: every trainable parameter of the
        classifier lands in exactly one group (by block and by decay / no decay), so a new
        trainable submodule is optimised without touching this code."""
        wd = float(self.optim.get("weight_decay", 0.0))
        grouped: dict[tuple[int, bool], tuple[float, list[torch.nn.Parameter]]] = {}
        for name, param in self.classifier.named_parameters():
            if not param.requires_grad:
                continue
            order, group_lr = self._block(name)
            no_decay = name.endswith(NO_DECAY)
            grouped.setdefault((order, no_decay), (group_lr, []))[1].append(param)
        return [
            {"params": params, "lr": group_lr, "weight_decay": 0.0 if no_decay else wd}
            for (_, no_decay), (group_lr, params) in sorted(grouped.items())
        ]

    def optimizer_class(self) -> type[torch.optim.Optimizer]:
        """``optim._target_`` (any torch optimiser class) or the built-in ``optim.name``."""
        target = self.optim.get("_target_")
        if not target:
            return OPTIMIZERS[self.optim.get("name", "adamw")]
        try:
            cls = get_class(str(target))
        except Exception as err:  # noqa: BLE001 - hydra raises several kinds for a bad path
            raise UserError(f"optim._target_={target!r} cannot be imported: {err}") from err
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise UserError(f"optim._target_={target!r} is not a torch.optim.Optimizer")
        return cls

    def configure_optimizers(self) -> Any:
        o = self.optim
        groups = self._param_groups()
        kwargs: dict[str, Any] = {
            "betas": tuple(o.get("betas", (0.9, 0.999))),
            "eps": float(o.get("eps", 1e-8)),
        }
        cls = self.optimizer_class()
        fused = o.get("fused", "auto")
        if fused in (True, "auto") and cls in (torch.optim.AdamW, torch.optim.Adam):
            kwargs["fused"] = True  # one kernel for the whole update (CPU: ~4x faster step)
        accepted = inspect.signature(cls).parameters
        optimizer = cls(groups, **{k: v for k, v in kwargs.items() if k in accepted})
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(math.ceil(float(o.get("warmup_ratio", 0.0)) * total))
        if o.get("schedule", "linear") == "linear":
            sched = get_linear_schedule_with_warmup(optimizer, warmup, total)
        else:
            sched = get_constant_schedule_with_warmup(optimizer, warmup)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- lean checkpoints -----------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the parameters that train (the rest is the unchanged pretrained backbone)."""
        names = {k for k, p in self.named_parameters() if p.requires_grad}
        return {
            k: v
            for k, v in self.state_dict().items()
            if k in names or not k.startswith("classifier.")
        }

    #: Wall seconds this run spent in earlier, interrupted attempts, up to the checkpoint it
    #: resumed from (time after that checkpoint was lost and is spent again, so not counted).
    earlier_attempts_s: float = 0.0
    #: ``time.perf_counter()`` when this attempt started (set by ``train``); None: not timed.
    attempt_started: float | None = None

    def elapsed_s(self) -> float:
        """The run's wall time so far, across resumes: a resumed run reports what the whole
        run cost, not only its last attempt."""
        now = 0.0 if self.attempt_started is None else time.perf_counter() - self.attempt_started
        return self.earlier_attempts_s + now

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["state_dict"] = self.trainable_state_dict()
        checkpoint[RNG_KEY] = rng_states()
        checkpoint[ELAPSED_KEY] = self.elapsed_s()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run continues the random streams (dropout) where the killed one stopped,
        so it ends exactly as the uninterrupted run would (tests/test_resume.py), and its clock
        where the killed one saved it."""
        if RNG_KEY in checkpoint:
            restore_rng_states(checkpoint[RNG_KEY])
        # Only a resumed fit continues the clock: validate/test(ckpt_path=best) load too.
        trainer = self._trainer
        if trainer is not None and trainer.state.fn == TrainerFn.FITTING:
            self.earlier_attempts_s = float(checkpoint.get(ELAPSED_KEY, 0.0))


RNG_KEY = "bertfreeze_rng_states"
ELAPSED_KEY = "bertfreeze_elapsed_s"


def rng_states() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain types, so that the checkpoint
    still loads with ``torch.load(weights_only=True)``."""
    np_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"]).astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(_as_tuples(states["python"]))
    n = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value: Any) -> Any:
    """random.setstate wants tuples; a checkpoint round trip may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value
