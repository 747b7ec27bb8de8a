"""docs/benchmarks.md, generated from the result JSONs (never typed by hand).

    python -m bench.render                 # bench/results/*.json -> docs/benchmarks.md
    python -m bench.render --quick         # bench/results/quick/ (smoke-test figures)
    python -m bench.render --results DIR --docs PATH

Why a separate command: the page must always say what the stored results say, including
which commit, CPU capability, precision and thread count produced each figure; re-rendering
after editing the template never needs a rerun. Results written by an older bench (before
they recorded commit, capability and precision) are shown in a separate "stale" section, never
mixed into the current tables.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "docs" / "benchmarks.md"
# Result JSONs written by this bench carry schema 2; older ones (no commit, capability,
# precision, per-side stars or MFU) are stale.
SCHEMA = 2

# bench/results/machines/<capability>[-bf16]-<cores>cores-<cpu>/<name>.json: each CPU's latest
# full run of each benchmark (bench.run writes it beside the page's copy), so a run on one CPU
# does not erase the evidence from another; rendered under "The same benchmarks on other CPUs".
MACHINES = "machines"

BENCHES: dict[str, tuple[str, str]] = {
    "a": ("frozen_sweep", "frozen sweep: the feature cache alone, build counted"),
    "b": ("last2_epoch", "last2: one run and one sweep, prefix build counted"),
    "c": (
        "finetune_epoch",
        "one fine-tuning epoch: padding, vs transformers.Trainer, precision",
    ),
    "d": ("baselines", "sparse baselines: solver effect and parallelism effect"),
    "e": ("memory", "peak RSS of a fine-tuning run, cache sizes on disk"),
}
MFU_TARGET = 0.60  # issue #12: the freeze=none epoch at >= 60% of the measured matmul peak

WHAT_A_RUN_PRODUCES = """A fresh `make bench` (full mode; {full_time}) rewrites
`bench/results/{frozen_sweep,last2_epoch,finetune_epoch,baselines,memory}.json` and this page
(and this CPU's copy in `bench/results/machines/<cpu>/`, so other CPUs' runs stay listed),
with these lines (every JSON records the git commit, CPU model,
`torch.backends.cpu.get_cpu_capability()`, native bf16, threads and precision):

- **a** frozen sweep (freeze=all, 10 seeds x 3 epochs), the cache alone: our cached features
  (build counted) + 10 real `train()` runs vs re-encoding every epoch on the *same bucketed
  batches*; **a2** the same against plain random batches (reference only).
- **b1** one `last2` run (3 epochs), prefix build counted in full; **b2** the 10-seed sweep,
  build counted once (amortised per run, stated in the label). Both sides extrapolated, both
  starred.
- **c** one `freeze=none` epoch, bucketed dynamic padding vs fixed padding to 128 (sampled,
  both starred); **c2** one whole epoch per side, measured in full, ours vs
  `transformers.Trainer` with `group_by_length`, same initial weights, batch, max length,
  precision, gradient clipping and optimiser, both scored on the same test rows; **c3** fp32 vs
  bf16 from two real `train()` epochs — only where bf16 is native, else the line says
  "skipped: no native bf16".
- **d1** solver effect (liblinear vs lbfgs, both `n_jobs=1`); **d2** parallelism effect
  (`n_jobs=-1` vs `1`, both liblinear); rotating, interleaved repetitions from a cold start.
- **e** peak RSS of a fine-tuning run and the caches' size on disk.
- For a, b, c: model FLOP utilisation of each side against a dense-matmul peak measured in the
  same benchmark at the same precision and thread count (`bench/flops.py`)."""


# -- loading ------------------------------------------------------------------------------------
def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _records(folder: Path) -> list[dict[str, Any]]:
    """Every readable record in ``folder`` (one per CPU kind and precision), in name order."""
    return [r for r in (_read(p) for p in sorted(folder.glob("*.json"))) if r]


def load_results(results_dir: Path) -> list[dict[str, Any]]:
    out = []
    for name, _ in BENCHES.values():
        res = _read(results_dir / f"{name}.json")
        if res:
            res.setdefault("_path", str(results_dir / f"{name}.json"))
            out.append(res)
    return out


def is_current(res: dict[str, Any]) -> bool:
    return res.get("schema") == SCHEMA


def last_commit_of(path: str | Path) -> str:
    """The commit that last changed a (stale) result file, as far as git knows."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


