"""Model FLOPs and the distance to the machine's limit (MFU), for every training benchmark.

Why: a speed-up ratio says how much faster one side is than the other, not how far either is
from what the hardware can do. Model FLOP utilisation answers that: the FLOPs the model needs
(not what an implementation happens to spend) per second, divided by the dense-matmul rate the
same machine reaches *in the same run, at the same precision and thread count*, so that load,
thread settings and emulated bf16 hit the numerator and the denominator alike.

Model FLOPs follow the usual transformer accounting (Kaplan et al. 2020; PaLM's MFU):

- a training step costs ``6 x P x n`` for the ``P`` parameters on the *trainable path* (forward
  2, backward 4) applied to ``n`` tokens;
- a frozen forward pass (a frozen prefix run again, a cache build, evaluation) costs
  ``2 x P x n``;
- ``n`` counts real (non-pad) tokens only, so padding never flatters utilisation; encoder layer
  parameters act on every token, the pooler and the classification head on one vector per row;
- embedding tables are look-ups, not matmuls, and are left out; attention's ``n^2`` terms are
  left out too (tweets are ~30 tokens: < 3% of a MiniLM layer's FLOPs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

# A 1024^3 matmul and the shape that dominates a MiniLM training step (one batch of ~32 tweets
# x ~32 tokens through the 384 -> 1536 feed-forward): the peak is the faster of the two.
PEAK_SHAPES: tuple[tuple[int, int, int], ...] = ((1024, 1024, 1024), (1024, 384, 1536))


@dataclass(frozen=True)
class PathParams:
    """Parameter counts split by how a training step uses them.

    ``frozen_tokenwise``: frozen encoder layers below the trainable ones (forward only, per
    token, when they are re-run rather than cached); ``trainable_tokenwise``: encoder layers that
    train (per token); ``per_row``: the pooler (if used) and the head (one vector per row).
    """

    frozen_tokenwise: int
    trainable_tokenwise: int
    per_row: int

    def as_record(self) -> dict[str, int]:
        return asdict(self)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def path_params(clf: Any, start_layer: int) -> PathParams:
    """Split a :class:`bertfreeze.model.TextClassifier` at ``start_layer``.

    Layers ``[0, start_layer)`` are the frozen prefix, ``[start_layer, n_layers)`` the
    trainable path; a layer whose parameters are all frozen above ``start_layer`` (e.g.
    ``freeze=all``: ``start_layer == n_layers``) does not exist on the trainable path.
    """
    layers = list(clf.encoder.encoder.layer)
    if not 0 <= start_layer <= len(layers):
        raise ValueError(f"start_layer={start_layer} outside 0..{len(layers)}")
    per_row = _count(clf.head)
    if getattr(clf, "pooling", None) == "pooler" and getattr(clf.encoder, "pooler", None):
        per_row += _count(clf.encoder.pooler)
    return PathParams(
        frozen_tokenwise=sum(_count(m) for m in layers[:start_layer]),
        trainable_tokenwise=sum(_count(m) for m in layers[start_layer:]),
        per_row=per_row,
    )


def training_flops(p: PathParams, real_tokens: int, rows: int, frozen_forward: bool) -> float:
    """Model FLOPs of training steps over ``rows`` rows holding ``real_tokens`` tokens.

    ``frozen_forward``: the frozen prefix is run again in these steps (no cache), adding
    ``2 x frozen x tokens``.
    """
    flops = 6.0 * p.trainable_tokenwise * real_tokens + 6.0 * p.per_row * rows
    if frozen_forward:
        flops += 2.0 * p.frozen_tokenwise * real_tokens
    return flops


def forward_flops(tokenwise_params: int, real_tokens: int) -> float:
    """Model FLOPs of a forward-only pass (cache build, evaluation) of ``tokenwise_params``."""
    return 2.0 * tokenwise_params * real_tokens


@dataclass(frozen=True)
class Peak:
    """The dense-matmul rate measured here, at one precision and thread count."""

    flops_per_s: float
    shape: tuple[int, int, int]
    dtype: str
    threads: int
    per_shape: dict[str, float]

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "shape": list(self.shape)}


def matmul_peak(
    bf16: bool,
    threads: int | None = None,
    shapes: tuple[tuple[int, int, int], ...] = PEAK_SHAPES,
    seconds: float = 0.5,
) -> Peak:
    """Best sustained ``torch.mm`` FLOP/s over ``shapes`` (m, k, n), each timed ~``seconds``.

    bf16 is measured on bf16 tensors (what autocast feeds the matmuls), fp32 on fp32 ones.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    dtype = torch.bfloat16 if bf16 else torch.float32
    gen = torch.Generator().manual_seed(0)
    per_shape: dict[str, float] = {}
    best: tuple[float, tuple[int, int, int]] = (0.0, shapes[0])
    for m, k, n in shapes:
        a = torch.randn(m, k, generator=gen).to(dtype)
        b = torch.randn(k, n, generator=gen).to(dtype)
        out = torch.empty(m, n, dtype=dtype)
        torch.mm(a, b, out=out)  # warm-up (allocations, kernel selection)
        reps, elapsed = 0, 0.0
        start = time.perf_counter()
        while elapsed < seconds or reps < 2:
            torch.mm(a, b, out=out)
            reps += 1
            elapsed = time.perf_counter() - start
        rate = 2.0 * m * k * n * reps / elapsed
        per_shape[f"{m}x{k}x{n}"] = rate
        if rate > best[0]:
            best = (rate, (m, k, n))
    return Peak(
        best[0], best[1], str(dtype).replace("torch.", ""), torch.get_num_threads(), per_shape
    )


def best_peak(*peaks: Peak) -> Peak:
    """The fastest of several peak measurements (the stricter denominator): rounds, or before
    and after a benchmark."""
    return max(peaks, key=lambda p: p.flops_per_s)


def mfu(model_flops: float, seconds: float, peak: Peak | float) -> float | None:
    """Model FLOPs per second over the peak (None when nothing was timed)."""
    rate = peak.flops_per_s if isinstance(peak, Peak) else float(peak)
    if seconds <= 0 or rate <= 0:
        return None
    return model_flops / seconds / rate
