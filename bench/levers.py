"""What a speed lever buys on the real training step: each variant beside the shipped default.

    python -m bench.levers                          # freeze=none, eager vs compile=true, auto
    python -m bench.levers --precision 32-true      # the studies' precision
    python -m bench.levers --steps 40 --rounds 3

Why: issue #12 asks to profile before optimising and names likely levers; ``torch.compile``
is the usual answer to the per-op overhead the profile shows (``python -m bench.profile_step``:
dropout, elementwise ops and dispatch take about half of a bf16 step). A lever is only a lever
if it is measured on the step it would change, so this runs the project's own build and
Lightning step (``bertfreeze.build.build_run``, shipped defaults, the training tweets' bucketed
batches in the same order for every variant) once per variant, round by round with the order
alternating, and reports per variant:

- the mean time of the timed steps (after ``--warmup`` steps) and its MFU against a
  dense-matmul peak measured in the same process at the same precision and threads;
- the warm-up steps' time, which holds any one-time cost (``torch.compile``'s tracing and code
  generation, including the recompile for a second sequence length): its on-disk cache starts
  empty, so round 1 pays a cold compile and later rounds a warm one;
- the ratio to the shipped default (> 1: the lever is faster).

A variant is a list of ``train.py`` overrides, so any config lever can be measured with
``--variant NAME=override[,override...]``. Writes
``bench/results/levers/<freeze>-<machine>-<precision>.json``; ``python -m bench.render`` shows it.
No accuracy is claimed here: the timed steps are a slice of one epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import flops
from bench.render import RESULTS

SHIPPED = "eager (shipped)"
DEFAULT_VARIANTS: dict[str, tuple[str, ...]] = {
    SHIPPED: (),
    "torch.compile": ("compile=true",),
}


def parse_variant(text: str) -> tuple[str, tuple[str, ...]]:
    """``NAME=key=value[,key=value...]`` -> (NAME, overrides)."""
    name, sep, rest = text.partition("=")
    overrides = tuple(o for o in rest.split(",") if o)
    if not sep or not name or not overrides or any("=" not in o for o in overrides):
        raise SystemExit(
            f"--variant {text!r}: give NAME=override[,override...], e.g. compiled=compile=true"
        )
    return name, overrides


def summarise(
    rounds: dict[str, list[dict[str, Any]]], peak_flops_per_s: float
) -> dict[str, dict[str, Any]]:
    """Per variant: mean step time over all rounds' timed steps, MFU, warm-up, ratio to shipped.

    ``rounds[name]``: one dict per round with ``step_s`` (list), ``model_flops`` (of those
    steps) and ``warmup_s``.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, rs in rounds.items():
        steps = [s for r in rs for s in r["step_s"]]
        wall = float(sum(steps))
        model_flops = float(sum(r["model_flops"] for r in rs))
        out[name] = {
            "overrides": rs[0]["overrides"],
            "rounds": len(rs),
            "steps": len(steps),
            "ms_per_step": round(1000 * wall / max(len(steps), 1), 2),
            "ms_per_step_by_round": [
                round(1000 * float(np.mean(r["step_s"])), 2) for r in rs if r["step_s"]
            ],
            "warmup_s_by_round": [round(r["warmup_s"], 2) for r in rs],
            "mfu": flops.mfu(model_flops, wall, peak_flops_per_s) if steps else None,
        }
    base = out.get(SHIPPED)
    for v in out.values():
        v["speedup_vs_shipped"] = (
            round(base["ms_per_step"] / v["ms_per_step"], 3) if base and v["ms_per_step"] else None
        )
    return out


def _time_variant(
    ctx: Any, freeze: str, name: str, overrides: tuple[str, ...], warmup: int, steps: int
) -> dict[str, Any]:
    """Build the run with ``overrides`` and time ``warmup + steps`` real Lightning steps."""
    from bench.bench_training import set_threads, step_recorder, timing_trainer
    from bertfreeze.build import build_run

    cfg = ctx.cfg(freeze, "levers-" + "".join(c if c.isalnum() else "-" for c in name), *overrides)
    built = build_run(cfg, ctx.texts, ctx.labels, ctx.split)
    rec = step_recorder()
    trainer = timing_trainer(
        str(cfg.trainer.precision),
        cfg.trainer.get("gradient_clip_val"),
        [rec],
        limit_train_batches=warmup + steps,
    )
    set_threads()
    start = time.perf_counter()
    trainer.fit(built.module, datamodule=built.datamodule)
    stamps, timed = rec.stamps, rec.batches[warmup:]
    params = flops.path_params(built.classifier, built.start_layer)
    return {
        "overrides": list(overrides),
        "warmup_s": stamps[warmup - 1] - start if len(stamps) >= warmup else float("nan"),
        "step_s": [float(x) for x in np.diff(stamps[warmup - 1 :])],
        "model_flops": flops.training_flops(
            params,
            sum(t for t, _ in timed),
            sum(r for _, r in timed),
            frozen_forward=not built.cached,
        ),
    }


