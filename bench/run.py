"""Run the CPU benchmarks and write bench/results/*.json and docs/benchmarks.md.

    python -m bench.run                    # everything (~15 min on 2 idle cores)
    python -m bench.run --quick            # smoke test: a 600-tweet subset, few steps (CI)
    python -m bench.run --only a,c         # some of them (the page keeps the others' last results)
    python -m bench.run --precision 32-true   # force a precision (default auto, as training)
    python -m bench.run --quick --override model.pretrained=TINY_DIR --out OUT_DIR   # tests
    make bench ARGS='--quick'

Benchmarks: (a) frozen sweep, the feature cache alone (bucketed batches on both sides, build
counted); (b) last2, one run and one sweep with the prefix build counted; (c) one fine-tuning
epoch: bucketed vs fixed padding, vs ``transformers.Trainer`` with ``group_by_length``, and fp32
vs bf16 where bf16 is native; (d) sparse baselines: solver and parallelism effects
(bench/bench_baselines.py); (e) peak RSS of a fine-tuning run and the caches' size on disk.
Every training benchmark also reports its model FLOP utilisation (bench/flops.py).

Every result JSON records the git commit, CPU model, ``torch.backends.cpu.get_cpu_capability()``,
native bf16, threads and precision. Full runs write bench/results/<name>.json and regenerate
docs/benchmarks.md (``python -m bench.render`` re-renders it alone); ``--quick`` writes
bench/results/quick/ and leaves the docs alone (``--docs`` forces them).

The GPU benchmark is separate: ``make bench-gpu`` (bench/gpu.sh) on a CUDA machine.
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

from bench.render import (
    BENCHES,
    DOCS,
    MACHINES,
    REPO,
    RESULTS,
    SCHEMA,
    load_results,
    memory_rows,
    render,
    table_rows,
)


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


def git_state() -> dict[str, Any]:
    """The commit the benchmarked code is at, and whether the tree had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    # the code that runs, not the records a resumable bench rewrites as it goes (bench/results)
    code = ("src", "bench", "conf", "train.py", ":(exclude)bench/results")
    status = git("status", "--porcelain", "--untracked-files=no", "--", *code)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def cpu_record(precision: Any) -> dict[str, Any]:
    from bertfreeze.precision import cpu_bf16_isa

    return {
        "model": cpu_model(),
        "capability": precision.cpu_capability,
        "native_bf16": precision.native_bf16,
        "bf16_isa": cpu_bf16_isa(),  # AMX or AVX512_BF16 alone: same capability, other speed
    }


def record_header(key: str, precision: Any, freeze: str) -> dict[str, Any]:
    """The fields every per-step record opens with: what ran, where, at which commit."""
    import torch

    return {
        "schema": SCHEMA,
        "key": key,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "git": git_state(),
        "cpu": cpu_record(precision),
        "threads": torch.get_num_threads(),
        "precision": precision.as_record(),
        "freeze": freeze,
    }


