"""The verbatim sweep run as one command, timed end to end, beside its FLOP floor.

    python -m bench.verbatim_e2e                          # shipped defaults (precision auto)
    python -m bench.verbatim_e2e --precision 32-true      # what the committed studies pin
    python -m bench.verbatim_e2e --summarise DIR          # re-read a finished run's folder

Why: ``python -m bench.verbatim_sweep`` sets the committed study's runs beside their floor, but
that study ran mode by mode over several calls, on another day than the peak, at the precision
``make results`` pins (32-true). Issue #12 asks for the paper's command itself — ``python
train.py -m freeze=none,all,last2 'seed=range(10)'`` with the *shipped defaults* — timed end to
end, per mode and in total. This runs exactly that argv (``--precision`` adds one override) in
a fresh process from an empty output folder and an empty ``BERTFREEZE_CACHE`` (so each cached
mode builds its prefix once, as on a newcomer's first sweep), and measures the dense-matmul peak
at the precision the runs resolved to, idle, before and after the sweep (the faster one is the
denominator: the stricter floor). Per mode: the sum of the runs' own ``wall_time_s``; in total:
the command's wall time (process start-up, imports, the multirun's set-up included) and the
sum of the runs.

It also checks accuracy against the committed study, seed by seed (same split, same seeds):
at the study's precision the test accuracy should be identical; at another precision (``auto``
on a native-bf16 CPU is bf16-mixed) the page shows the difference of the mode means and the
minimum detectable difference of the two 10-run groups — a precision claim backed by full runs.

The runs stay in ``--keep`` (default ``outputs/bench-verbatim/<date>``): nothing is lost when
the sweep fails half way, and ``--summarise`` re-reads them. A rerun into a folder with finished
runs would skip them and time nothing, so ``--run`` refuses a non-empty folder.
Run it on an idle machine; ~26 min on 2 AMX Xeon cores and ~31 min on 2 AVX512_BF16 EPYC cores
(bf16), plus under a minute of peak rounds; ~45 min at 32-true on the AMX Xeon.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import flops
from bench.render import REPO, RESULTS, SCHEMA, asked_precision
from bench.verbatim_sweep import MAX_LOAD, PEAK_ROUNDS, STUDY, compose, summarise, sweep_flops

OUT_DIR = RESULTS / "verbatim_sweep_e2e"
#: the paper's sweep, verbatim (README, issue #12); only ``--precision`` may add an override
COMMAND = ("train.py", "-m", "freeze=none,all,last2", "seed=range(10)")
MODES = ("none", "last2", "all")
TIMING_FILE = "verbatim_e2e_timing.json"  # beside the runs: the command's wall time and peaks


def peak_rounds(bf16: bool) -> list[flops.Peak]:
    return [flops.matmul_peak(bf16, seconds=1.0) for _ in range(PEAK_ROUNDS)]


def run_command(keep: Path, extra: Sequence[str]) -> tuple[int, float]:
    """The verbatim command in a fresh process: its exit code and wall seconds. Runs from
    ``keep`` (so Hydra's ``outputs/sweeps/...`` lands there) with a private, empty cache."""
    env = {**os.environ, "BERTFREEZE_CACHE": str(keep / "cache"), "BERTFREEZE_QUIET": "1"}
    cmd = [sys.executable, str(REPO / COMMAND[0]), *COMMAND[1:], *extra]
    print("running:", " ".join(cmd), f"(in {keep})", flush=True)
    start = time.perf_counter()
    rc = subprocess.run(cmd, cwd=keep, env=env, check=False).returncode
    return rc, time.perf_counter() - start


def accuracy_vs_study(runs: Any, study_runs: Any) -> dict[str, Any]:
    """Per mode: this sweep's test accuracy against the committed study's, seed by seed.

    ``identical_seeds``: seeds whose test accuracy is exactly the study's (all of them at the
    study's precision on a CPU whose kernels round alike); ``difference``: mean here - mean
    there; ``min_detectable_difference``: of two groups of this size and their pooled sd
    (alpha 0.05, power 0.8); ``equal_accuracy``: the difference is inside it."""
    from bertfreeze.stats import min_detectable_difference, pooled_sd

    out: dict[str, Any] = {}
    for mode in sorted(set(runs["freeze"])):
        here = runs[runs["freeze"] == mode].set_index("seed")["test_accuracy"]
        there = study_runs[study_runs["freeze"] == mode].set_index("seed")["test_accuracy"]
        seeds = sorted(set(here.index) & set(there.index))
        if not seeds:
            continue
        a, b = here.loc[seeds].to_numpy(float), there.loc[seeds].to_numpy(float)
        mdd = min_detectable_difference(pooled_sd(a, b), len(a), len(b))
        diff = float(a.mean() - b.mean())
        out[mode] = {
            "seeds": [int(s) for s in seeds],
            "mean": round(float(a.mean()), 4),
            "sd": round(float(a.std(ddof=1)), 4) if len(a) > 1 else None,
            "study_mean": round(float(b.mean()), 4),
            "study_sd": round(float(b.std(ddof=1)), 4) if len(b) > 1 else None,
            "difference": round(diff, 4),
            "min_detectable_difference": None if math.isnan(mdd) else round(mdd, 4),
            "equal_accuracy": None if math.isnan(mdd) else bool(abs(diff) <= mdd),
            "identical_seeds": int((a == b).sum()),
        }
    return out


def data_check(run_shas: set[str], study_env: dict[str, Any]) -> dict[str, Any]:
    """Whether the sweep trained on the study's data file, so its accuracies compare at all.

    ``run_shas``: the sha256 of the data each run recorded (``metrics.json`` ``data.sha256``);
    ``study_env``: the study's ``environment.json`` (``data``: file name -> sha256)."""
    study = set((study_env.get("data") or {}).values())
    return {
        "sha256": sorted(run_shas),
        "study_sha256": sorted(study),
        "same": bool(run_shas) and bool(study) and run_shas <= study,
    }


def summarise_folder(keep: Path, data: str | None, study: Path) -> dict[str, Any]:
    """The record of a finished ``--run`` in ``keep``: per-mode walls, floor, MFU, accuracy."""
    import pandas as pd

    from bench.run import cpu_record
    from bertfreeze.errors import UserError
    from bertfreeze.precision import resolve_precision
    from bertfreeze.studies import data_files, runs_table

    timing = json.loads((keep / TIMING_FILE).read_text())
    sweeps = [p for p in (keep / "outputs" / "sweeps").glob("*") if p.is_dir()]
    if len(sweeps) != 1:
        raise UserError(
            f"{keep}: expected one sweep folder under outputs/sweeps, found {len(sweeps)}"
        )
    runs = runs_table(sweeps[0])
    missing = 30 - len(runs)
    if missing:
        raise UserError(f"{sweeps[0]}: {missing} of the 30 runs did not finish; nothing to time")
    precisions = sorted(set(runs["precision"].astype(str)))
    if len(precisions) != 1:
        raise UserError(f"the runs mix precisions {precisions}")
    here = dataclasses.replace(
        resolve_precision(precisions[0], "cpu"), requested=asked_precision(timing["extra"])
    )
    per_mode = sweep_flops(
        {m: compose(m, data, [f"trainer.precision={here.precision}"]) for m in MODES}
    )
    peaks = [flops.Peak(**p) for p in timing["peak_rounds"]]
    peak = flops.best_peak(*peaks)
    lines = summarise(runs, per_mode, peak, timing["command_wall_s"])
    study_runs = pd.read_csv(study / "runs.csv")
    env_file = study / "environment.json"
    data = data_check(
        set(data_files(sweeps[0]).values()),
        json.loads(env_file.read_text()) if env_file.is_file() else {},
    )
    accuracy = accuracy_vs_study(runs, study_runs) if data["same"] else {}
    return {
        "schema": SCHEMA,
        "key": "verbatim_sweep_e2e",
        "date": timing["started"],
        "git": timing["git"],
        "command": "python " + " ".join(COMMAND[:3]) + " 'seed=range(10)'",
        "extra_overrides": timing["extra"],
        "cpu": cpu_record(here),
        "logical_cores": os.cpu_count(),
        "precision": here.as_record(),
        "cold_cache": True,
        "peak": peak.as_record(),
        "peak_rounds_flops_per_s": {
            k: [round(p["flops_per_s"]) for p in v]
            for k, v in timing["peak_rounds_by_phase"].items()
        },
        "load_avg_before": timing["load_avg_before"],
        **lines,
        "accuracy_vs_study": {"study": study.name, "data": data, **accuracy},
        "runs": runs[["freeze", "seed", "wall_time_s", "val_accuracy", "test_accuracy"]].to_dict(
            "records"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    from bench.bench_training import quiet_libraries, set_threads
    from bench.run import git_state, machine_stem
    from bertfreeze.errors import UserError
    from bertfreeze.precision import PrecisionChoice, resolve_precision

    p = argparse.ArgumentParser(
        prog="python -m bench.verbatim_e2e", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--precision", default=None, help="add trainer.precision=X (default: none, i.e. auto)"
    )
    p.add_argument(
        "--keep", default=None, help="folder for the runs (default outputs/bench-verbatim/<date>)"
    )
    p.add_argument(
        "--summarise", default=None, metavar="DIR", help="only re-read a finished run's folder"
    )
    p.add_argument("--data", default=None, help="the tweets CSV (default: BERTFREEZE_DATA)")
    p.add_argument("--study", default=str(STUDY), help="committed study to compare accuracy with")
    p.add_argument(
        "--out", default=None, help="output JSON (default bench/results/verbatim_sweep_e2e/)"
    )
    p.add_argument("--allow-load", action="store_true", help="measure the peak on a busy machine")
    args = p.parse_args(argv)
    quiet_libraries()
    set_threads()
    if args.summarise:
        keep = Path(args.summarise)
    else:
        if os.getloadavg()[0] > MAX_LOAD and not args.allow_load:
            raise UserError(
                f"load average {os.getloadavg()[0]:.1f} > {MAX_LOAD}: time the sweep on an idle "
                "machine (or pass --allow-load)"
            )
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        keep = Path(args.keep) if args.keep else REPO / "outputs" / "bench-verbatim" / stamp
        if keep.exists() and any(keep.iterdir()):
            raise UserError(f"{keep} is not empty: finished runs there would be skipped, not timed")
        keep.mkdir(parents=True, exist_ok=True)
        extra = [f"trainer.precision={args.precision}"] if args.precision else []
        choice = resolve_precision(args.precision or "auto", "cpu")
        timing: dict[str, Any] = {
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "git": git_state(),
            "extra": extra,
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        }
        before = peak_rounds(choice.bf16)
        rc, wall = run_command(keep, extra)
        after = peak_rounds(choice.bf16)
        timing |= {
            "command_rc": rc,
            "command_wall_s": round(wall, 1),
            "peak_rounds": [p.as_record() for p in before + after],
            "peak_rounds_by_phase": {
                "before": [p.as_record() for p in before],
                "after": [p.as_record() for p in after],
            },
        }
        (keep / TIMING_FILE).write_text(json.dumps(timing, indent=2) + "\n")
        if rc != 0:
            raise UserError(f"the sweep failed (exit {rc}); its runs are in {keep}")
    record = summarise_folder(keep, args.data, Path(args.study))
    ran = PrecisionChoice(**record["precision"])
    name = f"{machine_stem(ran)}-{ran.precision}.json"
    out = Path(args.out) if args.out else OUT_DIR / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    t = record["total"]
    print(
        f"verbatim sweep end to end: {t['study_wall_s'] / 60:.1f} min ({t['sum_run_wall_s'] / 60:.1f} "
        f"min of runs), floor {t['floor_s'] / 60:.1f} min ({t['wall_over_floor']}x) -> {out}"
    )
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``main`` with bertfreeze's one-line errors (exit 2)."""
    from bertfreeze.errors import exit_code

    return exit_code(lambda: main(argv))


if __name__ == "__main__":
    raise SystemExit(cli())