def _measure(ctx: Any, args: Any, variants: dict[str, tuple[str, ...]]) -> tuple[Any, ...]:
    """Peak, every variant round by round (order alternating), peak again."""
    from bench.bench_training import load_avg
    from bertfreeze.precision import resolve_precision

    here = resolve_precision(str(ctx.cfg(args.freeze, "levers-probe").trainer.precision), "cpu")
    load_before = load_avg()
    peak_before = flops.matmul_peak(here.bf16, seconds=1.0)
    names = list(variants)
    rounds: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            res = _time_variant(ctx, args.freeze, name, variants[name], args.warmup, args.steps)
            rounds[name].append(res)
            print(
                f"round {r + 1}/{args.rounds} {name}: {1000 * np.mean(res['step_s']):.0f} ms/step "
                f"(warm-up {res['warmup_s']:.1f} s)",
                flush=True,
            )
    return here, load_before, peak_before, rounds, flops.matmul_peak(here.bf16, seconds=1.0)


def main(argv: list[str] | None = None) -> int:
    from bench.bench_training import cleanup, make_ctx, quiet_libraries, set_threads
    from bench.run import add_config_options, machine_stem, record_header
    from bertfreeze.settings import settings

    p = argparse.ArgumentParser(prog="python -m bench.levers", description=__doc__.split("\n")[0])
    p.add_argument("--freeze", default="none")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant and round")
    p.add_argument("--warmup", type=int, default=6, help="untimed first steps (one-time costs)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, the variants' order alternating")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=OVERRIDES",
        help="a lever to measure beside the shipped default, e.g. compiled=compile=true "
        "(repeatable; default: torch.compile)",
    )
    add_config_options(p)
    p.add_argument("--data", default=None, help="tweets CSV (default BERTFREEZE_DATA)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.rounds < 1:
        raise SystemExit("--warmup, --steps and --rounds must each be at least 1")
    variants = {SHIPPED: ()} | (
        dict(parse_variant(v) for v in args.variant)
        if args.variant
        else {k: v for k, v in DEFAULT_VARIANTS.items() if k != SHIPPED}
    )
    quiet_libraries()
    set_threads()
    data = args.data or settings().data or "data/train.csv"
    ctx = make_ctx(data, quick=False, precision=args.precision, overrides=args.override)
    # torch.compile's on-disk cache starts empty: round 1's warm-up is a cold compile (a user's
    # first run), later rounds' a warm one (a user's later runs)
    inductor_before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(ctx.work / "inductor")
    try:
        here, load_before, peak_before, rounds, peak_after = _measure(ctx, args, variants)
    finally:
        cleanup(ctx)
        os.environ.pop("BERTFREEZE_CACHE", None)
        if inductor_before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_before
    peak = max(peak_before.flops_per_s, peak_after.flops_per_s)
    result = {
        **record_header("levers", here, args.freeze),
        "warmup_steps": args.warmup,
        "load_before": load_before,
        "peak": {
            **peak_before.as_record(),
            "flops_per_s": peak,
            "gflops_before_after": [
                round(peak_before.flops_per_s / 1e9, 1),
                round(peak_after.flops_per_s / 1e9, 1),
            ],
        },
        "variants": summarise(rounds, peak),
        "note": "same build, batches and order per variant; rounds alternate the variants' "
        "order; torch.compile's on-disk cache empty at round 1",
    }
    out = (
        Path(args.out)
        if args.out
        else RESULTS / "levers" / f"{args.freeze}-{machine_stem(here)}-{here.precision}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, v in result["variants"].items():
        print(
            f"{name:20s} {v['ms_per_step']:8.1f} ms/step  MFU {v['mfu']:.1%}  "
            f"x{v['speedup_vs_shipped']}  warm-up {v['warmup_s_by_round']} s"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
