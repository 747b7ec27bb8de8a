"""The committed studies under ``results/``: what each one runs, and how its folder is written.

Why one registry: every figure in the README comes from a ``results/<study>/`` folder that one
command regenerates (``make results ARGS=study=<name>``). A study is a list of ordinary,
resumable commands (baselines, a Hydra multirun, the report) plus an export step that writes
``runs.csv`` and ``environment.json`` beside the report. Each study runs in its own sweep
folder (``outputs/studies/<study>/``), so a report never pools unrelated runs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bertfreeze.atomic import atomic_write_csv, atomic_write_text, write_json_atomic
from bertfreeze.paths import REPO_ROOT
from bertfreeze.runs import iter_run_dirs
from bertfreeze.schema import RunRecord

# Per-run minutes below come from the committed studies' own run times (runs.csv, 2 AVX2 cores,
# fp32, MiniLM): disaster-tweets none median 9.3 min (8.6 to 10.3; two runs that shared the CPU
# 16 and 20), last2 median 2.9, all 2-5 s plus one 67 s cache build; sms-spam 2,526 s for 15.
# lora/bitfit/ia3 on every layer: a training step costs 1.0x / 0.9x / 0.9x of freeze=none's
# (measured side by side), so about none's 9 min.
MINUTES_PEFT = 9.0
# cache-ablation: 20 cached freeze=all runs (seconds each, one cache build) and 20 with the cache
# off, which run the frozen encoder forward every step: 2.1 min each on 2 AVX512_BF16 EPYC cores
# at fp32 (results/cache-ablation/runs.csv), and the fp32 step is 2.1x slower on 2 AVX2 cores
# (bench/results/profile): ~4.4 min off, so ~2.3 min a run on average. cache-ablation-last2:
# 1.5 (on) and 2.8 (off) min on that EPYC (its runs.csv), so ~4.5 min a run on AVX2.
# cache-ablation-top1: 0.8 (on) and 2.3 (off) min on that EPYC (its runs.csv), so ~3.2 on AVX2.
MINUTES_CACHE_ABLATION = 2.3
MINUTES_CACHE_ABLATION_LAST2 = 4.5
MINUTES_CACHE_ABLATION_TOP1 = 3.2
# cache-ablation-bf16 runs only where bf16 is native, so its estimate is from such a CPU: 74 s
# a run with the cache off and 2 s on, on 2 Xeon cores with AMX (its runs.csv); ~0.65 min a run.
MINUTES_CACHE_ABLATION_BF16 = 0.65
# cache-ablation-last2-bf16: 53 s (on) and 97 s (off) a run on such a Xeon (its runs.csv).
MINUTES_CACHE_ABLATION_LAST2_BF16 = 1.25
STUDIES_OUT = Path("outputs/studies")
RESULTS = Path("results")
RECORDS = "records"  # results/<study>/records/<run>/metrics.json

# Columns of results/<study>/runs.csv (extend, never rename: others read these).
RUN_COLUMNS = (
    "freeze",
    "k",
    "seed",
    "fold",
    "val_accuracy",
    "test_accuracy",
    "test_f1",
    "test_precision",
    "test_recall",
    "trainable_params",
    "total_params",
    "wall_time_s",
    "precision",
    "cpu_capability",
    "backbone",
    "config_hash",
    "run",
    "reused_from",  # the finished run of an identical recipe that stands for this one, if any
)


@dataclass(frozen=True)
class Study:
    """One results folder: the sweep overrides, whether it has baselines, the expected size."""

    name: str
    sweep: tuple[str, ...]
    n_runs: int
    minutes_per_run: float  # rough, on 2 AVX2 cores at fp32 (a bf16 study: see `note`)
    note: str
    baselines: tuple[str, ...] | None = ()  # None: no baselines; () : the default data
    report_metrics: tuple[str, ...] = ("accuracy", "f1")
    # (param, csv name) for selection studies; "{freeze}" in the name: one CSV per freeze mode
    selection: tuple[str, str] | None = None
    extra_sweeps: tuple[str, ...] = field(default=())  # other studies' sweeps reported alongside
    # other studies whose finished runs of an identical recipe stand in (train.py reuse_from)
    reuse: tuple[str, ...] = field(default=())
    # True: each freeze mode's records land in results/ once all its seeds ran (a study longer
    # than one sitting commits mode by mode); the report waits for every mode
    by_mode: bool = False
    # What make results pins (an ARGS trainer.precision= wins). The committed studies ran in
    # fp32, so that make results reproduces their numbers on any CPU: auto would pick bf16 on a
    # CPU with native bf16 (AVX512_BF16/AMX), which rounds differently. A study about bf16
    # itself pins bf16-mixed and runs only where bf16 is native (not_runnable_here).
    precision: str = "32-true"

    @property
    def needs_native_bf16(self) -> bool:
        """A bf16 study: emulated bf16 (a CPU without AVX512_BF16/AMX) would take ~40x longer."""
        return self.precision.startswith("bf16")

    @property
    def out(self) -> Path:
        return STUDIES_OUT / self.name

    @property
    def sweep_dir(self) -> Path:
        return self.out / "sweep"

    @property
    def results_dir(self) -> Path:
        return RESULTS / ("selection" if self.selection else self.name)

    @property
    def records_dir(self) -> Path:
        """The committed copy of each finished run's metrics.json (see :func:`sync_records`)."""
        return self.results_dir / RECORDS


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study(
            "baselines-tweets",
            (),
            0,
            0.5,
            "TF-IDF / count / hashing + LogisticRegression, 10-fold CV (no BERT runs)",
        ),
        Study(
            "baselines-sms-spam",
            (),
            0,
            0.5,
            "the same baselines on SMS Spam",
            baselines=("data=sms_spam",),
        ),
        Study(
            "selection-head-lr",
            ("experiment=select_head_lr",),
            15,
            1.0,
            "freeze=all on the frozen-prefix cache: minutes in all once the cache is built",
            baselines=None,
            selection=("optim.head_lr", "head_lr.csv"),
        ),
        Study(
            "selection-peft-lr",
            ("experiment=select_peft_lr",),
            30,
            MINUTES_PEFT,
            "lr of lora/bitfit/ia3 on validation only: 3 modes x 5 lr x seeds 100-101",
            baselines=None,
            selection=("optim.lr", "{freeze}_lr.csv"),
        ),
        Study(
            "disaster-tweets",
            ("freeze=none,all,last2", "seed=range(10)"),
            30,
            4.7,
            "measured: 2.36 h for the committed 30 runs; ~9 min (none), ~3 (last2), <1 (all);"
            " committed mode by mode",
            by_mode=True,
        ),
        Study(
            "disaster-tweets-cv",
            ("experiment=cv", "freeze=none,all,last2"),
            30,
            4.7,
            "as disaster-tweets, one run per fold of the baselines' 10 folds",
        ),
        Study(
            "freeze-depth",
            ("experiment=freeze_depth",),
            35,
            4.5,
            "k = 0..6 trainable top layers x 5 seeds; ~1.5 min per trainable layer, k=6 ~ none;"
            " k=2 reuses disaster-tweets' last2 runs (seeds 0-4) when they are there",
            reuse=("disaster-tweets",),
        ),
        Study(
            "sms-spam",
            ("data=sms_spam", "freeze=none,all,last2", "seed=range(5)"),
            15,
            2.9,
            "measured: 43 min for the committed 15 runs; baselines on the same folds",
            baselines=("data=sms_spam",),
        ),
        Study(
            "peft",
            ("freeze=lora,bitfit,ia3", "seed=range(10)"),
            30,
            MINUTES_PEFT,
            "LoRA/IA3 backpropagate through every layer; reported beside disaster-tweets;"
            " committed mode by mode (50-90 min each)",
            extra_sweeps=("disaster-tweets",),
            by_mode=True,
        ),
        Study(
            "cache-ablation",
            ("experiment=cache_ablation",),
            40,
            MINUTES_CACHE_ABLATION,
            "freeze=all with the frozen-prefix cache on and off x seeds 0-19: the cache's frozen"
            " layers run without dropout; does that change accuracy? (cache off ~2 min a run on"
            " 2 AVX512 cores, ~4.4 on AVX2)",
            baselines=None,
        ),
        Study(
            "cache-ablation-last2",
            ("experiment=cache_ablation", "freeze=last2"),
            40,
            MINUTES_CACHE_ABLATION_LAST2,
            "the same for freeze=last2 (the cache holds its 4 frozen bottom layers) x seeds 0-19"
            " (0-9 first; 10-19 replicate them): ~1.5 min (on) and ~2.8 min (off) a run on 2"
            " AVX512 cores",
            baselines=None,
        ),
        Study(
            "cache-ablation-top1",
            ("experiment=cache_ablation", "freeze=top_k", "freeze.k=1", "seed=range(10)"),
            20,
            MINUTES_CACHE_ABLATION_TOP1,
            "the same for freeze=top_k freeze.k=1 (the cache holds 5 of MiniLM's 6 layers) x"
            " seeds 0-9 (the session's time fixed 10): ~0.8 min (on) and ~2.3 min (off) a run on"
            " 2 AVX512 cores",
            baselines=None,
        ),
        Study(
            "cache-ablation-bf16",
            ("experiment=cache_ablation",),
            40,
            MINUTES_CACHE_ABLATION_BF16,
            "cache-ablation at bf16-mixed, the precision auto picks where bf16 is native (and"
            " the fair Trainer sweep's): runs only on such a CPU or GPU; minutes from 2 Xeon"
            " cores with AMX",
            baselines=None,
            precision="bf16-mixed",
        ),
        Study(
            "cache-ablation-last2-bf16",
            ("experiment=cache_ablation", "freeze=last2", "seed=range(10)"),
            20,
            MINUTES_CACHE_ABLATION_LAST2_BF16,
            "cache-ablation-last2 at bf16-mixed, seeds 0-9 (the session's time fixed 10): runs"
            " only where bf16 is native; minutes from 2 Xeon cores with AMX",
            baselines=None,
            precision="bf16-mixed",
        ),
    )
}