# -- formatting ---------------------------------------------------------------------------------
def fmt_s(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def fmt_mfu(side: dict[str, Any]) -> str:
    u = side.get("mfu")
    if u is None:
        return "—"
    return f"{100 * u:.1f}%" if u >= 0.001 else f"{100 * u:.2g}%"


def fmt_target(line: dict[str, Any]) -> tuple[str, str]:
    t = line.get("target")
    if t is None:
        return "—", "(info)"
    met = line.get("met")
    return f"≥ {t:g}×", "met" if met else ("pending" if met is None else "**missed**")


def _star(side: dict[str, Any]) -> str:
    return "\\*" if side.get("extrapolated") else ""


def _timed(side: dict[str, Any]) -> str:
    """One side's ``time | MFU`` cells (a starred time was extrapolated)."""
    return f"{fmt_s(side['seconds'])}{_star(side)} | {fmt_mfu(side)}"


def table_rows(results: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| | benchmark | ours | time | MFU | naive / baseline | time | MFU | ratio | target | "
        "| accuracy, ours | accuracy, naive |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---|---|---|",
    ]
    for res in results:
        if res.get("error"):
            key = res.get("key", "?")
            err = res["error"].splitlines()[0][:120]
            rows.append(
                f"| {key} | {BENCHES.get(key, ('', ''))[1]} | failed: {err} | | | | | | | | | | |"
            )
            continue
        for ln in res.get("lines", []):
            tgt, met = fmt_target(ln)
            if res.get("mode") == "quick" and ln.get("target") is not None:
                met = "(smoke test)"
            if ln.get("skipped") or ln.get("pending"):
                why = ln.get("skipped") or f"pending: {ln['pending']}"
                rows.append(f"| {ln['key']} | {ln['label'].strip()} | {why} | | | | | | | | | | |")
                continue
            o, n = ln["ours"], ln["naive"]
            rows.append(
                f"| {ln['key']} | {ln['label'].strip()} | {o['name']} | {_timed(o)} | "
                f"{n['name']} | {_timed(n)} | **{ln['ratio']:.2f}×** | "
                f"{tgt} | {met} | {o['accuracy']} | {n['accuracy']} |"
            )
    return rows


def stale_table_rows(results: list[dict[str, Any]]) -> list[str]:
    """The old tables as they were (the old format starred only the naive side)."""
    rows = [
        "| | benchmark | ours | time | naive / baseline | time | ratio | accuracy, ours |",
        "|---|---|---|---:|---|---:|---:|---|",
    ]
    for res in results:
        for ln in res.get("lines", []):
            if ln.get("pending") or "ours" not in ln:
                continue
            star = "\\*" if ln.get("extrapolated") else ""
            rows.append(
                f"| {ln['key']} | {ln['label'].strip()} | {ln['ours']['name']} | "
                f"{fmt_s(ln['ours']['seconds'])} | {ln['naive']['name']} | "
                f"{fmt_s(ln['naive']['seconds'])}{star} | {ln['ratio']:.2f}× | "
                f"{ln['ours']['accuracy']} |"
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

    verdict = "met" if m["met"] else "**missed**"
    return [
        "| what | value | target | |",
        "|---|---:|---:|---|",
        f"| peak RSS, fine-tuning run | {m['rss_mb']:.0f} MB | ≤ {m['target_mb']} MB | {verdict} |",
        f"| feature cache, freeze=all ({c['rows']} rows, {c['dtype']}) | "
        f"{size(c['feature_cache_all_mib'], c['expected_feature_cache_all_mib'])} | | |",
        f"| hidden-state cache, freeze=last2 ({c['tokens']:,} tokens, {c['dtype']}) | "
        f"{size(c['hidden_cache_last2_mib'], c['expected_hidden_cache_last2_mib'])} | | |",
        f"| token-id cache | {c['tokens_cache_mib']} MiB | | |",
        "",
        f"RSS method: {m['method']}.",
    ]


def _own_peak(side: dict[str, Any]) -> str:
    """A side timed at another precision than its line's peak carries its own (c3's 32-true)."""
    p = side.get("peak")
    return f" (vs {p['flops_per_s'] / 1e9:.0f} GFLOP/s, {p['dtype']})" if p else ""


def mfu_rows(results: list[dict[str, Any]]) -> list[str]:
    """The distance to the limit: each training line's model FLOP/s over the measured peak."""
    rows = [
        "| | benchmark | peak (dense matmul, same run) | ours: model TFLOP | MFU | "
        "naive: model TFLOP | MFU |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for res in results:
        peak = ((res.get("details") or {}).get("peak") or {}).get("used")
        for ln in res.get("lines", []):
            if "ours" not in ln or ln["ours"].get("model_flops") is None or not peak:
                continue
            shape = "x".join(str(x) for x in peak["shape"])
            rows.append(
                f"| {ln['key']} | {ln['label'].strip()} | {peak['flops_per_s'] / 1e9:.1f} GFLOP/s "
                f"({peak['dtype']}, {shape}, {peak['threads']} threads) | "
                f"{ln['ours']['model_flops'] / 1e12:.3g} | {fmt_mfu(ln['ours'])} | "
                f"{ln['naive']['model_flops'] / 1e12:.3g} | {fmt_mfu(ln['naive'])}"
                f"{_own_peak(ln['naive'])} |"
            )
    if len(rows) == 2:
        return ["(no training benchmark with MFU in these results)"]
    return rows


def peak_spread(results: list[dict[str, Any]]) -> list[str]:
    """A warning when the peaks measured by different lines differ: MFU compares within a line.

    Spread is reported per CPU and precision: a bf16 peak on an AMX CPU is ~8x its fp32 peak,
    which says nothing about measurement noise.
    """
    groups: dict[tuple[str, str], list[float]] = {}
    for r in results:
        used = ((r.get("details") or {}).get("peak") or {}).get("used")
        if used:
            cpu = r.get("cpu") or {}
            key = (f"{cpu.get('model')} ({cpu.get('capability')})", str(used.get("dtype")))
            groups.setdefault(key, []).append(used["flops_per_s"])
    out = []
    if len(groups) > 1:
        out.append(
            "Peaks are measured per CPU and precision ("
            + "; ".join(f"{c}, {d}" for c, d in groups)
            + "): an MFU is relative to its own line's peak, not comparable across them."
        )
    for (cpu, dtype), rates in groups.items():
        if len(rates) < 2 or max(rates) < 1.2 * min(rates):
            continue
        lo, hi = min(rates) / 1e9, max(rates) / 1e9
        out.append(
            f"On {cpu} at {dtype} the measured peak differs between lines ({lo:.0f}-{hi:.0f} "
            "GFLOP/s: shapes, and a shared or virtual machine's varying throughput), so an MFU "
            f"is comparable within its line only; against the highest peak, an MFU shown here "
            f"would be up to {1 - lo / hi:.0%} lower."
        )
    return [*out, ""] if out else []


def targets(results: list[dict[str, Any]]) -> list[str]:
    """One line per target: met or missed, and why when a reason was measured."""
    out = []
    for res in results:
        quick = res.get("mode") == "quick"
        for ln in res.get("lines", []):
            if ln.get("target") is None or ln.get("skipped"):
                continue
            if ln.get("pending"):
                out.append(f"- **{ln['key']}** ≥ {ln['target']:g}×: pending ({ln['pending']})")
                continue
            verdict = "(smoke test)" if quick else ("met" if ln["met"] else "**missed**")
            why = [n for n in ln.get("notes", []) if n.startswith(("FLOP bound", "compute bound"))]
            tail = f" — {why[0]}" if why and not ln["met"] else ""
            out.append(
                f"- **{ln['key']}** {ln['label'].strip()}: {ln['ratio']:.2f}× vs "
                f"≥ {ln['target']:g}× — {verdict}{tail}"
            )
            if ln["key"] == "c" and ln["ours"].get("mfu") is not None:
                u = ln["ours"]["mfu"]
                ok = "(smoke test)" if quick else ("met" if u >= MFU_TARGET else "**missed**")
                out.append(
                    f"- **c** MFU of the freeze=none epoch: {100 * u:.1f}% of the measured peak "
                    f"vs ≥ {100 * MFU_TARGET:.0f}% — {ok}"
                )
        mem = res.get("memory")
        if mem:
            verdict = "(smoke test)" if quick else ("met" if mem["met"] else "**missed**")
            out.append(
                f"- **e** peak RSS {mem['rss_mb']:.0f} MB vs ≤ {mem['target_mb']} MB — {verdict}"
            )
    return out or ["(no targets in these results)"]


def notes(results: list[dict[str, Any]]) -> list[str]:
    out = []
    for res in results:
        shown: set[str] = set()
        for ln in res.get("lines", []):
            if ln.get("pending") or ln.get("skipped"):
                continue
            bits = [f"**{ln['key']}**:"]
            for text in [ln["method"], *ln.get("notes", [])]:
                if text not in shown:
                    bits.append(f"{text}.")
                    shown.add(text)
            if len(bits) == 1:
                bits.append("measured as above.")
            out.append("- " + " ".join(bits))
    return out


def provenance_rows(results: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| | date | commit | CPU | capability | native bf16 | threads | precision | load (1 min) |",
        "|---|---|---|---|---|---|---:|---|---|",
    ]
    for res in results:
        git = res.get("git") or {}
        cpu = res.get("cpu") or {}
        prec = res.get("precision") or {}
        d = res.get("details") or {}
        loads = [x[0] for x in (d.get("load_avg_before"), d.get("load_avg_after")) if x]
        loads += [  # the baselines bench records one 1-minute load average, at its end
            x for x in [(d.get("bench_baselines") or {}).get("load_avg_1m")] if x is not None
        ]
        span = sorted({f"{x:.1f}" for x in loads}, key=float)
        load = "–".join(span[:: max(1, len(span) - 1)]) if loads else "—"
        commit = (git.get("commit") or "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        rows.append(
            f"| {res.get('key', '?')} | {res.get('date', '?')} | {commit} | "
            f"{cpu.get('model', '?')} | {cpu.get('capability', '?')} | "
            f"{cpu.get('native_bf16', '?')} | {res.get('threads', '?')} | "
            f"{prec.get('precision', '?')} (asked {prec.get('requested', '?')}) | {load} |"
        )
    return rows


def versions_line(results: list[dict[str, Any]]) -> str:
    first = next((r for r in results if r.get("versions")), {})
    ver = first.get("versions", {})
    data = first.get("data", {})
    return (
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in ver.items() if k != "platform")
        + f"\n- data: {data.get('rows', '?')} tweets "
        f"(sha256 {str(data.get('sha256', '?'))[:12]}…)"
        + (" — a subset (smoke test)" if data.get("subset_of_source") else "")
    )


GPU_HOWTO = """`bench/gpu.sh` is a prepared, self-contained script (≤ 8 minutes, no network, no
installs; it needs torch, transformers, lightning and scikit-learn — not Hydra/OmegaConf). On a
machine with one H100/H200 (or any CUDA GPU), from the repository root:

```bash
make bench-gpu                 # = bash bench/gpu.sh ; writes bench/results/gpu.json (or $OUT/gpu.json)
bash bench/gpu.sh --cpu-smoke  # tiny config on the CPU, seconds: checks the script itself
BERTFREEZE_DATA=/x/train.csv make bench-gpu   # real tweets' token ids (else synthetic lengths)
python -m bench.render         # puts bench/results/gpu.json into this section
```

It times bert-base-shaped training (BertConfig defaults: 12 layers, 768 wide, random weights)
for freeze=none, last2 (cached and uncached) and all (cached and uncached), under bf16 autocast,
TF32 and fused AdamW, batch 32, max_length 128, bucketed dynamic padding, one full epoch of 6,851
training tweets per mode, and reports samples/s, the projected 30-run sweep and the model FLOP
utilisation against a bf16 8192² matmul peak it measures itself."""


def gpu_section(results_dir: Path) -> str:
    g = _read(results_dir / "gpu.json")
    if not g or g.get("mode") != "gpu":
        sweep = gpu_sweep_rows(results_dir)
        if sweep:  # the sweep without the per-epoch benchmark
            return "\n".join(["## GPU (bert-base shape)", "", *sweep, GPU_HOWTO])
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
        mem = f"{r['peak_mem_gib']} GiB" if "peak_mem_gib" in r else "—"
        rows.append(
            f"| {mode} | {r['samples_per_s']:.0f} | {r['epoch_s']:.2f} | {r['ms_per_step']:.1f} | "
            f"{100 * r['mfu']:.1f}% | {100 * r['mfu_padded_tokens']:.1f}% | {mem} |"
        )
    sp = g["sweep_projection"]
    rows += [
        "",
        f"Projected sweep ({sp['what']}): {fmt_s(sp['cached_s'])}* cached vs "
        f"{fmt_s(sp['uncached_s'])}* uncached ({sp['ratio']}×); * projected from one epoch "
        f"per mode. Commit {str(g.get('commit') or '?')[:7]}; host CPU {g.get('host_cpu', '?')}.",
        "",
        *gpu_sweep_rows(results_dir),
        GPU_HOWTO,
    ]
    return "\n".join(rows)


def gpu_sweep_rows(results_dir: Path) -> list[str]:
    """The real verbatim sweep with ``trainer=gpu`` (``bench/gpu_sweep.py``), per mode and total."""
    g = _read(results_dir / "gpu_sweep.json")
    if not g:
        return []
    star = lambda m: "*" if m["extrapolated"] else ""  # noqa: E731
    rows = [
        "### The verbatim sweep with `trainer=gpu` (bert-base shape, random weights)",
        "",
        f"`python train.py -m freeze=none,all,last2 'seed=range(10)' trainer=gpu` on {g['device']} "
        f"({', '.join(g['precision'])}), the project's own entry point, Lightning loop, cold "
        f"prefix cache and defaults, run in parts ({len(g['parts'])}) to fit the device time; a "
        "part interrupted at its limit gives its finished runs as measured and the rest of its "
        "mode at the measured mean (*). Wall time is the runs' own (`wall_time_s`), without the "
        "sweep process's start. MFU = FLOP floor / wall time, so every row uses the one peak "
        "the floor uses.",
        "",
        "| mode | seeds measured | measured | 10 seeds | FLOP floor | MFU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, m in g["modes"].items():
        rows.append(
            f"| {mode} | {m['runs']} of {m['seeds']} | {fmt_s(m['wall_s'])} | "
            f"{fmt_s(m['all_seeds_s'])}{star(m)} | {m['all_seeds_floor_s']:.2f} s | "
            f"{100 * m['all_seeds_floor_s'] / m['all_seeds_s']:.2f}%{star(m)} |"
        )
    t_star = "*" if g["total_extrapolated"] else ""
    rows += [
        f"| **sweep** | | | **{fmt_s(g['total_runs_s'])}{t_star}** | {g['floor_s']:.1f} s | "
        f"{100 * g['mfu']:.2f}%{t_star} |",
        "",
        f"Goal (issue #12): ≤ {fmt_s(g['goal_s'])} on one H100 — "
        f"**{'met' if g['goal_met'] else 'not met'}** ({g['total_over_floor']}× the FLOP floor). "
        "The GPU is idle most of each step: a `none` step's model FLOPs take about a millisecond "
        "at this peak, while a step takes 80-100 ms (a run's wall time over its steps; "
        "`bench/gpu.sh`'s ms/step above). Not profiled on the GPU here; the likely cost is "
        "host-side (eager PyTorch's per-kernel launches of a 12-layer model in Python, the "
        "Lightning loop, per-run set-up), so the levers are CUDA graphs or `torch.compile`, "
        "several seeds per step and fewer evaluations, not faster kernels. Commits: "
        + ", ".join(c[:7] for c in g["commits"])
        + f"; versions: {', '.join(f'{k} {v}' for k, v in (g.get('versions') or {}).items())}. "
        "Accuracies are not reported: the weights are random.",
        "",
        "Regenerate on a GPU machine: `python -m bench.gpu_sweep --data train.csv` (all modes; "
        "`--modes`, `--limit` for parts), then `python -m bench.gpu_sweep --combine "
        "bench/results/gpu_sweep/*.json` and `python -m bench.render`.",
        "",
    ]
    return rows


def other_machines_section(results_dir: Path, shown: list[dict[str, Any]]) -> str:
    """Each CPU's own latest run of the benchmarks the main tables do not show (another CPU, or
    an older run), one row per line, with the CPU, precision and commit of that run."""
    shown_runs = {(r.get("key"), r.get("date"), (r.get("git") or {}).get("commit")) for r in shown}
    rows = []
    for folder in sorted(p for p in (results_dir / MACHINES).glob("*") if p.is_dir()):
        for res in load_results(folder):
            run = (res.get("key"), res.get("date"), (res.get("git") or {}).get("commit"))
            if not is_current(res) or res.get("error") or run in shown_runs:
                continue
            cpu, prec = res["cpu"], res["precision"]
            where = (
                f"{cpu['model']}, {cpu['capability']}{', native bf16' if cpu['native_bf16'] else ''}"
                f", {res['threads']} threads, {prec['precision']}"
            )
            for ln in res.get("lines", []):
                if ln.get("skipped") or ln.get("pending"):
                    continue
                o, n = ln["ours"], ln["naive"]
                rows.append(
                    f"| {ln['key']} | {ln['label'].strip()} | {where} | "
                    f"{(res['git'].get('commit') or '?')[:10]}, {res['date'][:10]} | "
                    f"{_timed(o)} | {_timed(n)} | **{ln['ratio']:.2f}×** | "
                    f"{o['accuracy']} | {n['accuracy']} |"
                )
    if not rows:
        return ""
    return "\n".join(
        [
            "## The same benchmarks on other CPUs",
            "",
            "Each CPU's latest full `make bench` run of a line the tables above do not show "
            f"(`bench/results/{MACHINES}/<cpu>/`), at the commit it ran: where that commit is "
            "older than the tables' above, the code it timed may have changed since. Sides and "
            "methods as in the tables above; \\* extrapolated from sampled steps.",
            "",
            "| | benchmark | CPU, threads, precision | commit, date | ours | MFU | naive / baseline "
            "| MFU | ratio | accuracy, ours | accuracy, naive |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---|---|",
            *rows,
            "",
        ]
    )


def quickstart_section(results_dir: Path) -> str:
    """Measured quickstart wall times, one row per CPU kind (``python -m bench.quickstart``)."""
    recs = sorted(
        _records(results_dir / "quickstart"),
        key=lambda r: (r["cpu"]["capability"], r["cpu"]["model"]),
    )
    head = (
        "## Quickstart\n\n`make quickstart` end to end (budget: 20 minutes on 2 cores), timed by "
        "`python -m bench.quickstart` — one row per kind of CPU it was measured on. *cold*: an "
        "empty output folder and an empty `BERTFREEZE_CACHE`, as on a newcomer's first run "
        "(rows from before the bench ensured that say *not recorded*).\n\n"
    )
    if not recs:
        return head + "Not measured with this bench yet: run `python -m bench.quickstart`."
    rows = [
        "| CPU | capability | native bf16 | cores | precision | start | wall time | commit | date |",
        "|---|---|---|---:|---|---|---:|---|---|",
    ]
    for r in recs:
        commit = (r["git"].get("commit") or "?")[:10] + (
            " (dirty)" if r["git"].get("dirty") else ""
        )
        rows.append(
            f"| {r['cpu']['model']} | {r['cpu']['capability']} | {r['cpu']['native_bf16']} | "
            f"{r.get('logical_cores', '?')} | {r['precision']['precision']} | "
            f"{'cold' if r.get('cold') else 'not recorded'} | "
            f"{fmt_s(r['wall_s'])} | {commit} | {r['date']} |"
        )
    return head + "\n".join(rows)


def verbatim_section(results_dir: Path) -> str:
    """The committed verbatim sweep (results/disaster-tweets) against its FLOP floor
    (``python -m bench.verbatim_sweep``), one table per CPU kind."""
    head = (
        "## The verbatim sweep against its FLOP floor\n\n"
        "`python train.py -m freeze=none,all,last2 'seed=range(10)'` with the shipped defaults "
        "(precision as each table says: `make results` pins 32-true), "
        "timed end to end by the committed study (`results/disaster-tweets/runs.csv`, "
        "`make results ARGS=study=disaster-tweets`); the floor is its model FLOPs over the "
        "dense-matmul peak measured on the same kind of CPU at the same precision and threads "
        "(`python -m bench.verbatim_sweep`). Wall = the runs' own wall times: data, training, "
        "evaluation, writing, and the prefix-cache build in the first run of each cached mode "
        "(the floor counts that build once per mode, so run the study from a cold prefix cache); "
        "process start-up, baselines and the report are in the whole study's time below.\n\n"
    )
    recs = _records(results_dir / "verbatim_sweep")
    if not recs:
        return head + "Not measured yet: run `python -m bench.verbatim_sweep` after the study."
    out = [head.rstrip("\n"), ""]
    for r in recs:
        commits = r.get("study_commits")
        commits = (
            ", ".join(c[:10] for c in commits) if isinstance(commits, list) else str(commits)[:10]
        )
        peak = r["peak"]
        out += [
            f"**{r['cpu']['model']}, {r['cpu']['capability']}, native bf16 {r['cpu']['native_bf16']}, "
            f"{peak['threads']} threads, {r['precision']['precision']}** — study at commit {commits}; "
            f"peak {peak['flops_per_s'] / 1e9:.0f} GFLOP/s ({peak['dtype']}, "
            f"{'x'.join(map(str, peak['shape']))}, load average {r['load_avg_at_peak'][0]}) measured "
            f"{r['date'][:16]} at {(r['git'].get('commit') or '?')[:10]}.",
            "",
            "| mode | runs | cached prefix | wall (sum of runs) | FLOP floor | wall / floor | MFU |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        for mode, m in r["modes"].items():
            cached = f"{m['frozen_prefix_layers']} layers" if m["cached"] else "no"
            out.append(
                f"| {mode} | {m['runs']} | {cached} | {fmt_s(m['wall_s'])} | {fmt_s(m['floor_s'])} | "
                f"{m['wall_over_floor']:.2f}× | {m['mfu']:.0%} |"
            )
        t = r["total"]
        verdict = "met" if t["met"] else "not met"
        out += [
            f"| **sweep** | {t['runs']} | | **{fmt_s(t['sum_run_wall_s'])}** | {fmt_s(t['floor_s'])} | "
            f"**{t['wall_over_floor']:.2f}×** | {t['mfu']:.0%} |",
            "",
            f"Goal ≤ {t['target']}× the floor: **{verdict}**. {_whole_study(t)} The floor leaves "
            "out attention's n² terms, embeddings, the optimiser and data work, so wall / floor "
            "overstates the overhead a little.",
            "",
        ]
    out.append(e2e_section(results_dir))
    out.append(trainer_sweep_section(results_dir))
    return "\n".join(out).rstrip()


def e2e_section(results_dir: Path) -> str:
    """The verbatim command run as one process, timed end to end (``bench.verbatim_e2e``),
    with its accuracy against the committed study seed by seed."""
    recs = _records(results_dir / "verbatim_sweep_e2e")
    if not recs:
        return (
            "**Run as one command: not measured yet** (`python -m bench.verbatim_e2e` runs the "
            "verbatim command with the shipped defaults, timed end to end).\n"
        )
    out = []
    for r in recs:
        t, peak, acc = r["total"], r["peak"], r.get("accuracy_vs_study") or {}
        rounds = r.get("peak_rounds_flops_per_s") or {}
        spread = ", ".join(
            f"{k} {min(v) / 1e9:.0f}-{max(v) / 1e9:.0f}" for k, v in rounds.items() if v
        )
        extra = " ".join(r.get("extra_overrides") or []) or "none (shipped defaults)"
        out += [
            f"**Run as one command, end to end** (`python -m bench.verbatim_e2e`): `{r['command']}` "
            f"in a fresh process from an empty output folder and an empty cache; added overrides: "
            f"{extra}. {r['cpu']['model']}, {r['cpu']['capability']}, native bf16 "
            f"{r['cpu']['native_bf16']}, {peak['threads']} threads, "
            f"**{r['precision']['precision']}** (asked {asked_precision(r.get('extra_overrides') or [])}); started "
            f"{r['date'][:16]} at {(r['git'].get('commit') or '?')[:10]}"
            f"{' (dirty)' if r['git'].get('dirty') else ''}. Peak "
            f"{peak['flops_per_s'] / 1e9:.0f} GFLOP/s ({peak['dtype']}, "
            f"{'x'.join(map(str, peak['shape']))}), the best of rounds measured idle before and "
            f"after the sweep (GFLOP/s: {spread}). {_e2e_accuracy_basis(acc)}",
            "",
            "| mode | runs | cached prefix | wall (sum of runs) | FLOP floor | wall / floor | MFU "
            "| test acc | study | difference | MDD | equal accuracy | identical seeds |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for mode, m in r["modes"].items():
            a = acc.get(mode) or {}
            cached = f"{m['frozen_prefix_layers']} layers" if m["cached"] else "no"
            eq = a.get("equal_accuracy")
            out.append(
                f"| {mode} | {m['runs']} | {cached} | {fmt_s(m['wall_s'])} | {fmt_s(m['floor_s'])} "
                f"| {m['wall_over_floor']:.2f}× | {m['mfu']:.0%} | "
                f"{a.get('mean', float('nan')):.4f} ± {a.get('sd') or 0:.4f} | "
                f"{a.get('study_mean', float('nan')):.4f} ± {a.get('study_sd') or 0:.4f} | "
                f"{a.get('difference', float('nan')):+.4f} | "
                f"{a.get('min_detectable_difference') or float('nan'):.4f} | "
                f"{'—' if eq is None else ('yes' if eq else 'no')} | "
                f"{a.get('identical_seeds', '—')} of {len(a.get('seeds', []))} |"
            )
        verdict = "met" if t["met"] else "not met"
        out += [
            f"| **sweep** | {t['runs']} | | **{fmt_s(t['sum_run_wall_s'])}** | "
            f"{fmt_s(t['floor_s'])} | **{t['wall_over_floor']:.2f}×** | {t['mfu']:.0%} "
            "| | | | | | |",
            "",
            f"The whole command took **{fmt_s(t['study_wall_s'])}** "
            f"({t['study_wall_over_floor']}× the floor; the runs' own times sum to "
            f"{fmt_s(t['sum_run_wall_s'])}, the rest is process start-up, imports and the "
            f"multirun's set-up). Goal ≤ {t['target']}× the floor: **{verdict}**.",
            "",
        ]
    return "\n".join(out)


def asked_precision(overrides: list[str]) -> str:
    """The precision a command asked for: its ``trainer.precision=`` override, else the
    shipped ``auto``. (e2e records before 2026-12-07 stored the resolved precision as the
    request, so the page derives it from the overrides.)"""
    asked = [x.split("=", 1)[1] for x in overrides if x.startswith("trainer.precision=")]
    return asked[-1] if asked else "auto"


def _e2e_accuracy_basis(acc: dict[str, Any]) -> str:
    """What the e2e accuracy columns compare against, and whether the data file was checked."""
    study = f"`results/{acc.get('study', '?')}`"
    data = acc.get("data")
    if data is None:
        return (
            f"Accuracy: test accuracy against the committed study {study} on the same seeds "
            "and split (the data file's sha256 was not checked: recorded before that check)."
        )
    if not data["same"]:
        return (
            f"Accuracy **not compared**: the sweep's data (sha256 "
            f"{', '.join(x[:12] for x in data['sha256']) or '?'}) is not the study {study}'s "
            f"({', '.join(x[:12] for x in data['study_sha256']) or '?'})."
        )
    return (
        f"Accuracy: test accuracy against the committed study {study} on the same seeds, "
        f"split and data file (sha256 {data['sha256'][0][:12]}…, checked)."
    )


def _whole_study(t: dict[str, Any]) -> str:
    """The whole study's time, where one ``make results`` call ran it all."""
    if not t.get("study_wall_s"):
        return (
            "The study ran mode by mode over several calls, so no single end-to-end time "
            "(process start-ups, baselines, report) exists; the sum of the runs' own times is "
            "the figure."
        )
    return (
        f"The whole study, baselines, report and process start-ups included, took "
        f"{fmt_s(t['study_wall_s'])} ({t['study_wall_over_floor']}× the floor)."
    )


def _trainer_mode_rows(c: dict[str, Any]) -> list[str]:
    """Header and one row per mode of a Trainer-sweep comparison (``bench.trainer_sweep``)."""

    def num(x: Any, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    rows = [
        "| mode | runs | ours timed | ours | Trainer | Trainer / ours | test acc ours "
        "| test acc Trainer | difference | MDD | equal accuracy | Welch p |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for mode, m in c["modes"].items():
        a, b = m["test_accuracy"]["ours"], m["test_accuracy"]["trainer"]
        eq = m["equal_accuracy"]
        source = m.get("ours_source", "study")
        if source == "interleaved":
            same = m.get("same_accuracy_as_study")
            if same is None and m.get("study_precision"):
                source += f" (study at {m['study_precision']}: not compared)"
            else:
                source += "" if same is None else (" (= study)" if same else " (≠ study!)")
        rows.append(
            f"| {mode} | {len(m['seeds'])} | {source} | {fmt_s(m['wall_s']['ours'])} | "
            f"{fmt_s(m['wall_s']['trainer'])} | {num(m['speedup'], '.2f')}× | "
            f"{num(a[0], '.4f')} ± {num(a[1], '.4f')} | {num(b[0], '.4f')} ± {num(b[1], '.4f')} | "
            f"{m['difference']:+.4f} | {num(m['min_detectable_difference'], '.4f')} | "
            f"{'—' if eq is None else ('yes' if eq else 'no')} | {num(m.get('welch_p'), '.3f')} |"
        )
    return rows


def _significance_note(c: dict[str, Any]) -> str:
    """Where 'equal accuracy' (inside the MDD) and a significant Welch test disagree."""
    flagged = [
        f"`{mode}` ({m['difference']:+.4f}, p = {m['welch_p']:.3f})"
        for mode, m in c["modes"].items()
        if m.get("equal_accuracy") and m.get("welch_p") is not None and m["welch_p"] < 0.05
    ]
    if not flagged:
        return ""
    return (
        ' "Equal accuracy" is the issue\'s criterion (the difference is inside the MDD); it is '
        "not an equivalence test, and here a difference inside the MDD is still significant "
        f"(Welch, two-sided, uncorrected) for {', '.join(flagged)}. Known differences between "
        "the sides: the cached frozen layers of ours run without dropout (`all`, `last2`; see "
        "the README's speed notes), and batch order and random streams differ; which one "
        "causes a gap is not established."
    )


def _drift_note(c: dict[str, Any]) -> str:
    """Why interleave: the same runs of ours timed in the committed study and here."""
    seen = [
        f"{mode}: {fmt_s(m['study_wall_s'])} in the study, {fmt_s(m['wall_s']['ours'])} here"
        for mode, m in c["modes"].items()
        if m.get("ours_source") == "interleaved" and m.get("study_wall_s")
    ]
    startup = [
        f"{mode} {m['ours_startup_s']:.1f} s"
        for mode, m in c["modes"].items()
        if m.get("ours_startup_s") is not None
    ]
    out = ""
    if seen:
        out += (
            " Interleaving matters: the same runs of ours, with the same results, took "
            f"{'; '.join(seen)}: this VM's speed drifts from day to day by as much as the gap "
            "being measured."
        )
    if startup:
        out += (
            " Each interleaved run of ours is a fresh `python train.py` process; its start-up "
            f"(imports, Hydra; mean per run: {', '.join(startup)}) is outside its wall, as the "
            "Trainer side's imports are outside its own (a `-m` sweep pays it once)."
        )
    return out


def _startup_note(c: dict[str, Any]) -> str:
    """The sweep ratio with every interleaved run of ours charged its process start-up too.

    Why: the wall excludes it on both sides (the Trainer side's imports happen once), but the
    interleaved runs of ours paid one start-up each, and a skeptic may want them counted."""
    startup = sum(
        m["ours_startup_s"] * len(m["seeds"])
        for m in c["modes"].values()
        if m.get("ours_startup_s") is not None
    )
    if not startup:
        return ""
    t = c["total"]
    ours = t["wall_s"]["ours"] + startup
    return (
        f" Counting the start-ups of ours as well ({fmt_s(startup)} in all, one fresh process "
        f"per interleaved run; the verbatim `-m` command pays one): {fmt_s(ours)}, "
        f"{t['wall_s']['trainer'] / ours:.2f}×."
    )


def trainer_sweep_section(results_dir: Path) -> str:
    """The verbatim sweep against the same 30 runs through a fair ``transformers.Trainer``
    (``python -m bench.trainer_sweep``): a ratio only once every run exists on both sides."""
    paths = sorted((results_dir / "trainer_sweep").glob("*.json"))
    recs = [r | {"_path": p} for p, r in ((p, _read(p)) for p in paths) if r and not r.get("quick")]
    if not recs:
        return (
            "**Against a fair `transformers.Trainer` sweep: not measured.** No 30-run `Trainer` "
            "sweep was run, so no sweep ratio is claimed (line c2 compares one epoch each; "
            "`python -m bench.trainer_sweep` runs it, resumably; not yet timed here — expect "
            "hours on 2 AVX2 cores, like the study it is compared with)."
        )
    out = []
    for r in recs:
        c = r.get("comparison") or {}
        t = c.get("total") or {}
        n = len(r.get("runs", []))
        if c.get("mismatch"):
            out.append(
                f"**Against a fair `transformers.Trainer` sweep: no ratio** — {c['mismatch']}."
            )
            continue
        if not t.get("complete"):
            out.append(
                f"**Against a fair `transformers.Trainer` sweep: in progress** — {n} of its runs "
                f"recorded ({r['cpu']['model']}, {r['cpu']['capability']}); no sweep ratio is "
                "claimed until every mode has every seed (`python -m bench.trainer_sweep` "
                "resumes it). Per mode so far, on the seeds both sides have (same method as "
                "below once complete):"
            )
            out += ["", *_trainer_mode_rows(c), ""]
            continue
        commits, when = _commits_and_when(r["runs"])
        s0 = r["runs"][0]["settings"]
        ours_at = c.get("study_commits") or "?"
        ours_at = ", ".join(x[:10] for x in ours_at) if isinstance(ours_at, list) else ours_at[:10]
        inter = t.get("interleaved_modes") or []
        rest = [m for m in c["modes"] if m not in inter]
        if not inter:
            ours_desc = f"ours: the committed study, runs at {ours_at}"
            timing = "at different times (not interleaved)"
        else:
            ours_desc = (
                f"ours: `python train.py` run back to back with each Trainer run "
                f"(`--interleave`, alternating which goes first) for {', '.join(inter)}"
                + (
                    f"; the committed study, runs at {ours_at}, for {', '.join(rest)}"
                    if rest
                    else ""
                )
            )
            timing = (
                "interleaved run by run"
                if not rest
                else f"interleaved run by run for {', '.join(inter)}, at different times "
                f"(not interleaved) for {', '.join(rest)}"
            )
        out += [
            f"**Against a fair `transformers.Trainer` sweep** (`python -m bench.trainer_sweep`; "
            f"{r['cpu']['model']}, {r['cpu']['capability']}, {s0['threads']} threads, "
            f"{s0['precision']}; Trainer runs {when} at {', '.join(commits)}; "
            f"{ours_desc}): the same "
            "30 runs (mode, seed, model, optimiser, schedule, batch, max length, epochs, "
            "clipping, per-epoch validation, best epoch by validation loss, one test pass) with "
            "the Trainer's `group_by_length` and `DataCollatorWithPadding`, no prefix cache. "
            "Wall = each run's whole time, summed; both sides measured in full (no "
            f"extrapolation), {timing}.{_drift_note(c)} Equal accuracy = the "
            "difference in mean test accuracy is inside the two groups' minimum detectable "
            "difference (alpha 0.05, power 0.8).",
            "",
            *_trainer_mode_rows(c),
        ]
        verdict = "met" if t["met"] else "not met"
        out += [
            f"| **sweep** | {t['runs']} | | **{fmt_s(t['wall_s']['ours'])}** | "
            f"**{fmt_s(t['wall_s']['trainer'])}** | **{t['speedup']:.2f}×** | | | | | "
            f"{'yes' if t['equal_accuracy'] else 'no'} | |",
            "",
            f"Goal ≥ {t['target']}× faster at equal accuracy: **{verdict}**.{_startup_note(c)}"
            f"{_significance_note(c)}",
            "",
            *_more_seeds_block(r),
        ]
    return "\n".join(out).rstrip()


MORE_SEEDS = "more-seeds"  # bench.trainer_sweep records of extra seeds, beside the 30-run one


def _commits_and_when(runs: list[dict[str, Any]]) -> tuple[list[str], str]:
    """The short commits a record's runs were made at, and "on <day>" or "<day> to <day>"."""
    commits = sorted({(x.get("git") or {}).get("commit", "?")[:10] for x in runs})
    dates = sorted(x["date"][:10] for x in runs)
    return commits, f"on {dates[0]}" if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"


def _more_seeds_block(rec: dict[str, Any]) -> list[str]:
    """More seeds of some modes (``--out .../more-seeds``), alone and pooled with the record's.

    Why: the new seeds alone test the gap seen on seeds 0-9 without reusing the data that
    suggested it; the pool is the best estimate. Neither enters the 30-run sweep ratio."""
    path = Path(rec["_path"])
    extra = _read(path.parent / MORE_SEEDS / path.name)
    if not extra or not extra.get("comparison"):
        return []
    if "pooled" not in extra:
        return [
            f"**More seeds** (`{MORE_SEEDS}/{path.name}`): not pooled yet — "
            "`python -m bench.trainer_sweep --refresh` pools it.",
            "",
        ]
    pooled = extra["pooled"]  # bench.trainer_sweep.pooled_comparison, stored with the runs
    if not pooled:
        return [
            f"**More seeds** (`{MORE_SEEDS}/{path.name}`): not pooled — its runs were not made "
            "with the same settings on the same CPU as the record above.",
            "",
        ]
    new = extra["comparison"]["modes"]
    seeds = sorted({x["seed"] for x in extra["runs"]})
    commits, when = _commits_and_when(extra["runs"])
    rows: dict[str, Any] = {}
    for mode in pooled:
        rows[f"{mode}: seeds {_span(new[mode]['seeds'])} (new)"] = new[mode]
        rows[f"{mode}: seeds {_span(pooled[mode]['seeds'])} (pooled)"] = pooled[mode]
    flagged = [
        f"`{mode}` ({pooled[mode]['difference']:+.4f}, p = {pooled[mode]['welch_p']:.3f})"
        for mode in pooled
        if pooled[mode].get("welch_p") is not None and pooled[mode]["welch_p"] < 0.05
    ]
    verdict = (
        f"Pooled, the difference is significant (Welch, two-sided, uncorrected) for "
        f"{', '.join(flagged)}."
        if flagged
        else "Pooled, no difference is significant (Welch, two-sided, uncorrected, p ≥ 0.05)."
    )
    precision = extra["runs"][0]["settings"]["precision"]
    return [
        f"**More seeds for {', '.join(f'`{m}`' for m in pooled)}** (`python -m bench.trainer_sweep "
        f"--interleave --precision {precision} --modes "
        f"{','.join(pooled)} --seeds {_span(seeds)} --out bench/results/trainer_sweep/{MORE_SEEDS}`"
        f", on the same kind of CPU; runs {when} at {', '.join(commits)}): the same runs on new seeds, each side "
        "interleaved as above. The new seeds alone test the gap seen on the first ten without "
        "reusing them; the pool is the better estimate. Neither enters the 30-run ratio above.",
        "",
        *_trainer_mode_rows({"modes": rows}),
        "",
        verdict,
        "",
        *_cache_ablation_note(pooled, precision),
    ]


# The committed studies that test the cache's one semantic difference (frozen layers without
# dropout), by the precision they ran at: make results ARGS=study=<folder name>.
CACHE_ABLATIONS = {
    "32-true": REPO / "results" / "cache-ablation",
    "bf16-mixed": REPO / "results" / "cache-ablation-bf16",
}


def _ablation_pair(folder: Path) -> dict[str, Any] | None:
    """A cache-ablation study's Welch test of accuracy between its two arms, if committed."""
    return next(
        (
            x
            for x in _read(folder / "stats.json") or []
            if x.get("kind") == "recipe_pair"
            and x.get("recipe_key") == "cache.enabled"
            and x.get("metric") == "accuracy"
            and x.get("test") == "welch"
        ),
        None,
    )


def _cache_ablation_note(pooled: dict[str, Any], precision: str) -> list[str]:
    """Where a pooled ``all`` gap to the ``Trainer`` comes from, once a committed study tests the
    cache's one semantic difference: each study's cache-on minus cache-off difference, and
    whether the gap lies in the interval of the one at the gap's own precision (else at
    another, said so: precision changes rounding, so a cross-precision match is weaker)."""
    gap = (pooled.get("all") or {}).get("difference")
    found = {p: (f, e) for p, f in CACHE_ABLATIONS.items() if (e := _ablation_pair(f))}
    if gap is None or not found:
        return []
    parts, intervals = [], {}
    for prec, (folder, e) in found.items():
        sign = 1 if "cache.enabled=True" in e["a"] else -1  # show cache on minus cache off
        diff = sign * e["mean_diff"]
        lo, hi = sorted((sign * e["ci_low"], sign * e["ci_high"]))
        on, off = (e["mean_a"], e["mean_b"]) if sign == 1 else (e["mean_b"], e["mean_a"])
        intervals[prec] = (lo, hi)
        env = _read(folder / "environment.json") or {}
        isa = ", ".join(str(x).upper() for x in env.get("cpu_bf16_isa") or [])
        cpu = f" on {env['cpu_model']}{f' ({isa})' if isa else ''}" if env.get("cpu_model") else ""
        parts.append(
            f"at {prec}{cpu}, `results/{folder.name}/` (`make results ARGS=study={folder.name}`, "
            f"{e['n_a']} and {e['n_b']} runs): mean test accuracy {on:.4f} vs {off:.4f}, cache "
            f"on − off {diff:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}), Welch p = {e['p']:.3f}"
        )
    same = precision in intervals
    ref = precision if same else next(iter(intervals))
    lo, hi = intervals[ref]
    where = "inside" if lo <= gap <= hi else "outside"
    which = "the interval at the same precision" if same else f"the {ref} interval"
    return [
        "**Where the `all` gap comes from.** The cache-ablation studies (`freeze=all` × seeds "
        "0–19 with the frozen-prefix cache on and off) run our frozen layers without dropout "
        "(cache on, as in the sweep above) and with it (cache off, as the `Trainer` runs them): "
        + "; ".join(parts)
        + f". The pooled gap to the `Trainer` above ({gap:+.4f}, at {precision}) lies {where} "
        f"{which}.",
        "",
    ]


def _span(seeds: list[int]) -> str:
    """``[10, 11, ..., 19]`` -> ``10-19`` (contiguous), else the list."""
    s = sorted(seeds)
    contiguous = s == list(range(s[0], s[-1] + 1))
    return f"{s[0]}-{s[-1]}" if contiguous and len(s) > 1 else ",".join(map(str, s))


def profile_section(results_dir: Path) -> str:
    """Where a training step's time goes (``python -m bench.profile_step``), per CPU kind."""
    recs = _records(results_dir / "profile")
    if not recs:
        return ""
    out = [
        "## Where a training step's time goes",
        "",
        "`python -m bench.profile_step` runs the real Lightning step (the project's build, the "
        "training tweets' bucketed batches, shipped defaults; the precision each heading names) under `torch.profiler` and sums "
        "each op class's self CPU time. Profiling adds per-op overhead, so its step time is a "
        "little above an unprofiled one; the shares are the point. MFU here = model FLOPs of "
        "the profiled steps over the peak measured in the same process.",
        "",
    ]
    for r in recs:
        out += [
            f"{_step_record_heading(r)}: {r['steps']} steps, "
            f"{1000 * r['step_s_mean']:.0f} ms/step, MFU {r['mfu_profiled_steps']:.0%} "
            f"(peak {r['peak']['flops_per_s'] / 1e9:.0f} GFLOP/s); {_commit_and_date(r)}."
            f"{_matmul_ceiling(r)}",
            "",
            "| op class | self time | share | calls |",
            "|---|---:|---:|---:|",
            *(
                f"| {k} | {v['self_s']:.2f} s | {v['share']:.1%} | {v['calls']} |"
                for k, v in r["classes"].items()
            ),
            "",
        ]
    return "\n".join(out).rstrip()


def _step_record_heading(r: dict[str, Any]) -> str:
    """**freeze=<mode> — <CPU>, <capability>[, native bf16], <n> threads, <precision>**
    (a record opened by ``bench.run.record_header``)."""
    return (
        f"**freeze={r['freeze']} — {r['cpu']['model']}, {r['cpu']['capability']}"
        f"{', native bf16' if r['cpu'].get('native_bf16') else ''}, "
        f"{r['threads']} threads, {r['precision']['precision']}**"
    )


def _commit_and_date(r: dict[str, Any]) -> str:
    return (
        f"commit {(r['git'].get('commit') or '?')[:10]}"
        f"{' (dirty: uncommitted changes in the tree)' if r['git'].get('dirty') else ''}, "
        f"{r['date'][:16]}"
    )


def _matmul_ceiling(r: dict[str, Any]) -> str:
    """The MFU the profiled steps would reach if every op but the matrix products took no time.

    Why: it splits the distance to the limit into the matmuls' own efficiency and the rest
    (dropout, elementwise ops, dispatch), so a reader sees which a lever has to attack."""
    share = r["classes"].get("matrix products", {}).get("share")
    mfu = r.get("mfu_profiled_steps")
    if not share or not mfu:
        return ""
    if mfu / share >= 1.0:  # the peak's shape ran slower than the model's matmuls
        return (
            f" The matrix products ({share:.0%} of the step) ran at or above the measured peak "
            "here (its shape is not the model's), so no ceiling is given."
        )
    return (
        f" Matrix products alone would give MFU {mfu / share:.0%} (the ceiling if "
        f"every other op took no time; the other ops are {1 - share:.0%} of the step)."
    )


def levers_section(results_dir: Path) -> str:
    """What each measured lever buys on the real step (``python -m bench.levers``)."""
    recs = _records(results_dir / "levers")
    if not recs:
        return ""
    out = [
        "## What the levers buy",
        "",
        "`python -m bench.levers` times the real Lightning step (the project's build, shipped "
        "defaults, the training tweets' bucketed batches in the same order) once per variant, "
        "round by round with the variants' order alternating, after untimed warm-up steps that "
        "hold any one-time cost. A variant is a set of `train.py` overrides. `torch.compile`'s "
        "on-disk cache starts empty, so its round-1 warm-up is a cold compile and later rounds' "
        "a warm one. Speed-up > 1: the lever is faster than the shipped default. MFU against "
        "the better of two dense-matmul peaks measured in the same process, before and after.",
        "",
    ]
    for r in recs:
        pk = r["peak"]
        out += [
            f"{_step_record_heading(r)}: {_commit_and_date(r)}; "
            f"peak {pk['flops_per_s'] / 1e9:.0f} GFLOP/s ({pk['dtype']}, "
            f"before/after: {' / '.join(str(g) for g in pk['gflops_before_after'])}); "
            f"{r['warmup_steps']} warm-up steps.",
            "",
            "| variant | overrides | timed steps | ms/step | per round | MFU | speed-up | "
            "warm-up per round |",
            "|---|---|---:|---:|---|---:|---:|---|",
            *(
                f"| {name} | {' '.join(f'`{o}`' for o in v['overrides']) or '—'} | "
                f"{v['steps']} | {v['ms_per_step']:.0f} | "
                f"{', '.join(f'{x:.0f}' for x in v['ms_per_step_by_round'])} | "
                f"{v['mfu']:.1%} | {v['speedup_vs_shipped']:.2f}× | "
                f"{', '.join(f'{x:.1f} s' for x in v['warmup_s_by_round'])} |"
                for name, v in r["variants"].items()
            ),
            "",
        ]
    return "\n".join(out).rstrip()


def stale_section(stale: list[dict[str, Any]]) -> str:
    if not stale:
        return ""
    commits = sorted({last_commit_of(r["_path"]) for r in stale if r.get("_path")})
    dates = sorted({str(r.get("date", "?"))[:16] for r in stale})
    names = ", ".join(sorted({r.get("key", "?") for r in stale}))
    return "\n".join(
        [
            "## Stale figures (do not quote)",
            "",
            f"**Stale:** benchmarks {names} were measured at commit {', '.join(commits)} "
            f"({', '.join(dates)}) on an AVX512_BF16 CPU (per issue #12; these files predate "
            "recording the CPU capability) *before these fixes*: their headlines mix effects "
            "(a: cache + bucketing; d: solver + parallelism), leave the prefix build out of b, "
            "star only the naive side, compare against a `transformers.Trainer` without "
            "`group_by_length`, check padding with different dropout masks and claim bf16 from "
            "8 batches. Rerun `make bench` on an idle machine to replace them.",
            "",
            *stale_table_rows(stale),
        ]
    )


def full_bench_time(current: list[dict[str, Any]]) -> str:
    """How long the stored full run took, from its own records (not a remembered estimate)."""
    walls = [r["bench_wall_s"] for r in current if r.get("bench_wall_s")]
    if not walls:
        return "its time not recorded"
    cores = sorted({str(r.get("threads", "?")) for r in current})
    return (
        f"{fmt_s(sum(walls))} for the {len(walls)} stored results on {'/'.join(cores)} threads, "
        "the sum of their `bench_wall_s`"
    )


def render(results: list[dict[str, Any]], results_dir: Path = RESULTS) -> str:
    current = [r for r in results if is_current(r)]
    stale = [r for r in results if not is_current(r)]
    if current:
        body = "\n".join(
            [
                "## Where and how",
                "",
                *provenance_rows(current),
                "",
                versions_line(current),
                "",
                "## CPU results",
                "",
                *table_rows(current),
                "",
                "\\* extrapolated from sampled steps (on that side; see how each line was "
                'measured). "check" accuracies come from an *equivalence check*: both sides '
                "start from the same weights and train on the same batches with dropout off, and "
                "are scored on the same test tweets. MFU: model FLOPs (6 × trainable-path "
                "parameters × real tokens per training step, 2 × for frozen forward passes) per "
                "second over the dense-matmul peak in the next table.",
                "",
                "### Distance to the limit (MFU)",
                "",
                *mfu_rows(current),
                "",
                *peak_spread(current),
                "### Targets",
                "",
                *targets(current),
                "",
                "### Memory and cache sizes",
                "",
                *memory_rows(current),
                "",
                "### How each line was measured",
                "",
                *notes(current),
                "",
                other_machines_section(results_dir, current),
            ]
        )
    else:
        body = (
            "## CPU results\n\nNo current results: every stored result predates this bench "
            "(see *Stale figures* below). Run `make bench` on an idle machine."
        )
    full_time = full_bench_time(current)
    text = DOC_TEMPLATE.format(
        quickstart=quickstart_section(results_dir),
        verbatim=verbatim_section(results_dir),
        profile=profile_section(results_dir),
        levers=levers_section(results_dir),
        body=body,
        produces=WHAT_A_RUN_PRODUCES.replace("{full_time}", full_time),
        full_time=full_time,
        stale=stale_section(stale),
        gpu=gpu_section(results_dir),
    )
    return re.sub(r"\n{3,}", "\n\n", text)  # an empty section leaves no gap


DOC_TEMPLATE = """# Benchmarks

*Generated by `python -m bench.render` from `bench/results/*.json` (`make bench` runs the
benchmarks, then renders) — edit the template in `bench/render.py`, not this file.*

Every ratio of `make bench` (the CPU results below) is measured **side by side in one process on
one machine**, with the same number of
torch threads and the same precision (`bertfreeze.precision`, default `auto`: bf16 only where
the CPU computes it natively) on both sides, interleaved (step by step, round by round, or in
chunks between the long pieces) so that background load hits both alike. Ratio = naive time /
our time (> 1: ours is faster). A time marked \\* was **extrapolated** from sampled steps, on
whichever side that happened. The whole-sweep lines (the FLOP floor, the fair `Trainer` sweep)
time whole runs instead, each in its own process; each says when and how its two sides ran.

{body}

{verbatim}

{profile}

{levers}

{quickstart}

## What a fresh run produces

{produces}

{stale}

{gpu}

## Reproduce

```bash
make bench                        # full ({full_time}); rewrites this page
make bench-quick                  # smoke test (CI): minutes, results in bench/results/quick/
make bench ARGS='--only c'        # one benchmark; the page keeps the others' last results
make bench ARGS='--precision 32-true'   # force a precision (default auto)
python -m bench.render            # re-render this page from the stored JSONs
python -m bench.quickstart        # time make quickstart on this CPU (Quickstart table)
python -m bench.verbatim_sweep    # the committed study against its FLOP floor (idle machine)
python -m bench.verbatim_e2e      # the verbatim command itself, shipped defaults, timed end to end (26-31 min on 2 bf16 cores; idle)
python -m bench.trainer_sweep --interleave  # the same 30 runs through transformers.Trainer, each beside ours (the study's precision: 2 h on 2 AMX Xeon cores at 32-true; resumable; idle)
python -m bench.trainer_sweep --interleave --precision auto  # the same at the shipped default (78 min on 2 AVX512_BF16 EPYC cores at bf16-mixed)
python -m bench.profile_step      # where a freeze=none step's time goes, by op class (idle)
python -m bench.levers            # torch.compile (or any --variant of overrides) beside the shipped step (idle)
```
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="render bench/results/quick/")
    p.add_argument("--results", default=None, help="results directory (default bench/results)")
    p.add_argument("--docs", default=str(DOCS), help="output markdown file")
    args = p.parse_args(argv)
    results_dir = Path(args.results) if args.results else RESULTS / ("quick" if args.quick else "")
    results = load_results(results_dir)
    out = Path(args.docs)
    out.write_text(render(results, RESULTS))
    print(f"wrote {out} from {len(results)} result file(s) in {results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
