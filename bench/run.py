"""Run the CPU benchmarks and write bench/results/*.json and docs/benchmarks.md.

    python -m bench.run                    # everything (~8 min on 2 idle cores, ~25 shared)
    python -m bench.run --quick            # smoke test: a 600-tweet subset, few steps (minutes)
    python -m bench.run --only a,c         # some of them (the table keeps the others' last results)
    make bench ARGS='--quick'

Benchmarks: (a) frozen sweep, cached features vs re-encoding every epoch; (b) one last2 epoch,
cached prefix vs full forward; (c) one fine-tuning epoch, bucketed dynamic padding vs fixed
padding vs a plain HF Trainer, and fp32 vs bf16; (d) sparse baselines (bench/bench_baselines.py);
(e) peak RSS of a fine-tuning run and the caches' size on disk.

Full runs write bench/results/<name>.json and regenerate docs/benchmarks.md; ``--quick`` writes
bench/results/quick/ and leaves the docs alone (``--docs`` forces them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "docs" / "benchmarks.md"

BENCHES: dict[str, tuple[str, str]] = {
    "a": ("frozen_sweep", "frozen sweep: cached features vs re-encoding every epoch"),
    "b": ("last2_epoch", "one last2 epoch: cached prefix vs full forward"),
    "c": (
        "finetune_epoch",
        "one fine-tuning epoch: dynamic vs fixed padding, vs HF Trainer, fp32 vs bf16",
    ),
    "d": ("baselines", "sparse baselines: ours (parallel) vs a plain loop"),
    "e": ("memory", "peak RSS of a fine-tuning run, cache sizes on disk"),
}


# -- provenance -------------------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.lower().startswith("model name"):
                return row.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "hostname_hash": None,
    }
    with contextlib.suppress(Exception):
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    with contextlib.suppress(Exception):
        import hashlib

        info["hostname_hash"] = hashlib.sha256(platform.node().encode()).hexdigest()[:8]
    return info


def versions() -> dict[str, str]:
    from bertfreeze import runs

    out = dict(runs.versions())
    for name in ("numpy", "sklearn", "accelerate", "hydra", "torchmetrics"):
        with contextlib.suppress(Exception):
            out[name] = __import__(name).__version__
    return out


def file_sha256(path: Path) -> str:
    from bertfreeze.data import file_sha256 as sha

    return sha(path)


# -- the benches ------------------------------------------------------------------------------
def run_baselines(ctx: Any) -> dict[str, Any]:
    from bench.bench_training import line

    try:
        from bench.bench_baselines import bench_baselines
    except ImportError as err:  # written by another change; the row says so
        return {
            "lines": [
                {
                    "key": "d",
                    "label": "sparse baselines (10-fold CV, 3 feature sets)",
                    "pending": f"bench/bench_baselines.py not importable yet ({err})",
                    "target": 1.5,
                    "met": None,
                }
            ]
        }
    r = bench_baselines(ctx.data_path)
    return {
        "lines": [
            line(
                "d",
                "sparse baselines: TF-IDF/count/hashing x 10-fold CV",
                (
                    "run_baselines (joblib, all cores)",
                    float(r["ours_s"]),
                    f"{r['acc_ours']:.4f} (mean CV)",
                ),
                ("plain sequential loop", float(r["plain_s"]), f"{r['acc_plain']:.4f} (mean CV)"),
                1.5,
                "both sides measured in full, one after the other (bench/bench_baselines.py)",
                False,
                [f"ours run sequentially (n_jobs=1): {r['seq_ours_s']:.1f} s"]
                if "seq_ours_s" in r
                else [],
            )
        ],
        "details": {"bench_baselines": r},
    }


def run_one(key: str, ctx: Any, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from bench import bench_training as bt

    if key == "a":
        return bt.bench_frozen_sweep(ctx)
    if key == "b":
        return bt.bench_last2_epoch(ctx)
    if key == "c":
        return bt.bench_finetune_epoch(ctx)
    if key == "d":
        return run_baselines(ctx)
    other: dict[str, Any] = {}
    for k, field in (("a", "feature_cache_bytes"), ("b", "hidden_cache_bytes")):
        res = done.get(k) or _read(results_dir(ctx.sizes.quick) / f"{BENCHES[k][0]}.json")
        if res and (res.get("details") or {}).get(field):
            other[field] = res["details"][field]
    return bt.bench_memory(ctx, other)


def results_dir(quick: bool) -> Path:
    return RESULTS / "quick" if quick else RESULTS


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# An absolute path outside the repository: everything up to its last component.
_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"=,]+/)+(?=[^\s/'\"=,]+)")


def portable(obj: Any) -> Any:
    """Results without machine-specific paths: the repository prefix dropped, the interpreter
    shown as ``python``, any other absolute folder as ``<...>/`` (file names are kept; the
    data file is identified by its sha256 anyway). Committed results must not name one machine."""
    if isinstance(obj, dict):
        return {k: portable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [portable(v) for v in obj]
    if isinstance(obj, Path):
        obj = str(obj)
    if not isinstance(obj, str):
        return obj
    obj = obj.replace(sys.executable, "python").replace(f"{REPO}/", "")
    return _ABS_PATH.sub("<...>/", obj)


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(portable(obj), indent=2, default=str) + "\n")
    tmp.replace(path)


# -- rendering --------------------------------------------------------------------------------
def fmt_s(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def fmt_target(line: dict[str, Any]) -> tuple[str, str]:
    t = line.get("target")
    if t is None:
        return "—", "(info)"
    met = line.get("met")
    return f"≥ {t:g}×", "met" if met else ("pending" if met is None else "**missed**")


def table_rows(results: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| | benchmark | ours | time | naive / baseline | time | ratio | target | | accuracy, ours | accuracy, naive |",
        "|---|---|---|---:|---|---:|---:|---:|---|---|---|",
    ]
    for res in results:
        if res.get("error"):
            key = res.get("key", "?")
            rows.append(
                f"| {key} | {BENCHES.get(key, ('', ''))[1]} | failed: {res['error'].splitlines()[0][:120]} | | | | | | | | |"
            )
            continue
        for ln in res.get("lines", []):
            tgt, met = fmt_target(ln)
            if res.get("mode") == "quick" and ln.get("target") is not None:
                met = "(smoke test)"
            if ln.get("pending"):
                rows.append(
                    f"| {ln['key']} | {ln['label']} | pending: {ln['pending']} | | | | | {tgt} | pending | | |"
                )
                continue
            star = "*" if ln.get("extrapolated") else ""
            rows.append(
                f"| {ln['key']} | {ln['label'].strip()} | {ln['ours']['name']} | {fmt_s(ln['ours']['seconds'])} | "
                f"{ln['naive']['name']} | {fmt_s(ln['naive']['seconds'])}{star} | **{ln['ratio']:.2f}×** | {tgt} | {met} | "
                f"{ln['ours']['accuracy']} | {ln['naive']['accuracy']} |"
            )
    return rows


def memory_rows(results: list[dict[str, Any]]) -> list[str]:
    mem = next((r for r in results if r.get("key") == "e" and not r.get("error")), None)
    if not mem:
        return ["(not measured yet: `python -m bench.run --only e`)"]
    m, c = mem["memory"], mem["cache_sizes"]

    def size(measured: Any, expected: Any) -> str:
        return (
            f"{measured} MiB" if measured else f"not built in this run (expected ≈ {expected} MiB)"
        )

    return [
        "| what | value | target | |",
        "|---|---:|---:|---|",
        f"| peak RSS, MiniLM fine-tuning run | {m['rss_mb']:.0f} MB | ≤ {m['target_mb']} MB | {'met' if m['met'] else '**missed**'} |",
        f"| feature cache, freeze=all ({c['rows']} rows × 384, {c['dtype']}) | {size(c['feature_cache_all_mib'], c['expected_feature_cache_all_mib'])} | | |",
        f"| hidden-state cache, freeze=last2 ({c['tokens']:,} tokens × 384, {c['dtype']}) | {size(c['hidden_cache_last2_mib'], c['expected_hidden_cache_last2_mib'])} | | |",
        f"| token-id cache | {c['tokens_cache_mib']} MiB | | |",
        "",
        f"RSS method: {m['method']}.",
    ]


def notes(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for res in results:
        shown: set[str] = set()
        for ln in res.get("lines", []):
            if ln.get("pending"):
                continue
            bits = [
                f"**{ln['key']}** ({fmt_s(ln['naive']['seconds'])} / {fmt_s(ln['ours']['seconds'])}):"
            ]
            for text in [ln["method"], *ln.get("notes", [])]:
                if text not in shown:
                    bits.append(f"{text}.")
                    shown.add(text)
            if len(bits) == 1:
                bits.append("measured as above.")
            out.append("- " + " ".join(bits))
        out += cross_checks(res)
    return out


def targets(results: list[dict[str, Any]]) -> list[str]:
    """One line per target: met or missed, and why when a reason was measured."""
    out = []
    for res in results:
        for ln in res.get("lines", []):
            if ln.get("target") is None:
                continue
            if ln.get("pending"):
                out.append(f"- **{ln['key']}** ≥ {ln['target']:g}×: pending ({ln['pending']})")
                continue
            verdict = "met" if ln["met"] else "**missed**"
            why = [n for n in ln.get("notes", []) if n.startswith("compute bound")]
            tail = f" — {why[0]}" if why and not ln["met"] else ""
            info = [
                x
                for x in res.get("lines", [])
                if x["key"] == f"{ln['key']}2" and x.get("target") is None
            ]
            if info:
                tail += f" ({info[0]['ratio']:.2f}× against {info[0]['naive']['name']})"
            out.append(
                f"- **{ln['key']}** {ln['label'].strip()}: {ln['ratio']:.2f}× vs ≥ {ln['target']:g}× "
                f"— {verdict}{tail}"
            )
        mem = res.get("memory")
        if mem:
            verdict = "met" if mem["met"] else "**missed**"
            out.append(
                f"- **e** peak RSS {mem['rss_mb']:.0f} MB vs ≤ {mem['target_mb']} MB — {verdict}"
            )
    return out


def cross_checks(res: dict[str, Any]) -> list[str]:
    """Second opinions from the equivalence checks' own step timings (same batches, both sides)."""
    d = res.get("details") or {}
    key = res.get("key")
    out = []
    chk = d.get("equivalence_check") or {}
    if key == "a" and chk.get("train_s_naive") and d.get("naive_step_s"):
        per = chk["train_s_naive"] / chk["train_batches"]
        timed = d["naive_step_s"]["bucketed"]
        line = next((ln for ln in res.get("lines", []) if ln["key"] == "a2"), None)
        if line:
            alt = line["ratio"] * per / timed
            out.append(
                f"- **a** cross-check: during the equivalence check (first {chk['train_batches']} "
                f"bucketed batches, not interleaved) a re-encoding step took {per:.2f} s vs "
                f"{timed:.2f} s in the interleaved sample; at that speed a2 would be {alt:.1f}× "
                f"(and a ≈ {alt * d['naive_step_s']['random'] / timed:.1f}×) — the spread is "
                f"machine-load noise."
            )
    if key == "b" and chk.get("train_s_ours"):
        out.append(
            f"- **b** cross-check: the equivalence check's {chk['train_batches']} steps per side "
            f"(same batches, alternating) gave {chk['train_s_naive'] / chk['train_s_ours']:.2f}×."
        )
    pad = d.get("equivalence_check_padding") or {}
    if key == "c" and pad.get("train_s_ours"):
        out.append(
            f"- **c** cross-check: on the same {pad['train_batches']} bucketed batches (direct "
            f"loop, no Lightning), padding them to 128 cost "
            f"{pad['train_s_naive'] / pad['train_s_ours']:.2f}× the dynamic padding."
        )
    bf = d.get("equivalence_check_bf16") or {}
    if key == "c" and bf.get("train_s_naive"):
        out.append(
            f"- **c3** cross-check: on the same {bf['train_batches']} batches (direct loop), "
            f"fp32 / bf16 = {bf['train_s_ours'] / bf['train_s_naive']:.2f}×."
        )
    full = (d.get("full_epochs") or {}).get("ours_fp32")
    if key == "c" and full and d.get("step_s"):
        est = d["step_s"]["ours_fp32"] * d["batches_per_epoch"]
        out.append(
            f"- **c** extrapolation check: a real fp32 fine-tuning epoch (`train()`, "
            f"max_epochs=1) took {full['fit_s']:.0f} s to fit incl. validation "
            f"({full['wall_s']:.0f} s with test and loading) vs {est:.0f} s extrapolated for "
            f"training alone; test accuracy {full['test_accuracy']:.4f}."
        )
    return out