def sweep_grid(study: Study) -> dict[str, list[str]]:
    """The values each key of the study's own sweep takes (its experiment's
    ``hydra.sweeper.params`` plus its ``key=a,b`` overrides), as Hydra expands them."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    plain = [o for o in study.sweep if not parser.parse_override(o).is_sweep_override()]
    swept = [parser.parse_override(o) for o in study.sweep if o not in plain]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=plain, return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.params or {})
    grid = {
        str(k): list(parser.parse_override(f"{k}={v}").sweep_string_iterator())
        for k, v in params.items()
    }
    grid.update({o.get_key_element(): list(o.sweep_string_iterator()) for o in swept})
    return grid


def _complete_modes(study: Study, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The per-mode selection tables whose grid (every value x every seed) is complete: a
    half-run mode is left for the next resume, never written into results/."""
    grid = sweep_grid(study)
    (param,) = [k for k in grid if k not in ("freeze", "seed")]  # the one value selected
    wanted = {(float(v), int(s)) for v in grid[param] for s in grid["seed"]}
    per_mode = len(wanted)
    done = {}
    for freeze, table in tables.items():
        ran = set(zip(table.iloc[:, 0].astype(float), table["seed"].astype(int), strict=True))
        n = len(wanted & ran)  # runs off the grid (another lr tried by hand) do not count
        if n == per_mode:
            done[freeze] = table
        else:
            print(
                f"selection: {freeze} has {n} of its {per_mode} runs; its table is written "
                "once the grid is complete (rerun the same command to resume)",
                flush=True,
            )
    return done


