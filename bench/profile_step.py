"""Where a training step's time goes: the real Lightning step under ``torch.profiler``, by op.

    python -m bench.profile_step                     # freeze=none, 12 steps after 3 warm-up
    python -m bench.profile_step --freeze last2 --steps 20
    python -m bench.profile_step --precision 32-true  # the studies' precision (auto: bf16 on AMX)

Why: issue #12 asks to *profile before optimising* the ``freeze=none`` epoch (goal: >= 60% of
the measured dense-matmul peak on 2 CPU cores). This runs the project's own build
(``bertfreeze.build.build_run``: classifier, freeze plan, bucketed batches, AdamW + schedule)
inside a Lightning ``Trainer`` with the shipped defaults, times steps from the training
tweets' real bucketed batches, and reports the self time of each op class: matrix products
(the FLOPs MFU counts), attention's softmax, GELU, LayerNorm, dropout, the optimiser, and
the rest. The MFU of the profiled steps is computed like the benchmarks' (``bench/flops.py``:
6 x trainable-path parameters x real tokens), against a peak measured in the same process.

Profiling adds per-op overhead, so the step time here is a little above an unprofiled one;
the shares are what matter. Writes
``bench/results/profile/<freeze>-<capability>[-bf16]-<cores>cores-<cpu>-<precision>-<threads>t.json``.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from bench import flops
from bench.render import RESULTS

# op name -> class; the first matching prefix wins (aten names, forward and backward)
OP_CLASSES = (
    (("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"), "matrix products"),
    (("aten::_softmax", "aten::_softmax_backward"), "softmax"),
    (("aten::gelu", "aten::gelu_backward"), "GELU"),
    (("aten::native_layer_norm",), "LayerNorm"),
    (("aten::native_dropout", "aten::bernoulli", "aten::native_dropout_backward"), "dropout"),
    (("aten::_fused_adamw", "aten::_foreach", "aten::lerp", "aten::addcmul"), "optimiser"),
    (("aten::copy_", "aten::clone", "aten::contiguous", "aten::cat", "aten::t"), "copies"),
    (("aten::_scaled_dot_product",), "attention (SDPA kernel)"),
    (("aten::embedding", "aten::embedding_dense_backward"), "embeddings"),
    (("aten::add", "aten::mul", "aten::div", "aten::sum", "aten::fill_", "aten::zero_"), "elementwise"),
)  # fmt: skip


def op_class(name: str) -> str:
    for prefixes, label in OP_CLASSES:
        if name.startswith(prefixes):
            return label
    return "other"


def by_class(events: list[tuple[str, float, int]]) -> dict[str, dict[str, float]]:
    """Self CPU seconds and call counts per op class from ``(name, self_s, calls)`` rows."""
    out: dict[str, dict[str, float]] = {}
    for name, self_s, calls in events:
        c = out.setdefault(op_class(name), {"self_s": 0.0, "calls": 0})
        c["self_s"] += self_s
        c["calls"] += calls
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.bench_training import (
        make_ctx,
        quiet_libraries,
        set_threads,
        step_recorder,
        timing_trainer,
    )
    from bench.run import add_config_options, machine_stem, record_header
    from bertfreeze.build import build_run
    from bertfreeze.precision import resolve_precision
    from bertfreeze.settings import settings

    p = argparse.ArgumentParser(
        prog="python -m bench.profile_step", description=__doc__.split("\n")[0]
    )
    p.add_argument("--freeze", default="none")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--data", default=None, help="tweets CSV (default BERTFREEZE_DATA)")
    p.add_argument("--out", default=None)
    add_config_options(p)
    args = p.parse_args(argv)
    data = args.data or settings().data or "data/train.csv"
    quiet_libraries()
    set_threads()
    ctx = make_ctx(data, quick=False, precision=args.precision, overrides=args.override)
    cfg = ctx.cfg(args.freeze, "profile")
    here = resolve_precision(str(cfg.trainer.precision), "cpu")
    built = build_run(cfg, ctx.texts, ctx.labels, ctx.split)
    n_steps = args.warmup + args.steps
    prof = torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU],
        schedule=torch.profiler.schedule(wait=0, warmup=args.warmup, active=args.steps, repeat=1),
    )

    rec = step_recorder(after_step=prof.step)

    trainer = timing_trainer(
        str(cfg.trainer.precision),
        cfg.trainer.get("gradient_clip_val"),
        [rec],
        limit_train_batches=n_steps,
    )
    set_threads()
    with prof:
        trainer.fit(built.module, datamodule=built.datamodule)
    stamps, timed = rec.stamps, rec.batches[args.warmup :]
    real_tokens = [t for t, _ in timed] if any(t for t, _ in timed) else None
    rows = sum(r for _, r in timed)
    step_s = list(np.diff(stamps[args.warmup - 1 :])) if len(stamps) > args.warmup else []
    events = [(e.key, e.self_cpu_time_total / 1e6, e.count) for e in prof.key_averages()]
    classes = by_class(events)
    total_self = sum(c["self_s"] for c in classes.values())
    params = flops.path_params(built.classifier, built.start_layer)
    model_flops = (
        flops.training_flops(params, sum(real_tokens), rows, frozen_forward=not built.cached)
        if real_tokens
        else None
    )
    peak = flops.matmul_peak(here.bf16, seconds=1.0)
    wall = float(sum(step_s))
    result = {
        **record_header("profile_step", here, args.freeze),
        "steps": len(step_s),
        "rows": rows,
        "real_tokens": sum(real_tokens) if real_tokens else None,
        "step_s_mean": round(wall / max(len(step_s), 1), 4),
        "profiled_self_s": round(total_self, 3),
        "classes": {
            k: {
                "self_s": round(v["self_s"], 3),
                "share": round(v["self_s"] / total_self, 4),
                "calls": int(v["calls"]),
            }
            for k, v in sorted(classes.items(), key=lambda kv: -kv[1]["self_s"])
        },
        "top_ops": [
            {"op": n, "self_s": round(s, 3), "calls": c}
            for n, s, c in sorted(events, key=lambda e: -e[1])[:15]
        ],
        "peak": peak.as_record(),
        "mfu_profiled_steps": flops.mfu(model_flops, wall, peak) if model_flops else None,
        "note": "profiler overhead included in step times; shares are of profiled self CPU time",
    }
    out = (
        Path(args.out)
        if args.out
        else RESULTS
        / "profile"
        / f"{args.freeze}-{machine_stem(here)}-{here.precision}-{torch.get_num_threads()}t.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.freeze}: {result['step_s_mean'] * 1000:.0f} ms/step over {len(step_s)} steps, MFU {result['mfu_profiled_steps']}"
    )
    for k, v in result["classes"].items():
        print(f"  {k:26s} {v['self_s']:7.2f} s  {100 * v['share']:5.1f}%  ({v['calls']} calls)")
    print(f"wrote {out}")
    os.environ.pop("BERTFREEZE_CACHE", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