def provenance(results: list[dict[str, Any]]) -> list[str]:
    dates = sorted({r.get("date", "?") for r in results})
    first = next((r for r in results if r.get("machine")), {})
    mach = first.get("machine", {})
    ver = first.get("versions", {})
    modes = sorted({r.get("mode", "?") for r in results})
    loads = [
        x[0]
        for r in results
        for x in ((r.get("details") or {}).get(k) for k in ("load_avg_before", "load_avg_after"))
        if x
    ]
    load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"
    return [
        f"- date: {', '.join(dates)} ({'/'.join(modes)} mode)",
        f"- machine: {mach.get('cpu', '?')}, {mach.get('logical_cores', '?')} logical cores, "
        f"{mach.get('ram_gib', '?')} GiB RAM, {mach.get('platform', '?')}; torch threads: {first.get('threads', '?')} on every side",
        f"- 1-minute load average while measuring: {load} (other jobs shared the cores: absolute times are "
        "noisy, the interleaved ratios much less so)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if k != "platform"),
        f"- data: {first.get('data', {}).get('rows', '?')} tweets (sha256 {str(first.get('data', {}).get('sha256', '?'))[:12]}…)",
    ]


GPU_HOWTO = """`bench/gpu.sh` is a prepared, self-contained script (≤ 8 minutes, no network, no
installs; it needs torch, transformers, lightning and scikit-learn — not Hydra/OmegaConf):

```bash
make bench-gpu                 # = bash bench/gpu.sh ; writes bench/results/gpu.json (or $OUT/gpu.json)
bash bench/gpu.sh --cpu-smoke  # tiny config on the CPU, seconds: checks the script itself
```

It times bert-base-shaped training (BertConfig defaults: 12 layers, 768 wide, random weights;
token ids from the real tweets with the bert-base-uncased vocabulary of the MiniLM package folder,
or synthetic ids with the real tweets' length distribution when those are absent) for
freeze=none, last2 (cached and uncached) and all (cached and uncached), under bf16 autocast, TF32
and fused AdamW, batch 32, max_length 128, bucketed dynamic padding, one full epoch of 6,851
training tweets per mode. It reports samples/s, the projected wall time of the 30-run sweep
(10 seeds × 3 modes × 3 epochs × 6,851 training tweets, plus the two cache builds) and the model
FLOP utilisation (6 × params × tokens per training step, 2 × for forward-only; encoder
parameters, real tokens — and on padded tokens) against a bf16 8192² matmul peak it measures
itself. Copy its JSON to `bench/results/gpu.json` (where it lands by default when `$OUT` is
unset) and `python -m bench.run --render` puts it in this section."""