def unknown_study(name: str) -> str:
    return f"study={name} is not a study; choose from {', '.join(STUDIES)} (or all)"


def runs_to_train(study: Study) -> int:
    """The study's runs still to train: all of them, less the modes already committed (by_mode)."""
    if not study.by_mode:
        return study.n_runs
    return sum(missing_modes(study).values())


def expected_minutes(studies: Iterable[Study]) -> float:
    return sum(max(runs_to_train(s), 1) * s.minutes_per_run for s in studies)


# --------------------------------------------------------------------------------------------
# Committed run records: results/<study>/records/<run>/metrics.json
# --------------------------------------------------------------------------------------------
# Why: outputs/ is not committed, so a study's report could only be rebuilt on the machine that
# ran it, and a study reported beside another (peft beside disaster-tweets) needed both sweeps
# on one disk. The records are the runs' own metrics.json, minus machine paths: the report,
# runs.csv and environment.json are rebuilt from them anywhere (`export_only=true`), and a
# study too long for one sitting commits them mode by mode (`Study.by_mode`).

_ABS_PATH = re.compile(r"""(?:(?<=^)|(?<=[\s'"\[(=,]))/[^\s'"\[\](),]*""")


def _short(match: re.Match[str]) -> str:
    parts = [p for p in match.group(0).split("/") if p]
    return "…/" + "/".join(parts[-2:]) if parts else match.group(0)


