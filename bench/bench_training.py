"""Training-speed benchmarks: our implementation vs the naive alternative, side by side.

Every comparison runs both sides in one process, on the same machine, with the same thread
count, and interleaves them (step by step, or in chunks between the long pieces) so that a
change in machine load hits both sides alike. Where the naive side would take too long to run
in full, a fixed number of its steps is timed and extrapolated to the epoch or the sweep; the
output says so on every such line.

  (a) frozen sweep (freeze=all, 10 seeds x 3 epochs): frozen features computed once, then the
      head trained 30 times (the real ``train()``) vs re-encoding the training tweets every epoch.
  (b) one ``last2`` epoch: layer-4 hidden states cached vs the full 6-layer forward.
  (c) one full fine-tuning epoch: bucketed dynamic padding vs fixed padding to 128, vs a plain
      Hugging Face ``Trainer``, and fp32 vs bf16-mixed.
  (e) peak RSS of a MiniLM fine-tuning run (a ``train.py`` subprocess) and cache sizes on disk.

The accuracy of the naive side is measured by an *equivalence check*: both sides start from
the same weights, train on the same batches with dropout off (so nothing random differs), and
are scored on the same test tweets. (The full runs of our side give its real accuracy.)

Every side runs at the precision :func:`bertfreeze.precision.resolve_precision` picks for this
machine (``--precision auto``: bf16-mixed only where bf16 is native, else 32-true), and every
training line carries its model FLOP utilisation (:mod:`bench.flops`) against a dense-matmul
peak measured in the same benchmark at the same precision and thread count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import flops
from bertfreeze.errors import UserError
from bertfreeze.precision import PrecisionChoice, resolve_precision

REPO = Path(__file__).resolve().parents[1]
THREADS = 2
BATCH = 32
EPOCHS = 3
N_SEEDS = 10


# -- setup ------------------------------------------------------------------------------------
def set_threads(n: int = THREADS) -> None:
    """Same intra-op threads for every side (re-asserted before each timed piece)."""
    torch.set_num_threads(n)


def quiet_libraries() -> None:
    os.environ["BERTFREEZE_QUIET"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    with contextlib.suppress(ImportError):
        import lightning  # noqa: F401  (sets its own log levels on import: import first)
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "transformers",
        "bertfreeze",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.suppress(Exception):
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


@dataclass
class Sizes:
    """How much work: the full bench or the ``--quick`` smoke test."""

    quick: bool
    n_rows: int | None  # None: every tweet
    n_seeds: int
    sweep_steps: int  # sampled uncached steps per variant in (a)
    last2_steps: int  # sampled steps per side in (b)
    ft_rounds: int  # interleaved rounds in (c)
    ft_steps_per_round: int  # timed steps per side per round in (c)
    check_batches: int  # batches of the equivalence checks
    full_epochs: bool  # (c): train our side for a real epoch (accuracy + extrapolation check)
    rss_batches: int
    trainer_rounds: int = 1  # (c2): full epochs per side, in alternating order
    baseline_reps: int = 1  # (d): interleaved repetitions per side
    peak_seconds: float = 0.5  # per matmul shape, for the MFU denominator

    @classmethod
    def make(cls, quick: bool) -> Sizes:
        if quick:
            return cls(True, 600, 2, 4, 4, 2, 2, 3, False, 3, 1, 1, 0.1)
        return cls(False, None, N_SEEDS, 24, 24, 6, 4, 24, True, 20, 2, 3, 0.5)


@dataclass
class Ctx:
    """Shared state of one bench invocation: data, splits, a private cache, a work dir."""

    data_path: Path  # the CSV every side reads (a subset copy in quick mode)
    source_path: Path  # the user's CSV
    sizes: Sizes
    work: Path
    full_accuracy: bool = False
    precision_requested: str = "auto"
    overrides: tuple[str, ...] = ()  # Hydra overrides for every training config (e.g. a model)
    notes: dict[str, Any] = field(default_factory=dict)
    _df: Any = None
    _split: Any = None
    _tokens: Any = None
    _tokenizer: Any = None

    @property
    def cache_root(self) -> Path:
        return self.work / "cache"

    @property
    def precision(self) -> PrecisionChoice:
        """What every side runs at here (bench's default: auto, as training's)."""
        return resolve_precision(self.precision_requested, "cpu")

    def cfg(self, freeze: str, tag: str, *extra: str) -> Any:
        """The composed training config (conf/train.yaml), as ``python train.py`` would see it.

        Precision (``trainer.precision``, ``cache.bf16``) is resolved in place exactly as
        ``train()`` resolves it, so direct cache builds here run at the training precision.
        """
        from hydra import compose, initialize_config_dir

        from bertfreeze.paths import CONF_DIR
        from bertfreeze.train_task import apply_precision

        run_dir = self.work / "runs" / tag
        overrides = [
            f"freeze={freeze}",
            f"data.path={self.data_path}",
            f"paths.output_dir={run_dir}",
            "trainer.accelerator=cpu",
            *(
                []
                if any(x.startswith("trainer.precision=") for x in extra)
                else [f"trainer.precision={self.precision_requested}"]
            ),
            *self.overrides,
            *extra,
        ]
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        apply_precision(cfg)
        return cfg

    def run_dir(self, tag: str) -> Path:
        d = self.work / "runs" / tag
        d.mkdir(parents=True, exist_ok=True)
        return d

    # lazily loaded pieces shared by the benches
    def load(self) -> None:
        if self._df is not None:
            return
        from bertfreeze.data import DataSpec, load_dataset
        from bertfreeze.feature_cache import tokenize
        from bertfreeze.model import load_backbone
        from bertfreeze.splits import make_split

        cfg = self.cfg("none", "probe")
        self._df = load_dataset(DataSpec.from_cfg(cfg.data))
        self._split = make_split(self._df, cfg.data)
        _, self._tokenizer = load_backbone(str(cfg.model.pretrained))
        self._tokens = tokenize(self.texts, self._tokenizer, int(cfg.data.max_length))

    @property
    def texts(self) -> list[str]:
        self.load()
        return self._df["text"].tolist()

    @property
    def labels(self) -> np.ndarray:
        self.load()
        return self._df["label"].to_numpy()

    @property
    def split(self) -> Any:
        self.load()
        return self._split

    @property
    def tokens(self) -> Any:
        self.load()
        return self._tokens

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer


def make_ctx(
    data_path: str | Path,
    quick: bool,
    full_accuracy: bool = False,
    precision: str = "auto",
    overrides: Sequence[str] = (),
) -> Ctx:
    """A private work dir and feature cache (so cache builds are really measured)."""
    quiet_libraries()
    set_threads()
    source = Path(data_path).expanduser().resolve()
    if not source.is_file():
        raise UserError(f"tweets CSV not found: {source} — set BERTFREEZE_DATA or pass --data PATH")
    work = Path(tempfile.mkdtemp(prefix="bertfreeze-bench-"))
    os.environ["BERTFREEZE_CACHE"] = str(work / "cache")
    sizes = Sizes.make(quick)
    path = source
    if sizes.n_rows is not None:
        import pandas as pd

        df = pd.read_csv(source, dtype=str, keep_default_na=False)
        df = df.sample(n=min(sizes.n_rows, len(df)), random_state=0)
        path = work / "subset.csv"
        df.to_csv(path, index=False)
    resolve_precision(precision, "cpu")  # a bad --precision fails before any work
    return Ctx(path, source, sizes, work, full_accuracy, precision, tuple(overrides))


def cleanup(ctx: Ctx) -> None:
    shutil.rmtree(ctx.work, ignore_errors=True)


# -- timing helpers ---------------------------------------------------------------------------
def padded_tokens(
    batches: Sequence[Sequence[int]], lengths: np.ndarray, pad_to: int | None = None
) -> int:
    return int(sum(len(b) * (pad_to or int(lengths[list(b)].max())) for b in batches))


def stratified(batches: Sequence[np.ndarray], k: int, lengths: np.ndarray) -> list[np.ndarray]:
    """``k`` batches spread evenly over the epoch's range of padded widths (one per stratum).

    The mean step time over these, times the number of batches, estimates the epoch with much
    less variance than ``k`` random batches would.
    """
    order = sorted(range(len(batches)), key=lambda i: (int(lengths[batches[i]].max()), i))
    k = min(k, len(batches))
    picks = [order[int((j + 0.5) * len(order) / k)] for j in range(k)]
    return [batches[i] for i in picks]


def mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def du(path: Path) -> int:
    """Bytes on disk under ``path``."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mib(n_bytes: int | float) -> float:
    return round(n_bytes / 2**20, 2)