def machine_stem(precision: Any) -> str:
    """``<capability>[-bf16]-<n>cores-<cpu model>``: names a per-machine result file.

    Why the model: two CPUs can share a capability tag and differ in speed (an AMX Xeon and an
    AVX512_BF16 EPYC are both ``AVX512-bf16``), and one must not overwrite the other's result.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-")[:40]
    return f"{precision.machine_tag}-{os.cpu_count()}cores-{slug}"


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
    """(d1) the solver effect and (d2) the parallelism effect, each on its own line."""
    from bench.bench_baselines import bench_baselines
    from bench.bench_training import line

    r = bench_baselines(
        ctx.data_path, reps=ctx.sizes.baseline_reps, n_folds=3 if ctx.sizes.quick else 10
    )
    med, acc = r["median_s"], r["acc"]
    method = (
        f"both sides run in full by run_baselines (3 feature sets x {r['n_folds']} folds), "
        f"{r['reps']} "
        "rotating repetitions of the three configurations from a cold start (token cache "
        "cleared, joblib workers shut down), median per side"
    )
    return {
        "lines": [
            line(
                "d1",
                "sparse baselines: solver effect (both sequential, n_jobs=1)",
                ("liblinear (dual)", med["liblinear_seq"], f"{acc['liblinear_seq']:.4f} (mean CV)"),
                ("lbfgs, max_iter=1000", med["lbfgs_seq"], f"{acc['lbfgs_seq']:.4f} (mean CV)"),
                None,
                method,
                (False, False),
            ),
            line(
                "d2",
                "sparse baselines: parallelism effect (both liblinear)",
                (
                    f"n_jobs=-1 ({r['cpu_count']} cores)",
                    med["liblinear_par"],
                    f"{acc['liblinear_par']:.4f} (mean CV)",
                ),
                ("n_jobs=1", med["liblinear_seq"], f"{acc['liblinear_seq']:.4f} (mean CV)"),
                None,
                method,
                (False, False),
            ),
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
        res = done.get(k) or _read(ctx.notes["out_dir"] / f"{BENCHES[k][0]}.json")
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


# -- main -------------------------------------------------------------------------------------
def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--override``, alike in every bench that composes training configs."""
    p.add_argument(
        "--precision",
        default="auto",
        help="precision of every side: auto (bf16 only where native, else 32-true), 32-true, "
        "bf16-mixed",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Hydra override for every training config (repeatable), e.g. model.pretrained=DIR",
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: a small subset, few steps")
    p.add_argument("--only", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    p.add_argument(
        "--data",
        default=None,
        help="tweets train.csv (default: $BERTFREEZE_DATA or data/train.csv)",
    )
    add_config_options(p)
    p.add_argument("--out", default=None, help="results directory (default bench/results[/quick])")
    p.add_argument(
        "--docs", action="store_true", help="also rewrite docs/benchmarks.md in --quick mode"
    )
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument(
        "--full-accuracy",
        action="store_true",
        help="also train a full cached last2 epoch (b)",
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
    out_dir = Path(args.out) if args.out else results_dir(args.quick)
    from bertfreeze.settings import settings

    data = args.data or settings().data or str(REPO / "data" / "train.csv")
    if args.render:  # kept for old habits: same as python -m bench.render
        results = load_results(out_dir)
        DOCS.write_text(render(results, RESULTS))
        print(f"wrote {DOCS.relative_to(REPO)} from {len(results)} result file(s)")
        return 0

    from bench import bench_training as bt
    from bertfreeze.errors import UserError

    try:
        ctx = bt.make_ctx(data, args.quick, args.full_accuracy, args.precision, args.override)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ctx.notes["out_dir"] = out_dir
    prec = ctx.precision
    common = {
        "schema": SCHEMA,
        "mode": "quick" if args.quick else "full",
        "git": git_state(),
        "cpu": cpu_record(prec),
        "threads": bt.THREADS,
        "precision": prec.as_record(),
        "overrides": list(args.override),
        "machine": machine(),
        "versions": versions(),
        "data": {
            "file": ctx.source_path.name,  # no absolute paths in committed results
            "sha256": file_sha256(ctx.source_path),
            "rows": len(ctx.labels),
            "subset_of_source": args.quick,
        },
    }
    print(
        f"bench: {', '.join(keys)} ({common['mode']}), work dir {ctx.work}, "
        f"{common['cpu']['model']} ({prec.cpu_capability}, native bf16 {prec.native_bf16}), "
        f"precision {prec.precision}, threads {bt.THREADS}",
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
            if not res.get("error"):  # this CPU's copy: another machine's run must not erase it
                _write(out_dir / MACHINES / machine_stem(prec) / f"{name}.json", res)
            for row in table_rows([res])[2:]:
                print("   " + row, flush=True)
            if key == "e" and not res.get("error"):
                for row in memory_rows([res]):
                    print("   " + row, flush=True)
            print(f"    -> {out_dir / (name + '.json')} ({res['bench_wall_s']:.0f} s)", flush=True)
    finally:
        if not args.keep_work:
            bt.cleanup(ctx)

    results = load_results(out_dir)
    if (not args.quick or args.docs) and not args.no_docs:
        DOCS.write_text(render(results, RESULTS))
        print(f"wrote {DOCS.relative_to(REPO)}")
    print("\n".join(table_rows([r for r in results if r.get("schema") == SCHEMA])))
    if failed:
        print(f"error: benchmark(s) {','.join(failed)} failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