def portable(value: Any) -> Any:
    """``value`` (a metrics.json tree) with every absolute path cut to ``…/<parent>/<name>``,
    inside JSON-encoded lists too: a record names its data file, never a machine's layout."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        return _ABS_PATH.sub(_short, value)
    return value


def _records_by_run(folder: Path) -> dict[str, RunRecord]:
    return {r.name: rec for r in iter_run_dirs(folder) if (rec := RunRecord.read(r)) is not None}


def _write_records(study: Study, runs: dict[str, RunRecord], freeze: str | None = None) -> bool:
    """Make ``records/`` hold exactly ``runs`` (of one freeze mode, if given): new or changed
    records written, records of runs no longer in the sweep removed, the rest left untouched.
    Returns whether anything changed."""
    dest = study.records_dir
    changed = False
    for name, rec in runs.items():
        fields = portable(rec.as_dict())
        fields["run_dir"] = str(study.sweep_dir / name)  # where its weights are, where it ran
        text = json.dumps(fields, indent=2, sort_keys=True) + "\n"
        path = dest / name / RunRecord.FILE
        if not (path.is_file() and path.read_text() == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
            changed = True
    for name, rec in _records_by_run(dest).items():
        if name not in runs and freeze in (None, rec.fields.get("freeze")):
            shutil.rmtree(dest / name)
            changed = True
    return changed


def _mode_grid(study: Study) -> tuple[list[str], set[int]]:
    """A ``by_mode`` study's freeze modes and seeds (one Hydra compose)."""
    grid = sweep_grid(study)
    if not {"freeze", "seed"} <= set(grid):  # a programming error, not a user's
        raise ValueError(f"{study.name}: by_mode needs a freeze x seed grid, not {sorted(grid)}")
    return list(grid["freeze"]), {int(s) for s in grid["seed"]}


def missing_modes(study: Study) -> dict[str, int]:
    """For a ``by_mode`` study: freeze mode -> how many of its seeds have no committed record."""
    modes, seeds = _mode_grid(study)
    have = _records_by_run(study.records_dir).values()
    return {
        mode: len(seeds - {int(r.fields["seed"]) for r in have if r.fields.get("freeze") == mode})
        for mode in modes
    }


def sync_records(study: Study) -> Path:
    """Copy the sweep's finished runs into ``records/`` and return that folder.

    A sweep with no finished run (a fresh checkout) leaves the committed records as they are.
    A ``by_mode`` study copies a mode only once every seed of the grid finished, so a study
    stopped halfway through a mode never leaves part of it in results/.
    """
    runs = _records_by_run(study.sweep_dir)
    if not runs:
        return study.records_dir
    if not study.by_mode:
        _write_records(study, runs)
        return study.records_dir
    modes, seeds = _mode_grid(study)
    missing = missing_modes(study)  # before this call writes any
    for mode in modes:
        mine = {
            n: r
            for n, r in runs.items()
            if r.fields.get("freeze") == mode and int(r.fields.get("seed", -1)) in seeds
        }
        done = {int(r.fields["seed"]) for r in mine.values()}
        path = study.results_dir / f"{mode}.environment.json"
        if done == seeds:
            if not _write_records(study, mine, freeze=mode) and path.is_file():
                continue  # a mode committed earlier keeps its files (its machine, its commit)
            table = runs_table(study.records_dir)
            env = environment(
                table[table["freeze"] == mode],
                None,
                data_files(study.records_dir),
                run_commits(study.records_dir, mode),
            )
            write_json_atomic(path, _keep_wall_time(path, env))
        elif mine and missing[mode]:
            print(
                f"{study.name}: {mode} has {len(done)} of its {len(seeds)} seeds; its records are "
                "written once all finished (rerun the same command to resume)",
                flush=True,
            )
    return study.records_dir