def load_avg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


class Stepper:
    """One side of a step-level comparison: our module's forward + loss + AdamW step.

    ``batch_of`` turns row positions into a model batch (the project's ``Collate``); the timing
    covers collation, forward, backward and the optimiser step.
    """

    def __init__(
        self,
        clf: Any,
        optim: dict[str, Any],
        start_layer: int,
        collate: Callable[[list[int]], dict[str, torch.Tensor]],
        frozen_prefix_eval: int | None = None,
        bf16: bool = False,
    ) -> None:
        from bertfreeze.lit_module import ClassifierModule

        self.clf = clf
        self.module = ClassifierModule(clf, optim, start_layer=start_layer)
        self.collate = collate
        self.bf16 = bf16
        self.frozen_prefix_eval = frozen_prefix_eval
        self.optim = optim
        self.reset_optimizer()
        self.train_mode()

    def reset_optimizer(self) -> None:
        """A fresh AdamW over our parameter groups (no moments from earlier steps)."""
        o = self.optim
        self.opt = torch.optim.AdamW(
            self.module._param_groups(),
            betas=tuple(o.get("betas", (0.9, 0.999))),
            eps=float(o.get("eps", 1e-8)),
        )

    def train_mode(self) -> None:
        """Train mode, with the frozen prefix (embeddings + bottom layers) dropout-free."""
        self.module.train()
        k = self.frozen_prefix_eval
        if k is not None:
            enc = self.clf.encoder
            enc.embeddings.eval()
            for layer in enc.encoder.layer[:k]:
                layer.eval()

    def _ctx(self) -> Any:
        return (
            torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        )

    def step(self, rows: Sequence[int], seed: int | None = None) -> float:
        if seed is not None:
            torch.manual_seed(seed)  # same dropout masks on both sides of a check
        t0 = time.perf_counter()
        batch = self.collate(list(rows))
        with self._ctx():
            logits = self.module(batch)
        loss = self.clf.loss(logits, batch["labels"])
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    @torch.inference_mode()
    def probabilities(
        self, rows: np.ndarray, lengths: np.ndarray, batch_size: int = 128
    ) -> np.ndarray:
        self.module.eval()
        order = rows[np.argsort(lengths[rows], kind="stable")]
        out = np.zeros(len(rows), dtype=np.float64)
        pos = {int(r): i for i, r in enumerate(rows)}
        for i in range(0, len(order), batch_size):
            chunk = order[i : i + batch_size].tolist()
            with self._ctx():
                p = self.clf.probabilities(self.module(self.collate(chunk))).float().numpy()
            for r, v in zip(chunk, p, strict=True):
                out[pos[r]] = v
        self.train_mode()
        return out


def equivalence_check(
    ours: Stepper, naive: Stepper, batches: Sequence[np.ndarray], ctx: Ctx
) -> dict[str, Any]:
    """Same init, same batches, dropout off: do both sides learn the same model?

    Dropout is switched off (``eval()`` while training: BERT has no batch norm, so eval mode
    differs from train mode only by dropout): seeding alone would not give both sides the same
    masks when their tensors differ in shape (padding to 128 vs dynamic padding).
    """
    naive.clf.load_state_dict(ours.clf.state_dict())
    ours.reset_optimizer()
    naive.reset_optimizer()
    set_threads()
    t_ours = t_naive = 0.0
    ours.module.eval()
    naive.module.eval()
    try:
        for i, rows in enumerate(batches):
            t_ours += ours.step(rows, seed=10_000 + i)
            t_naive += naive.step(rows, seed=10_000 + i)
    finally:
        ours.train_mode()
        naive.train_mode()
    test = ctx.split.test
    y = ctx.labels[test]
    lengths = ctx.tokens.lengths
    p_ours = ours.probabilities(test, lengths)
    p_naive = naive.probabilities(test, lengths)
    return {
        "train_batches": len(batches),
        "train_rows": int(sum(len(b) for b in batches)),
        "test_rows": len(test),
        "dropout": "off",
        "acc_ours": round(float(((p_ours >= 0.5) == y).mean()), 4),
        "acc_naive": round(float(((p_naive >= 0.5) == y).mean()), 4),
        "max_abs_prob_diff": float(np.abs(p_ours - p_naive).max()),
        "prediction_agreement": round(float(((p_ours >= 0.5) == (p_naive >= 0.5)).mean()), 4),
        "train_s_ours": round(t_ours, 2),
        "train_s_naive": round(t_naive, 2),
    }


def check_note(check: dict[str, Any]) -> str:
    return (
        f"equivalence check ({check['train_batches']} batches, same init/batches, dropout off): "
        f"test acc {check['acc_ours']:.4f} vs {check['acc_naive']:.4f}, "
        f"{100 * check['prediction_agreement']:.1f}% same predictions, "
        f"max |dp| {check['max_abs_prob_diff']:.2g}"
    )