def gpu_section() -> str:
    g = _read(RESULTS / "gpu.json")
    if not g or g.get("mode") != "gpu":
        return (
            "## GPU (bert-base shape): not measured yet\n\n"
            "No GPU was available when these benchmarks were written, so **there are no GPU "
            "figures yet** (the script was only run with `--cpu-smoke`, which tests it on a tiny "
            "CPU model and measures nothing about GPUs).\n\n" + GPU_HOWTO
        )
    rows = [
        f"## GPU (bert-base shape): {g['device']}, {g['date']}",
        "",
        f"Peak {g['peak_flops'] / 1e12:.0f} TFLOP/s ({g['peak_what']}); data: {g['data']}; "
        f"versions: {', '.join(f'{k} {v}' for k, v in g['versions'].items())}.",
        "",
        "| mode | samples/s | s/epoch | ms/step | MFU | MFU (padded tokens) | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, r in g["modes"].items():
        rows.append(
            f"| {mode} | {r['samples_per_s']:.0f} | {r['epoch_s']:.2f} | {r['ms_per_step']:.1f} | "
            f"{100 * r['mfu']:.1f}% | {100 * r['mfu_padded_tokens']:.1f}% | "
            f"{str(r['peak_mem_gib']) + ' GiB' if 'peak_mem_gib' in r else '—'} |"
        )
    sp = g["sweep_projection"]
    rows += [
        "",
        f"Projected sweep ({sp['what']}): **{fmt_s(sp['cached_s'])} cached** vs "
        f"{fmt_s(sp['uncached_s'])} uncached ({sp['ratio']}×).",
        "",
        GPU_HOWTO,
    ]
    return "\n".join(rows)


def render(results: list[dict[str, Any]]) -> str:
    return DOC_TEMPLATE.format(
        gpu=gpu_section(),
        provenance="\n".join(provenance(results)),
        table="\n".join(table_rows(results)),
        memory="\n".join(memory_rows(results)),
        targets="\n".join(targets(results)),
        notes="\n".join(notes(results)),
    )


DOC_TEMPLATE = """# Benchmarks

*Generated by `python -m bench.run` (`make bench`) from `bench/results/*.json` — edit the
template in `bench/run.py`, not this file.*

Every ratio is measured **side by side in one process on one machine**, with the same number of
torch threads on both sides, and the two sides are **interleaved** (step by step, or in chunks
between the long pieces) so that background load hits both alike. Ratio = naive time / our time
(> 1: ours is faster). Times marked \\* were **extrapolated** from a fixed number of timed steps
(the naive sides would take up to an hour each in full); how is written under the table.

{provenance}

## CPU results

{table}

\\* extrapolated from sampled steps (see below). "check" accuracies come from an *equivalence
check*: both sides start from the same weights, train on the same batches with the same dropout
masks, and are scored on the same 10% test tweets — it shows the two sides learn the same model.
"full runs" / "full epoch" accuracies are real, complete training runs of our side (`train()`).

### Targets

{targets}

### Memory and cache sizes

{memory}

### How each line was measured

{notes}

{gpu}

## Reproduce

```bash
make bench                        # full: ~8 min on 2 idle cores (~25 min on busy ones)
make bench ARGS='--quick'         # smoke test: minutes, results in bench/results/quick/
make bench ARGS='--only c'        # one benchmark; the table keeps the others' last results
```
"""


# -- main -------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: a small subset, few steps")
    p.add_argument("--only", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    p.add_argument(
        "--data",
        default=None,
        help="tweets train.csv (default: $BERTFREEZE_DATA or data/train.csv)",
    )
    p.add_argument(
        "--docs", action="store_true", help="also rewrite docs/benchmarks.md in --quick mode"
    )
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument(
        "--full-accuracy",
        action="store_true",
        help="also train a full cached last2 epoch (b) and bf16 / fixed-padding epochs (c)",
    )
    p.add_argument(
        "--keep-work", action="store_true", help="keep the temporary work dir (caches, run dirs)"
    )
    p.add_argument(
        "--render", action="store_true", help="only rewrite docs/benchmarks.md from stored results"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    bad = [k for k in keys if k not in BENCHES]
    if bad:
        print(
            f"error: --only {','.join(bad)}: unknown — use a subset of {','.join(BENCHES)}",
            file=sys.stderr,
        )
        return 2
    from bertfreeze.settings import settings

    data = args.data or settings().data or str(REPO / "data" / "train.csv")
    if args.render:
        results = [
            r
            for r in (_read(results_dir(args.quick) / f"{v[0]}.json") for v in BENCHES.values())
            if r
        ]
        DOCS.write_text(render(results))
        print(f"wrote {DOCS.relative_to(REPO)} from {len(results)} result file(s)")
        return 0

    from bench import bench_training as bt

    ctx = bt.make_ctx(data, args.quick, args.full_accuracy)
    out_dir = results_dir(args.quick)
    common = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "versions": versions(),
        "threads": bt.THREADS,
        "data": {
            "path": str(ctx.source_path),
            "sha256": file_sha256(ctx.source_path),
            "rows": len(ctx.labels),
            "subset_of_source": args.quick,
        },
    }
    print(
        f"bench: {', '.join(keys)} ({common['mode']}), work dir {ctx.work}, {common['machine']['cpu']}, threads {bt.THREADS}",
        flush=True,
    )
    done: dict[str, dict[str, Any]] = {}
    failed = []
    try:
        for key in keys:
            name, title = BENCHES[key]
            print(f"[{key}] {title}", flush=True)
            t0 = time.perf_counter()
            try:
                res = run_one(key, ctx, done)
            except Exception as exc:  # one failing bench must not lose the others
                traceback.print_exc()
                res = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                failed.append(key)
            res = {
                "key": key,
                "name": name,
                "title": title,
                "date": dt.datetime.now().isoformat(timespec="seconds"),
                **common,
                "bench_wall_s": round(time.perf_counter() - t0, 1),
                **res,
            }
            done[key] = res
            _write(out_dir / f"{name}.json", res)
            for row in table_rows([res])[2:]:
                print("   " + row, flush=True)
            if key == "e" and not res.get("error"):
                for row in memory_rows([res]):
                    print("   " + row, flush=True)
            print(f"    -> {out_dir / (name + '.json')} ({res['bench_wall_s']:.0f} s)", flush=True)
    finally:
        if not args.keep_work:
            bt.cleanup(ctx)

    results = [r for r in (_read(out_dir / f"{BENCHES[k][0]}.json") for k in BENCHES) if r]
    text = render(results)
    if (not args.quick or args.docs) and not args.no_docs:
        DOCS.write_text(text)
        print(f"wrote {DOCS.relative_to(REPO)}")
    print("\n".join(table_rows(results)))
    if failed:
        print(f"error: benchmark(s) {','.join(failed)} failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