def _waiting_modes(study: Study) -> str:
    """'' when the study's records are whole, else which modes still lack seeds, and how many."""
    if not study.by_mode:
        return ""
    missing = {m: n for m, n in missing_modes(study).items() if n}
    return ", ".join(f"{m}: {n} seeds to run" for m, n in missing.items())


def report_source(study: Study) -> Path:
    """Where the runs of a finished study are read for a report: its committed records, else
    its sweep in outputs/ (a study exported before records existed, on the machine that ran it)."""
    for folder in (study.records_dir, study.sweep_dir):
        if _records_by_run(folder):
            return folder
    raise SystemExit(
        f"results: no finished runs of {study.name} in {study.records_dir} or {study.sweep_dir} "
        f"(studies exported before records existed keep only runs.csv): run "
        f"make results ARGS=study={study.name} first (~{study.n_runs * study.minutes_per_run / 60:.1f} h)"
    )


def _sets_precision(extra: list[str]) -> bool:
    return any(a.startswith("trainer.precision=") for a in extra)


def not_runnable_here(study: Study, extra: list[str]) -> str | None:
    """Why this machine should not run ``study`` (a bf16 study where bf16 is emulated), or None.

    Its runs would take ~40x longer than the estimate; and overriding its precision would make
    it another study, so it is refused, not converted."""
    from bertfreeze.precision import (  # torch: imported only when a study is about to run
        EMULATED_BF16_SLOWDOWN,
        cpu_capability,
        native_bf16,
        target_device,
    )

    if not study.needs_native_bf16 or _sets_precision(extra):
        return None
    device = target_device("auto")
    if native_bf16(device):
        return None
    where = "this GPU" if device == "cuda" else f"this CPU (capability {cpu_capability()})"
    return (
        f"study={study.name} runs {study.precision}, and {where} has no native bf16: expect "
        f"~{EMULATED_BF16_SLOWDOWN}x its estimate; run it on a CPU with AVX512_BF16 or AMX, or "
        "a GPU with bf16"
    )


def sweep_overrides(study: Study, extra: list[str]) -> list[str] | None:
    """The study's sweep overrides for this call; None when nothing is left to run.

    A ``freeze=`` in ``extra`` replaces the study's own (Hydra refuses one key twice). A
    ``by_mode`` study runs only the modes whose records are not yet whole, so a checkout that
    holds two committed modes resumes with the third. The precision is pinned
    (:attr:`Study.precision`) unless ``extra`` sets one."""
    own = list(study.sweep)
    if not _sets_precision(extra):
        own.append(f"trainer.precision={study.precision}")
    if any(a.startswith("freeze=") for a in extra):
        return [o for o in own if not o.startswith("freeze=")]
    if not study.by_mode:
        return own
    todo = [m for m, n in missing_modes(study).items() if n]
    if not todo:
        return None
    return [f"freeze={','.join(todo)}" if o.startswith("freeze=") else o for o in own]


# --------------------------------------------------------------------------------------------
# Export: runs.csv and environment.json
# --------------------------------------------------------------------------------------------


def _completed(sweep_dir: Path) -> list[dict[str, Any]]:
    out = []
    for run_dir in iter_run_dirs(sweep_dir):
        record = RunRecord.read(run_dir)
        if record is not None:
            m = record.as_dict()
            m["_run"] = run_dir.name
            out.append(m)
    return out