def line(
    key: str,
    label: str,
    ours: tuple[str, float, str],
    naive: tuple[str, float, str],
    target: float | None,
    method: str,
    stars: tuple[bool, bool],
    notes: Sequence[str] = (),
    model_flops: tuple[float, float] | None = None,
    peak: flops.Peak | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One row of the table: both timings, the ratio naive/ours, both accuracies.

    ``stars``: (ours, naive) — which side's time was extrapolated from sampled steps rather
    than measured in full; the table stars each such time. ``model_flops`` (ours, naive) and
    ``peak`` give each side's model FLOP utilisation.
    """
    ratio = naive[1] / ours[1] if ours[1] > 0 else float("nan")

    def side(s: tuple[str, float, str], star: bool, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": s[0],
            "seconds": round(s[1], 2),
            "accuracy": s[2],
            "extrapolated": bool(star),
        }
        if model_flops is not None:
            out["model_flops"] = float(model_flops[i])
            if peak is not None:
                u = flops.mfu(model_flops[i], s[1], peak)
                out["mfu"] = None if u is None else round(u, 4)
        return out

    return {
        "key": key,
        "label": label,
        "ours": side(ours, stars[0], 0),
        "naive": side(naive, stars[1], 1),
        "ratio": round(ratio, 2),
        "target": target,
        "met": None if target is None else bool(ratio >= target),
        "method": method,
        "extrapolated": any(stars),
        "notes": list(notes),
        **extra,
    }


def skipped_line(key: str, label: str, reason: str) -> dict[str, Any]:
    """A line that was deliberately not measured here, with the reason in its place."""
    return {"key": key, "label": label, "skipped": reason, "target": None, "met": None}


def measure_peak(ctx: Ctx) -> flops.Peak:
    """The MFU denominator: dense matmul at this run's precision and thread count."""
    set_threads()
    return flops.matmul_peak(ctx.precision.bf16, THREADS, seconds=ctx.sizes.peak_seconds)


def peak_record(before: flops.Peak, after: flops.Peak) -> dict[str, Any]:
    return {
        "used": flops.best_peak(before, after).as_record(),
        "before": before.as_record(),
        "after": after.as_record(),
    }


def _say(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _optim(cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg.optim, resolve=True)  # type: ignore[return-value]


def _epoch_batches(ctx: Ctx, bucket: bool, seed: int = 0) -> list[np.ndarray]:
    from bertfreeze.datamodule import BucketBatchSampler

    s = BucketBatchSampler(
        ctx.split.train, ctx.tokens.lengths, BATCH, shuffle=True, seed=seed, bucket=bucket
    )
    return s._batches()


def _train_run(ctx: Ctx, freeze: str, tag: str, *extra: str) -> tuple[dict[str, Any], float]:
    """The real ``train()`` (what one sweep job runs, minus interpreter/Hydra start-up)."""
    from bertfreeze.train_task import train

    set_threads()
    cfg = ctx.cfg(freeze, tag, *extra)
    t0 = time.perf_counter()
    metrics = train(cfg, ctx.run_dir(tag))
    wall = time.perf_counter() - t0
    assert metrics is not None
    return metrics, wall


def _prefix_entries(ctx: Ctx) -> list[dict[str, Any]]:
    """The frozen-prefix cache entries built in this bench (meta + bytes on disk)."""
    out = []
    for meta in sorted((ctx.cache_root / "prefix").glob("*/meta.json")):
        info = json.loads(meta.read_text())
        out.append(
            {**{k: info.get(k) for k in ("start", "features", "dtype")}, "bytes": du(meta.parent)}
        )
    return out


# -- (a) frozen sweep ------------------------------------------------------------------------
def bench_frozen_sweep(ctx: Ctx) -> dict[str, Any]:
    """freeze=all, N seeds x 3 epochs: cached features + N real runs vs re-encoding each epoch.

    The headline (a) is the cache alone: the re-encoding side gets our length-bucketed batches
    too, and our side's time includes building the cache. (a2) shows the plain random batches a
    naive loop would use (cache + bucketing together), for reference only.
    """
    from bertfreeze.build import build_classifier, build_inputs
    from bertfreeze.datamodule import Collate, RowInputs

    sz = ctx.sizes
    ctx.load()
    cfg = ctx.cfg("all", "a-build")
    optim = _optim(cfg)
    lengths = ctx.tokens.lengths
    n_train = len(ctx.split.train)
    bf16 = ctx.precision.bf16
    peak_before = measure_peak(ctx)

    # The naive side: the same frozen model, the encoder re-run over every training batch.
    naive_clf, tokenizer, _ = build_classifier(cfg)
    tok_inputs = RowInputs("tokens", ctx.tokens, pad_id=tokenizer.pad_token_id or 0)
    collate_tok = Collate(tok_inputs, ctx.labels)
    naive = Stepper(
        naive_clf, optim, 0, collate_tok, frozen_prefix_eval=naive_clf.n_layers, bf16=bf16
    )
    variants = {
        "bucketed": _epoch_batches(ctx, bucket=True),  # our length-bucketed batches (headline)
        "random": _epoch_batches(ctx, bucket=False),  # plain shuffled batches, padded to batch max
    }
    n_batches = {k: len(v) for k, v in variants.items()}
    rng = np.random.default_rng(0)  # spread narrow and wide picks over the chunks at random
    picks = {}
    for k, v in variants.items():
        chosen = stratified(v, sz.sweep_steps, lengths)
        picks[k] = [chosen[i] for i in rng.permutation(len(chosen))]
    times: dict[str, list[float]] = {k: [] for k in variants}
    n_chunks = sz.n_seeds + 1
    for k in variants:  # warm-up (untimed)
        for rows in variants[k][-2:]:
            naive.step(rows)

    def naive_chunk(j: int) -> None:
        """A few sampled naive steps, after one untimed warm-up step (our run just freed memory)."""
        set_threads()
        naive.step(variants["bucketed"][j])
        for k in variants:
            for rows in picks[k][j::n_chunks]:
                times[k].append(naive.step(rows))

    load_before = load_avg()
    naive_chunk(0)
    # Our side, piece 1: the frozen features of every tweet, computed once (cache miss).
    _say("a: computing the frozen features once (cache miss) ...")
    set_threads()
    t0 = time.perf_counter()
    clf, tokenizer, plan = build_classifier(cfg)
    inputs, start, cached = build_inputs(cfg, clf, tokenizer, plan, ctx.texts)
    build_s = time.perf_counter() - t0
    assert cached and inputs.kind == "features", "freeze=all should use the feature cache"

    # Equivalence check: the cached head vs the re-encoding head on the same batches.
    ours_step = Stepper(clf, optim, start, Collate(inputs, ctx.labels), bf16=bf16)
    check = equivalence_check(ours_step, naive, variants["bucketed"][: sz.check_batches], ctx)
    _say(f"a: {check_note(check)}")

    # Our side, pieces 2..: the real train() for each seed (cache hit), naive chunks between.
    runs = []
    for seed in range(sz.n_seeds):
        metrics, wall = _train_run(ctx, "all", f"a-seed{seed}", f"seed={seed}")
        runs.append(
            {
                "seed": seed,
                "wall_s": round(wall, 2),
                "fit_s": metrics["fit_time_s"],
                "test_accuracy": metrics["test"]["accuracy"],
                "cache": metrics["cache"],
                "precision": metrics.get("precision"),
            }
        )
        _say(f"a: seed {seed}: {wall:.1f} s, test acc {metrics['test']['accuracy']:.4f}")
        naive_chunk(seed + 1)
    load_after = load_avg()
    peak_after = measure_peak(ctx)
    peak = flops.best_peak(peak_before, peak_after)

    cached_total = build_s + sum(r["wall_s"] for r in runs)
    acc_mean, acc_sd = mean_sd([r["test_accuracy"] for r in runs])
    n_epochs = sz.n_seeds * EPOCHS
    est = {k: float(np.mean(times[k])) * n_batches[k] * n_epochs for k in variants}
    train_tokens = int(lengths[ctx.split.train].sum())
    tokens = {
        "real": train_tokens,
        "random": padded_tokens(variants["random"], lengths),
        "bucketed": padded_tokens(variants["bucketed"], lengths),
    }
    params = flops.path_params(clf, clf.n_layers)
    flops_ours = flops.forward_flops(
        params.frozen_tokenwise, int(lengths.sum())
    ) + n_epochs * flops.training_flops(params, 0, n_train, frozen_forward=False)
    flops_naive = n_epochs * flops.training_flops(params, train_tokens, n_train, True)
    acc_ours = f"{acc_mean:.4f} ± {acc_sd:.4f} ({sz.n_seeds} full runs)"
    acc_naive = (
        f"same model (by construction); check {check['acc_naive']:.4f} vs {check['acc_ours']:.4f}"
    )
    notes = [check_note(check)]
    method = (
        f"ours measured in full: feature build {build_s:.0f} s (counted) + {sz.n_seeds} real "
        f"train() runs (fit+val+test, checkpoints); naive side sampled: {len(times['bucketed'])} "
        f"+ {len(times['random'])} stratified steps (encoder forward + head step) interleaved "
        f"with our runs, extrapolated to {n_epochs} epochs x {n_batches['bucketed']} batches; "
        f"naive side excludes val/test encoding (favours it); precision "
        f"{ctx.precision.precision} on both sides"
    )
    lines = [
        line(
            "a",
            f"frozen sweep: {sz.n_seeds} seeds x {EPOCHS} epochs (freeze=all), cache alone",
            ("cached features, build counted", cached_total, acc_ours),
            ("re-encode every epoch (our bucketed batches)", est["bucketed"], acc_naive),
            20.0,
            method,
            (False, True),
            notes,
            (flops_ours, flops_naive),
            peak,
        ),
        line(
            "a2",
            "  same, naive side with plain random batches (cache + bucketing; reference)",
            ("cached features, build counted", cached_total, acc_ours),
            ("re-encode every epoch (plain random batches)", est["random"], acc_naive),
            None,
            method,
            (False, True),
            notes,
            (flops_ours, flops_naive),
            peak,
        ),
    ]
    entries = _prefix_entries(ctx)
    return {
        "lines": lines,
        "details": {
            "n_train": n_train,
            "cache_build_s": round(build_s, 2),
            "runs": runs,
            "naive_step_s": {k: round(float(np.mean(v)), 4) for k, v in times.items()},
            "naive_steps_timed": {k: len(v) for k, v in times.items()},
            "naive_step_times_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "naive_epoch_s_est": {
                k: round(float(np.mean(times[k])) * n_batches[k], 2) for k in variants
            },
            "batches_per_epoch": n_batches,
            "tokens_per_epoch": tokens,
            "path_params": params.as_record(),
            "peak": peak_record(peak_before, peak_after),
            "equivalence_check": check,
            "feature_cache_bytes": sum(e["bytes"] for e in entries if e["features"]),
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
    }


# -- (b) last2: one run and one sweep ----------------------------------------------------------
def bench_last2_epoch(ctx: Ctx) -> dict[str, Any]:
    """Train the top 2 layers + head from cached layer-k states vs the full forward.

    Two lines, both with the prefix build counted: (b1) one run of ``EPOCHS`` epochs pays the
    whole build; (b2) a sweep of ``n_seeds`` runs pays it once (amortised over the runs). The
    training part of both sides is extrapolated from the same interleaved, stratified steps.
    """
    from bertfreeze.build import build_classifier, build_inputs
    from bertfreeze.datamodule import Collate, RowInputs

    sz = ctx.sizes
    ctx.load()
    cfg = ctx.cfg("last2", "b-build")
    optim = _optim(cfg)
    lengths = ctx.tokens.lengths
    bf16 = ctx.precision.bf16
    peak_before = measure_peak(ctx)

    _say("b: computing the frozen prefix once (cache miss) ...")
    set_threads()
    load_before = load_avg()
    t0 = time.perf_counter()
    clf, tokenizer, plan = build_classifier(cfg)
    inputs, start, cached = build_inputs(cfg, clf, tokenizer, plan, ctx.texts)
    build_s = time.perf_counter() - t0
    assert cached and inputs.kind == "hidden", "freeze=last2 should use the hidden-state cache"
    n_layers = clf.n_layers

    naive_clf, _, _ = build_classifier(cfg)
    tok_inputs = RowInputs("tokens", ctx.tokens, pad_id=tokenizer.pad_token_id or 0)
    ours = Stepper(clf, optim, start, Collate(inputs, ctx.labels), bf16=bf16)
    naive = Stepper(
        naive_clf, optim, 0, Collate(tok_inputs, ctx.labels), frozen_prefix_eval=start, bf16=bf16
    )
    batches = _epoch_batches(ctx, bucket=True)
    check = equivalence_check(ours, naive, batches[: sz.check_batches], ctx)
    _say(f"b: {check_note(check)}")

    for rows in batches[-2:]:  # warm-up
        ours.step(rows)
        naive.step(rows)
    picks = stratified(batches, sz.last2_steps, lengths)
    t_ours: list[float] = []
    t_naive: list[float] = []
    set_threads()
    for i, rows in enumerate(picks):  # interleaved, alternating which side goes first
        if i % 2:
            t_naive.append(naive.step(rows))
            t_ours.append(ours.step(rows))
        else:
            t_ours.append(ours.step(rows))
            t_naive.append(naive.step(rows))
    n_b = len(batches)
    epoch_ours = float(np.mean(t_ours)) * n_b
    epoch_naive = float(np.mean(t_naive)) * n_b

    full = None
    if sz.full_epochs and ctx.full_accuracy:
        _say("b: one real last2 epoch with the cache (train(), for accuracy) ...")
        metrics, wall = _train_run(ctx, "last2", "b-epoch", "trainer.max_epochs=1")
        full = {
            "wall_s": round(wall, 2),
            "fit_s": metrics["fit_time_s"],
            "test_accuracy": metrics["test"]["accuracy"],
        }
    load_after = load_avg()
    peak_after = measure_peak(ctx)
    peak = flops.best_peak(peak_before, peak_after)
    entries = _prefix_entries(ctx)
    hidden_bytes = sum(e["bytes"] for e in entries if not e["features"] and e["start"] == start)
    acc_ours = f"{check['acc_ours']:.4f} (check)"
    if full:
        acc_ours = f"{full['test_accuracy']:.4f} (1 full epoch); {check['acc_ours']:.4f} (check)"
    acc_naive = f"{check['acc_naive']:.4f} (check)"

    params = flops.path_params(clf, start)
    n_train = len(ctx.split.train)
    train_tokens = int(lengths[ctx.split.train].sum())
    build_flops = flops.forward_flops(params.frozen_tokenwise, int(lengths.sum()))
    epoch_flops_ours = flops.training_flops(params, train_tokens, n_train, frozen_forward=False)
    epoch_flops_naive = flops.training_flops(params, train_tokens, n_train, frozen_forward=True)
    n_runs = sz.n_seeds
    run_epochs, sweep_epochs = EPOCHS, n_runs * EPOCHS
    method = (
        f"training: {len(t_ours)} stratified steps per side, interleaved step by step, "
        f"extrapolated to {n_b} batches per epoch ({epoch_ours:.1f} s vs {epoch_naive:.1f} s "
        f"per epoch, {epoch_naive / epoch_ours:.2f}x); prefix build measured in full "
        f"({build_s:.1f} s, all {len(ctx.labels)} rows) and added to ours; validation/test "
        f"passes excluded on both sides; precision {ctx.precision.precision} on both sides"
    )
    if full:
        method += f"; real cached epoch: fit {full['fit_s']:.0f} s (incl. validation)"
    bound = (
        f"FLOP bound: an uncached step runs {n_layers} layers forward + {n_layers - start} "
        f"backward (~{n_layers + 2 * (n_layers - start)} layer-forward units), a cached one "
        f"{n_layers - start} + {n_layers - start} (~{3 * (n_layers - start)} units), so in model "
        f"FLOPs caching alone saves at most "
        f"~{(n_layers + 2 * (n_layers - start)) / (3 * (n_layers - start)):.2f}x; a measured "
        "ratio above that comes from skipped work that model FLOPs do not count (the frozen "
        "layers' softmax, LayerNorm, GELU, casts and memory traffic)"
    )
    lines = [
        line(
            "b1",
            f"one last2 run ({run_epochs} epochs), prefix build counted in full",
            (
                f"cached layer-{start} states + build",
                build_s + run_epochs * epoch_ours,
                acc_ours,
            ),
            (f"full {n_layers}-layer forward", run_epochs * epoch_naive, acc_naive),
            None,
            method,
            (True, True),
            [check_note(check), bound],
            (build_flops + run_epochs * epoch_flops_ours, run_epochs * epoch_flops_naive),
            peak,
        ),
        line(
            "b2",
            f"last2 sweep ({n_runs} seeds x {run_epochs} epochs), prefix build once "
            f"(amortised: {build_s / n_runs:.1f} s per run)",
            (
                f"cached layer-{start} states + build",
                build_s + sweep_epochs * epoch_ours,
                acc_ours,
            ),
            (f"full {n_layers}-layer forward", sweep_epochs * epoch_naive, acc_naive),
            2.5,
            method,
            (True, True),
            [check_note(check), bound],
            (build_flops + sweep_epochs * epoch_flops_ours, sweep_epochs * epoch_flops_naive),
            peak,
        ),
    ]
    return {
        "lines": lines,
        "details": {
            "start_layer": start,
            "prefix_build_s": round(build_s, 2),
            "epoch_s_est": {"ours": round(epoch_ours, 2), "naive": round(epoch_naive, 2)},
            "step_s": {
                "ours": round(float(np.mean(t_ours)), 4),
                "naive": round(float(np.mean(t_naive)), 4),
            },
            "steps_timed": len(t_ours),
            "step_times_s": {
                "ours": [round(x, 3) for x in t_ours],
                "naive": [round(x, 3) for x in t_naive],
            },
            "batches_per_epoch": n_b,
            "path_params": params.as_record(),
            "peak": peak_record(peak_before, peak_after),
            "full_epoch": full,
            "equivalence_check": check,
            "hidden_cache_bytes": hidden_bytes,
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
    }


# -- (c) one full fine-tuning epoch ------------------------------------------------------------
class _FixedBatches(torch.utils.data.Sampler):
    """Yields a given list of batches (the sampled ones), in order."""

    def __init__(self, batches: Sequence[np.ndarray]) -> None:
        self.batches = [list(map(int, b)) for b in batches]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def step_recorder(after_step: Callable[[], None] | None = None) -> Any:
    """A Lightning callback that records each training step's end time (``.stamps``) and its
    batch's (real tokens, rows) (``.batches``); ``after_step`` runs after each (a profiler's
    ``step``). Why: MFU needs the real tokens of exactly the steps that were timed."""
    import lightning as L

    class StepRecorder(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []
            self.batches: list[tuple[int, int]] = []

        def on_train_batch_end(
            self, trainer: Any, module: Any, out: Any, batch: Any, i: int
        ) -> None:
            self.stamps.append(time.perf_counter())
            mask = batch["attention_mask"] if "attention_mask" in batch else None  # noqa: SIM401 (Batch: no .get)
            self.batches.append((int(mask.sum()) if mask is not None else 0, len(batch["labels"])))
            if after_step is not None:
                after_step()

    return StepRecorder()


def timing_trainer(precision: str, clip: float | None, callbacks: list, **extra: Any) -> Any:
    """A bare one-epoch CPU Trainer for timing training steps: no logging, checkpoints,
    progress bar, sanity or validation passes (``extra``: e.g. ``limit_train_batches``)."""
    import lightning as L

    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        gradient_clip_val=clip,
        callbacks=callbacks,
        **extra,
    )


def _lightning_chunk(
    module: Any,
    collate: Any,
    n_rows: int,
    batches: Sequence[np.ndarray],
    precision: str,
    clip: float | None = None,
) -> list[float]:
    """Fit ``module`` on exactly ``batches`` with a Lightning Trainer; step-to-step seconds.

    The first batch is a warm-up; each timed interval covers fetching/collating the next batch
    and a full training step (forward, backward, AdamW, scheduler, logging).
    """
    import lightning as L
    from torch.utils.data import DataLoader

    stamps: list[float] = []

    class StepTimer(L.Callback):
        def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
            stamps.append(time.perf_counter())

    loader = DataLoader(
        list(range(n_rows)), batch_sampler=_FixedBatches(batches), collate_fn=collate
    )
    trainer = timing_trainer(precision, clip, [StepTimer()])
    set_threads()
    trainer.fit(module, train_dataloaders=loader)
    return list(np.diff(stamps))


def _lightning_epoch(
    module: Any,
    collate: Any,
    n_rows: int,
    batches: Sequence[np.ndarray],
    precision: str,
    clip: float | None,
) -> float:
    """Wall seconds of ``Trainer.fit`` over one whole epoch of ``batches`` (set-up included)."""
    t0 = time.perf_counter()
    _lightning_chunk(module, collate, n_rows, batches, precision, clip)
    return time.perf_counter() - t0


@torch.inference_mode()
def test_accuracy(clf: Any, ctx: Ctx, collate: Any, bf16: bool, batch_size: int = 128) -> float:
    """Accuracy of ``clf`` on the split's test rows (the same scorer for every side)."""
    clf.eval()
    rows = ctx.split.test
    order = rows[np.argsort(ctx.tokens.lengths[rows], kind="stable")]
    correct = 0
    for i in range(0, len(order), batch_size):
        batch = collate([int(r) for r in order[i : i + batch_size]])
        ac = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ac:
            logits = clf(batch["input_ids"], batch["attention_mask"])
        pred = (clf.probabilities(logits) >= 0.5).long()
        correct += int((pred == batch["labels"]).sum())
    clf.train()
    return correct / len(rows)


class _HFModel(torch.nn.Module):
    """Our TextClassifier behind the interface ``transformers.Trainer`` expects."""

    def __init__(self, clf: Any) -> None:
        super().__init__()
        self.classifier = clf

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        logits = self.classifier(input_ids, attention_mask)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.classifier.loss(logits, labels)
        return out


class _RowsDataset(torch.utils.data.Dataset):
    def __init__(self, tokens: Any, labels: np.ndarray, rows: np.ndarray) -> None:
        self.items = [
            {"input_ids": tokens[int(i)].tolist(), "labels": int(labels[int(i)])} for i in rows
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def hf_available() -> str | None:
    """None if ``transformers.Trainer`` can run here, else why not."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return "accelerate is not installed (transformers.Trainer needs it: pip install 'accelerate>=1.1')"
    return None


def _hf_args_grouped() -> dict[str, Any]:
    """``group_by_length=True`` in this transformers' spelling (5.x: a sampling strategy)."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def hf_cpu_args(seed: int) -> dict[str, Any]:
    """The ``TrainingArguments`` every ``transformers.Trainer`` side shares: its own
    ``group_by_length`` sampler, CPU, no logging, progress bars or workers (ours has none)."""
    return {
        "use_cpu": True,
        "report_to": "none",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "seed": seed,
        "dataloader_num_workers": 0,
        **_hf_args_grouped(),
    }


def hf_optimizer(clf: Any, optim: dict[str, Any], total_steps: int) -> tuple[Any, Any]:
    """Our exact optimiser and schedule for a ``transformers.Trainer``: AdamW (fused, as ours)
    over our parameter groups (backbone lr, head lr, decay / no decay), linear warm-up + decay."""
    from transformers import get_linear_schedule_with_warmup

    from bertfreeze.lit_module import ClassifierModule

    opt = torch.optim.AdamW(
        ClassifierModule(clf, optim)._param_groups(),
        betas=tuple(optim.get("betas", (0.9, 0.999))),
        eps=float(optim.get("eps", 1e-8)),
        fused=optim.get("fused", "auto") in (True, "auto"),
    )
    warmup = int(np.ceil(float(optim.get("warmup_ratio", 0.0)) * total_steps))
    return opt, get_linear_schedule_with_warmup(opt, warmup, total_steps)


def _hf_epoch(
    clf: Any,
    optim: dict[str, Any],
    dataset: Any,
    tokenizer: Any,
    seed: int,
    out: Path,
    bf16: bool,
    clip: float | None,
) -> float:
    """One epoch of a ``transformers.Trainer`` set up as fairly as we know how; wall seconds.

    ``group_by_length`` (its own length-grouped sampler), ``DataCollatorWithPadding`` (pads to
    the batch's longest), the same batch size, precision and gradient clipping as ours, and our
    exact optimiser: AdamW (fused, as ours) over our parameter groups (backbone lr, head lr)
    with our linear warm-up schedule.
    """
    from transformers import Trainer, TrainingArguments

    opt, sched = hf_optimizer(clf, optim, -(-len(dataset) // BATCH))
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=BATCH,
        num_train_epochs=1,
        max_grad_norm=float(clip) if clip else 0.0,  # 0: no clipping, as gradient_clip_val=None
        bf16=bf16,
        save_strategy="no",
        **hf_cpu_args(seed),
    )
    trainer = Trainer(
        model=_HFModel(clf),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        optimizers=(opt, sched),
    )
    set_threads()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(open(os.devnull, "w")):  # noqa: SIM115  (its end-of-train dict)
        trainer.train()
    return time.perf_counter() - t0


def bench_finetune_epoch(ctx: Ctx) -> dict[str, Any]:
    """freeze=none, one epoch: dynamic vs fixed padding (c), vs HF Trainer (c2), precision (c3)."""
    import copy

    from bertfreeze.build import build_classifier
    from bertfreeze.datamodule import Collate, RowInputs
    from bertfreeze.lit_module import ClassifierModule

    sz = ctx.sizes
    ctx.load()
    cfg = ctx.cfg("none", "c-probe")
    optim = _optim(cfg)
    prec = ctx.precision
    clip = cfg.trainer.get("gradient_clip_val")
    clip = float(clip) if clip else None
    max_length = int(cfg.data.max_length)
    lengths = ctx.tokens.lengths
    labels = ctx.labels
    n_rows = len(labels)
    train_rows = ctx.split.train
    n_train = len(train_rows)
    pad_id = ctx.tokenizer.pad_token_id or 0
    collate_dyn = Collate(RowInputs("tokens", ctx.tokens, pad_id=pad_id), labels)
    collate_fix = Collate(RowInputs("tokens", ctx.tokens, pad_id=pad_id, pad_to=max_length), labels)
    peak_before = measure_peak(ctx)

    bucketed = _epoch_batches(ctx, bucket=True)
    random_b = _epoch_batches(ctx, bucket=False)
    n_b = len(bucketed)
    real = int(lengths[train_rows].sum())
    rand_tokens = [
        padded_tokens(_epoch_batches(ctx, bucket=False, seed=s), lengths) for s in range(5)
    ]
    tokens = {
        "real": real,
        "bucketed": padded_tokens(bucketed, lengths),
        "fixed_128": n_train * max_length,
        "random_batch_max_mean_of_5_epochs": int(np.mean(rand_tokens)),
    }

    # Equivalence checks on identical batches, dropout off: padding to 128 (and bf16, where
    # it is native) change nothing but rounding.
    _say("c: equivalence checks ...")
    n_check = max(2, sz.check_batches // 3)
    check_pad = equivalence_check(
        Stepper(build_classifier(cfg)[0], optim, 0, collate_dyn, bf16=prec.bf16),
        Stepper(build_classifier(cfg)[0], optim, 0, collate_fix, bf16=prec.bf16),
        bucketed[:n_check],
        ctx,
    )
    _say(f"c: padding: {check_note(check_pad)}")
    check_bf16 = None
    if prec.native_bf16:
        check_bf16 = equivalence_check(
            Stepper(build_classifier(cfg)[0], optim, 0, collate_dyn),
            Stepper(build_classifier(cfg)[0], optim, 0, collate_dyn, bf16=True),
            bucketed[:n_check],
            ctx,
        )
        _say(f"c: bf16: {check_note(check_bf16)}")

    # (c) padding: sampled steps, both sides through Lightning at this run's precision.
    sides: dict[str, dict[str, Any]] = {
        "ours": {
            "module": ClassifierModule(build_classifier(cfg)[0], optim),
            "collate": collate_dyn,
        },
        "fixed_128": {
            "module": ClassifierModule(build_classifier(cfg)[0], optim),
            "collate": collate_fix,
        },
    }
    R, k = sz.ft_rounds, sz.ft_steps_per_round
    # Round r gets one random pick from each block of R consecutive strata: every round is a
    # stratified sample of the epoch's widths, i.e. its own unbiased estimate of the mean step.
    strata = stratified(bucketed, R * k, lengths)
    rng = np.random.default_rng(0)
    per_round: list[list[np.ndarray]] = [[] for _ in range(R)]
    for g in range(0, len(strata), R):
        block = strata[g : g + R]
        for r, i in enumerate(rng.permutation(len(block))):
            per_round[r].append(block[i])
    warm = [bucketed[(7 * r) % n_b] for r in range(R)]  # an untimed first step per round
    rounds: dict[str, list[list[float]]] = {s: [] for s in sides}
    load_before = load_avg()
    for r in range(R):
        order = list(sides)[r % len(sides) :] + list(sides)[: r % len(sides)]
        for name in order:
            side = sides[name]
            src = (
                random_b[r * (k + 1) : (r + 1) * (k + 1)]
                if name == "fixed_128"
                else [warm[r], *per_round[r]]
            )
            rounds[name].append(
                _lightning_chunk(side["module"], side["collate"], n_rows, src, prec.precision, clip)
            )
        _say(
            f"c: round {r + 1}/{R}: "
            + ", ".join(f"{n} {np.mean(t[-1]):.3f} s/step" for n, t in rounds.items())
        )
    times = {n: [x for t in rs for x in t] for n, rs in rounds.items()}
    step_est = {n: float(np.median([np.mean(t) for t in rs])) for n, rs in rounds.items()}
    est = {n: step_est[n] * n_b for n in rounds}

    # (c2) one whole epoch per side, both measured in full, alternating which goes first.
    hf_missing = hf_available()
    epochs: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    accs: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    if hf_missing is None:
        hf_data = _RowsDataset(ctx.tokens, labels, train_rows)
        for r in range(sz.trainer_rounds):
            torch.manual_seed(r)
            init = build_classifier(cfg)[0]
            order = ["ours", "hf_trainer"] if r % 2 == 0 else ["hf_trainer", "ours"]
            for name in order:
                _say(f"c2: round {r + 1}/{sz.trainer_rounds}: one full epoch, {name} ...")
                clf = copy.deepcopy(init)
                if name == "ours":
                    epoch_batches = _epoch_batches(ctx, bucket=True, seed=r)
                    wall = _lightning_epoch(
                        ClassifierModule(clf, optim),
                        collate_dyn,
                        n_rows,
                        epoch_batches,
                        prec.precision,
                        clip,
                    )
                else:
                    wall = _hf_epoch(
                        clf, optim, hf_data, ctx.tokenizer, r, ctx.work / "hf", prec.bf16, clip
                    )
                epochs[name].append(wall)
                accs[name].append(test_accuracy(clf, ctx, collate_dyn, prec.bf16))
                _say(f"c2: {name}: {wall:.1f} s, test acc {accs[name][-1]:.4f}")
    load_after = load_avg()

    # (c3) precision: a claim only from full runs, only where bf16 is native.
    full: dict[str, Any] = {}
    if prec.native_bf16:
        for name, p in (("fp32", "32-true"), ("bf16", "bf16-mixed")):
            _say(f"c3: one real fine-tuning epoch (train(), {p}) ...")
            m, wall = _train_run(
                ctx, "none", f"c3-{name}", "trainer.max_epochs=1", f"trainer.precision={p}"
            )
            full[name] = {
                "wall_s": round(wall, 2),
                "fit_s": m["fit_time_s"],
                "test_accuracy": m["test"]["accuracy"],
                "precision": m.get("precision"),
            }
        # The 32-true side's MFU is against the fp32 peak: against the bf16 one (~8x on AMX) it
        # would read as if fp32 wasted most of the machine.
        peak_fp32 = flops.matmul_peak(False, THREADS, seconds=ctx.sizes.peak_seconds)
    peak_after = measure_peak(ctx)
    peak = flops.best_peak(peak_before, peak_after)

    params = flops.path_params(build_classifier(cfg)[0], 0)
    epoch_flops = flops.training_flops(params, real, n_train, frozen_forward=False)
    acc_ours = f"{check_pad['acc_ours']:.4f} (check)"
    if accs["ours"]:
        acc_ours = f"{np.mean(accs['ours']):.4f} (full epoch); " + acc_ours
    method = (
        f"{len(times['ours'])} timed steps per side in {R} interleaved rounds (Lightning Trainer "
        f"per round, rotating order; the first step of each round untimed), median over rounds "
        f"of the per-round mean step x {n_b} batches; ours on stratified bucketed batches, fixed "
        f"on its own random batches; precision {prec.precision}, gradient clipping "
        f"{clip or 'none'} on both sides"
    )
    lines = [
        line(
            "c",
            "one fine-tuning epoch (freeze=none): padding",
            ("bucketed dynamic padding", est["ours"], acc_ours),
            (
                f"fixed padding to {max_length} (random batches)",
                est["fixed_128"],
                f"{check_pad['acc_naive']:.4f} (check)",
            ),
            2.0,
            method,
            (True, True),
            [
                f"padding: {check_note(check_pad)}",
                f"padded tokens per epoch: {tokens['bucketed']:,} bucketed vs "
                f"{tokens['fixed_128']:,} fixed ({real:,} real)",
            ],
            (epoch_flops, epoch_flops),
            peak,
            padded_tokens={"ours": tokens["bucketed"], "naive": tokens["fixed_128"], "real": real},
        )
    ]
    if hf_missing is None:
        n_r = sz.trainer_rounds
        lines.append(
            line(
                "c2",
                "one fine-tuning epoch: vs transformers.Trainer (group_by_length)",
                (
                    "ours (Lightning, bucketed)",
                    float(np.mean(epochs["ours"])),
                    f"{np.mean(accs['ours']):.4f} (full epoch, mean of {n_r})",
                ),
                (
                    "transformers.Trainer, group_by_length, DataCollatorWithPadding",
                    float(np.mean(epochs["hf_trainer"])),
                    f"{np.mean(accs['hf_trainer']):.4f} (full epoch, mean of {n_r})",
                ),
                1.3,
                (
                    f"both sides measured in full: {n_r} epoch(s) each of all {n_train} training "
                    f"rows, alternating which side goes first, mean wall time of fit/train() "
                    f"(set-up included, no evaluation); same initial weights per round, batch "
                    f"{BATCH}, max length {max_length}, precision {prec.precision}, gradient "
                    f"clipping {clip or 'none'} (HF max_grad_norm={clip or 0}), and our optimiser "
                    f"and schedule on both; both scored on the same {len(ctx.split.test)} test "
                    f"rows"
                ),
                (False, False),
                [
                    f"padded tokens per epoch: {tokens['bucketed']:,} ours (bucketed); HF's "
                    f"length-grouped megabatches pad to each batch's longest ({real:,} real)",
                    f"c extrapolation check: ours' real epoch took {np.mean(epochs['ours']):.1f} s "
                    f"vs {est['ours']:.1f} s extrapolated from sampled steps",
                ],
                (epoch_flops, epoch_flops),
                peak,
            )
        )
    else:
        lines.append(
            skipped_line("c2", "one fine-tuning epoch: vs transformers.Trainer", hf_missing)
        )
    if prec.native_bf16:
        assert check_bf16 is not None
        lines.append(
            line(
                "c3",
                f"one fine-tuning epoch: precision (cpu capability {prec.cpu_capability})",
                (
                    "bf16-mixed, train()",
                    full["bf16"]["fit_s"],
                    f"{full['bf16']['test_accuracy']:.4f} (full run); "
                    f"{check_bf16['acc_naive']:.4f} (check)",
                ),
                (
                    "32-true, train()",
                    full["fp32"]["fit_s"],
                    f"{full['fp32']['test_accuracy']:.4f} (full run); "
                    f"{check_bf16['acc_ours']:.4f} (check)",
                ),
                None,
                "one real train() epoch per precision (fit incl. validation), measured in full",
                (False, False),
                [f"bf16: {check_note(check_bf16)}"],
                (epoch_flops, epoch_flops),
                peak,
            )
        )
        c3 = lines[-1]
        u = flops.mfu(epoch_flops, full["fp32"]["fit_s"], peak_fp32)
        c3["naive"]["mfu"] = None if u is None else round(u, 4)
        c3["naive"]["peak"] = peak_fp32.as_record()
        c3["notes"].append(
            f"MFU: bf16 side against the bf16 peak ({peak.flops_per_s / 1e9:.0f} GFLOP/s), "
            f"32-true side against the fp32 peak ({peak_fp32.flops_per_s / 1e9:.0f} GFLOP/s, "
            "measured after the runs)"
        )
    else:
        lines.append(
            skipped_line(
                "c3",
                f"one fine-tuning epoch: precision (cpu capability {prec.cpu_capability})",
                f"skipped: no native bf16 on this CPU ({prec.cpu_capability}); bf16 would be "
                f"emulated (~40x slower matmuls), so precision=auto runs {prec.precision}",
            )
        )
    return {
        "lines": lines,
        "details": {
            "batches_per_epoch": n_b,
            "step_s": {n: round(v, 4) for n, v in step_est.items()},
            "step_s_mean_all": {n: round(float(np.mean(t)), 4) for n, t in times.items()},
            "step_s_per_round": {
                n: [round(float(np.mean(t)), 4) for t in rs] for n, rs in rounds.items()
            },
            "step_s_sd": {n: round(mean_sd(t)[1], 4) for n, t in times.items()},
            "steps_timed": {n: len(t) for n, t in times.items()},
            "step_times_s": {n: [round(x, 3) for x in t] for n, t in times.items()},
            "trainer_epochs_s": {n: [round(x, 2) for x in v] for n, v in epochs.items()},
            "trainer_epochs_acc": {n: [round(x, 4) for x in v] for n, v in accs.items()},
            "tokens_per_epoch": tokens,
            "full_epochs": full,
            "path_params": params.as_record(),
            "peak": peak_record(peak_before, peak_after),
            "gradient_clip": clip,
            "equivalence_check_padding": check_pad,
            "equivalence_check_bf16": check_bf16,
            "hf_trainer": "measured" if hf_missing is None else f"skipped: {hf_missing}",
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },
    }


# -- (e) memory and cache sizes --------------------------------------------------------------
def bench_memory(ctx: Ctx, other: dict[str, Any] | None = None) -> dict[str, Any]:
    """Peak RSS of a real ``train.py`` fine-tuning run (subprocess) and cache sizes on disk."""
    sz = ctx.sizes
    run_dir = ctx.work / "rss-run"
    cache = ctx.work / "rss-cache"
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        "freeze=none",
        "model=minilm",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        f"+trainer.limit_train_batches={sz.rss_batches}",
        f"data.path={ctx.data_path}",
        f"hydra.run.dir={run_dir}",
        "logger=none",
        "keep_weights=false",
        f"trainer.precision={ctx.precision_requested}",
        *ctx.overrides,
    ]
    # A wrapper process whose only child is train.py, so RUSAGE_CHILDREN is that run alone.
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "print(json.dumps({'rc': rc.returncode, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
        " 'wall_s': time.perf_counter() - t, 'stderr': rc.stderr[-2000:]}))\n"
    )
    env = {
        **os.environ,
        "BERTFREEZE_CACHE": str(cache),
        "BERTFREEZE_QUIET": "1",
        "OMP_NUM_THREADS": str(THREADS),
    }
    _say(
        f"e: peak RSS of a fine-tuning run ({sz.rss_batches} training steps + validation + test) ..."
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    info = (
        json.loads(out.stdout.strip().splitlines()[-1])
        if out.stdout.strip()
        else {"rc": out.returncode, "stderr": out.stderr[-2000:]}
    )
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    if info.get("rc") != 0 or not metrics:
        raise RuntimeError(
            f"train.py failed (rc {info.get('rc')}): {info.get('stderr', '')[-800:]}"
        )
    rss_mb = float(metrics["peak_rss_mb"])
    children_mb = round(info["maxrss_kb"] / 1024, 1)

    # Cache sizes: measured where (a)/(b) built them in this invocation, else from earlier results.
    other = other or {}
    feat = other.get("feature_cache_bytes")
    hidden = other.get("hidden_cache_bytes")
    ctx.load()
    n = len(ctx.labels)
    total_tokens = int(ctx.tokens.lengths.sum())
    from transformers import AutoConfig

    from bertfreeze.model import resolve_pretrained

    pretrained = resolve_pretrained(str(ctx.cfg("none", "e-probe").model.pretrained))
    hidden_size = int(AutoConfig.from_pretrained(pretrained).hidden_size)
    tok_bytes = du(ctx.cache_root / "tokens")
    sizes = {
        "tokens_cache_mib": mib(tok_bytes),
        "feature_cache_all_mib": mib(feat) if feat else None,
        "hidden_cache_last2_mib": mib(hidden) if hidden else None,
        "expected_feature_cache_all_mib": mib(n * hidden_size * 2),
        "expected_hidden_cache_last2_mib": mib(total_tokens * hidden_size * 2),
        "rows": n,
        "tokens": total_tokens,
        "dtype": "float16",
    }
    rss_line = {
        "key": "e",
        "label": "peak RSS, MiniLM fine-tuning run (train.py subprocess)",
        "rss_mb": rss_mb,
        "rss_children_mb": children_mb,
        "target_mb": 3072,
        "met": rss_mb <= 3072,
        "method": f"train.py freeze=none, {sz.rss_batches} training steps, validation + test; peak_rss_mb from metrics.json (getrusage children: {children_mb} MB)",
    }
    return {
        "lines": [],
        "memory": rss_line,
        "cache_sizes": sizes,
        "details": {"command": portable_command(cmd), "wall_s": round(info["wall_s"], 1)},
    }


def portable_command(cmd: Sequence[str]) -> list[str]:
    """``cmd`` without this machine's absolute paths (results are committed)."""
    out = []
    for arg in cmd:
        key, eq, value = str(arg).partition("=")
        if eq and Path(value).is_absolute():
            out.append(f"{key}={Path(value).name}")
        elif Path(arg).is_absolute():
            out.append(Path(arg).name)
        else:
            out.append(arg)
    return out


def peak_rss_self_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