def runs_table(sweep_dir: Path) -> pd.DataFrame:
    """One row per completed run of a study sweep (columns: :data:`RUN_COLUMNS`)."""
    rows = []
    for m in _completed(sweep_dir):
        val, test = m.get("val") or {}, m.get("test") or {}
        cfg = m.get("config") or {}
        rows.append(
            {
                "freeze": m.get("freeze"),
                "k": cfg.get("freeze.k"),
                "seed": m.get("seed"),
                "fold": m.get("fold"),
                "val_accuracy": val.get("accuracy"),
                "test_accuracy": test.get("accuracy"),
                "test_f1": test.get("f1"),
                "test_precision": test.get("precision"),
                "test_recall": test.get("recall"),
                "trainable_params": m.get("trainable_params"),
                "total_params": m.get("total_params"),
                "wall_time_s": m.get("wall_time_s"),
                "precision": m.get("precision"),
                "cpu_capability": m.get("cpu_capability"),
                "backbone": m.get("backbone"),
                "config_hash": m.get("config_hash"),
                "run": m["_run"],
                "reused_from": m.get("reused_from"),
            }
        )
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    return df.sort_values(["freeze", "k", "fold", "seed"], na_position="first").reset_index(
        drop=True
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(
    runs: pd.DataFrame,
    study_wall_s: float | None,
    data_files: dict[str, str],
    run_commits: list[str] | None = None,
) -> dict[str, Any]:
    """Where and how the study ran: commit, versions, CPU, precision, wall time, data hashes.

    ``git_commit`` is the commit the runs recorded (not the one exporting them); several
    commits are listed in ``run_commits``, so a study resumed across commits says so.
    """
    from bertfreeze.precision import cpu_bf16_isa, cpu_capability, cpu_native_bf16
    from bertfreeze.runs import git_commit, versions

    commits = sorted(set(run_commits or []))
    return {
        "git_commit": commits[0] if len(commits) == 1 else git_commit(),
        "run_commits": commits,
        "exported_at_commit": git_commit(),
        "versions": versions(),
        "cpu_model": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_native_bf16": cpu_native_bf16(),
        "cpu_bf16_isa": cpu_bf16_isa(),
        "cores": os.cpu_count(),
        "precision": sorted({str(p) for p in runs["precision"].dropna()}),
        "n_runs": len(runs),
        # runs that stand in from another study (reuse_from): counted in n_runs and in the sum
        # below (what each run took when it ran), though this study did not train them
        "n_reused": int(runs["reused_from"].notna().sum()) if "reused_from" in runs else 0,
        "sum_run_wall_time_s": round(float(runs["wall_time_s"].fillna(0).sum()), 1),
        "study_wall_time_s": None if study_wall_s is None else round(study_wall_s, 1),
        "data": data_files,
    }


def run_commits(sweep_dir: Path, freeze: str | None = None) -> list[str]:
    """The commits the completed runs recorded (of one freeze mode, if given)."""
    return [
        str(m["git_commit"])
        for m in _completed(sweep_dir)
        if m.get("git_commit") and freeze in (None, m.get("freeze"))
    ]


def _unchanged(path: Path, table: pd.DataFrame) -> bool:
    return path.is_file() and path.read_text() == table.to_csv(index=False)


def _keep_wall_time(path: Path, env: dict[str, Any]) -> dict[str, Any]:
    """An export without a run (export_only) keeps the study's measured wall time."""
    if env.get("study_wall_time_s") is None and path.is_file():
        env["study_wall_time_s"] = json.loads(path.read_text()).get("study_wall_time_s")
    return env


def data_files(sweep_dir: Path) -> dict[str, str]:
    """Data file name -> sha256, as recorded by the runs (never an absolute path)."""
    out = {}
    for m in _completed(sweep_dir):
        d = m.get("data") or {}
        if d.get("path") and d.get("sha256"):
            out[Path(str(d["path"])).name] = str(d["sha256"])
    return out


def export(study: Study, study_wall_s: float | None = None) -> Path:
    """Write runs.csv, environment.json (and the baselines' files) into results/<study>/."""
    dest = study.results_dir
    dest.mkdir(parents=True, exist_ok=True)
    if not study.sweep:  # a baselines-only study
        for name in ("summary.json", "folds.csv"):
            shutil.copyfile(study.out / "baselines" / name, dest / name)
        meta = json.loads((study.out / "baselines" / "meta.json").read_text())
        env = environment(pd.DataFrame({"precision": [], "wall_time_s": []}), study_wall_s, {})
        env = _keep_wall_time(dest / "environment.json", env)
        data = meta.get("data") or {}
        env["data"] = {Path(str(data.get("path", "data"))).name: data.get("sha256")}
        env["baselines"] = {
            k: meta.get(k) for k in ("features", "preprocess", "n_folds", "options")
        }
        write_json_atomic(dest / "environment.json", env)
        return dest
    if study.selection:
        runs = runs_table(study.sweep_dir)
        from bertfreeze.selection import selection_table, selection_tables

        param, csv = study.selection
        per_mode = "{freeze}" in csv  # one table per freeze mode (experiment=select_peft_lr)
        if per_mode:
            tables = _complete_modes(study, selection_tables(study.sweep_dir, param))
        else:
            tables = {"": selection_table(study.sweep_dir, param)}
        for freeze, table in tables.items():
            name = csv.format(freeze=freeze)
            if per_mode and _unchanged(dest / name, table):
                continue  # a mode finished earlier keeps its files (its own runs, its own time)
            mine = runs[runs["freeze"] == freeze] if per_mode else runs
            env = environment(
                mine,
                study_wall_s,
                data_files(study.sweep_dir),
                run_commits(study.sweep_dir, freeze if per_mode else None),
            )
            atomic_write_csv(table, dest / name)
            env_path = dest / name.replace(".csv", ".environment.json")
            write_json_atomic(env_path, _keep_wall_time(env_path, env))
        return dest
    records = sync_records(study)
    if not _records_by_run(records):
        print(
            f"{study.name}: no finished run in {study.sweep_dir} and no records in {records}; "
            f"{dest} is left as it is",
            flush=True,
        )
        return dest
    if waiting := _waiting_modes(study):
        print(f"{study.name}: runs.csv and the report wait for every mode ({waiting})", flush=True)
        return dest
    runs = runs_table(records)
    # The report's own table (or an earlier export of it): keep its extra columns, drop abs
    # paths. Reading an earlier export too makes `export_only=true` idempotent.
    report_runs = dest / "runs.csv"
    if report_runs.is_file():
        rep = pd.read_csv(report_runs)
        if "run_dir" in rep:  # a pooled report names its runs <study>--<run>: ours are kept
            rep["run"] = rep.pop("run_dir").map(
                lambda p: Path(str(p)).name.removeprefix(f"{study.name}--")
            )
        if "run" in rep:
            extra = [c for c in rep.columns if c not in runs.columns or c == "run"]
            runs = runs.merge(rep[extra].drop_duplicates("run"), on="run", how="left")
    atomic_write_csv(runs, dest / "runs.csv")
    if study.baselines is not None:
        for name in ("summary.json", "folds.csv"):
            src = study.out / "baselines" / name
            if src.is_file():
                shutil.copyfile(src, dest / f"baselines_{name}")
    env = environment(runs, study_wall_s, data_files(records), run_commits(records))
    if study.by_mode:
        env.update(_machines_by_mode(study))
    write_json_atomic(dest / "environment.json", _keep_wall_time(dest / "environment.json", env))
    return dest


MACHINE_KEYS = ("cpu_model", "cpu_capability", "cpu_native_bf16", "cores")


def _machines_by_mode(study: Study) -> dict[str, Any]:
    """Where each mode of a ``by_mode`` study ran, from its ``<mode>.environment.json``.

    Its modes may have run in different sittings on different machines; without this the
    study's file (and the README's footer) named only the machine that exported it. Returns
    ``machines_by_mode`` and, where the modes disagree, the study-level keys joined with " / "
    (``cpu_native_bf16``: null)."""
    per = {
        path.name.removesuffix(".environment.json"): json.loads(path.read_text())
        for path in sorted(study.results_dir.glob("*.environment.json"))
    }
    if not per:
        return {}
    out: dict[str, Any] = {
        "machines_by_mode": {m: {k: e.get(k) for k in MACHINE_KEYS} for m, e in per.items()}
    }
    for key in MACHINE_KEYS:
        values = sorted({json.dumps(e.get(key)) for e in per.values()})
        if len(values) == 1:
            out[key] = json.loads(values[0])
        else:
            out[key] = (
                None if key == "cpu_native_bf16" else " / ".join(str(json.loads(v)) for v in values)
            )
    return out


# --------------------------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------------------------


def _step(title: str, cmd: list[str]) -> None:
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    res = subprocess.run(cmd, cwd=REPO_ROOT)
    if res.returncode != 0:
        print(
            f"results: step '{title}' failed (exit {res.returncode}); rerun the same command to "
            "resume (finished runs are skipped)",
            file=sys.stderr,
        )
        sys.exit(res.returncode)


def run_study(study: Study, extra: list[str]) -> Path:
    """Baselines (if any), the sweep, the report, then the export. Resumable."""
    py = sys.executable
    t0 = time.perf_counter()
    if study.baselines is not None:
        _step(
            f"{study.name}: baselines",
            [
                py,
                "-m",
                "bertfreeze.cli.baselines",
                *study.baselines,
                f"hydra.run.dir={study.out / 'baselines'}",
            ],
        )
    if not study.sweep:
        return export(study, time.perf_counter() - t0)
    # A call that trains nothing (every run already finished: a re-report, or a sweep copied in
    # from the clone that ran it) keeps the study's measured wall time instead of its own seconds.
    finished_before = set(_records_by_run(study.sweep_dir))
    pools = ",".join(repr(str(STUDIES[s].sweep_dir)) for s in study.reuse)
    reuse = [f"reuse_from=[{pools}]"] if study.reuse else []
    sweep = sweep_overrides(study, extra)
    if sweep is None:
        print(f"{study.name}: every mode's records are committed; nothing to train", flush=True)
    else:
        _step(
            f"{study.name}: sweep",
            [
                py,
                "train.py",
                "-m",
                *sweep,
                *reuse,
                *extra,
                f"hydra.sweep.dir={study.sweep_dir}",
            ],
        )
    if not study.selection:
        sync_records(study)
        if waiting := _waiting_modes(study):
            print(f"{study.name}: the report waits for every mode ({waiting})", flush=True)
            return study.results_dir
        sources = [study.records_dir, *(report_source(STUDIES[s]) for s in study.extra_sweeps)]
        report_cmd = [
            py,
            "-m",
            "bertfreeze.cli.report",
            f"sweep_dir={sources[0] if len(sources) == 1 else study.out / 'pooled'}",
            f"out_dir={study.results_dir}",
            f"metrics=[{','.join(study.report_metrics)}]",
        ]
        if len(sources) > 1:
            _gather_pooled(study, sources)
        if study.baselines is not None:
            report_cmd.append(f"baselines_dir={study.out / 'baselines'}")
        else:
            report_cmd.append("find_baselines=false")
        _step(f"{study.name}: report", report_cmd)
    trained = set(_records_by_run(study.sweep_dir)) != finished_before
    return export(study, time.perf_counter() - t0 if trained else None)


def _gather_pooled(study: Study, sweeps: list[Path]) -> None:
    """A folder holding every run of the studies reported together (same split, same seeds),
    each from its records or its sweep (:func:`report_source`): a copy of each ``metrics.json``
    (what the report reads) under ``<study>--<run>/``. Copies, not links: run discovery
    (``os.walk``) does not enter linked folders, so linked runs were never found."""
    pooled = study.out / "pooled"
    if pooled.exists():
        shutil.rmtree(pooled)
    pooled.mkdir(parents=True)
    for sweep in sweeps:
        for run in (r for r in iter_run_dirs(sweep) if RunRecord.read(r) is not None):
            dest = pooled / f"{sweep.parent.name}--{run.name}"
            dest.mkdir()
            shutil.copyfile(run / RunRecord.FILE, dest / RunRecord.FILE)
