"""The verbatim sweep through a fair ``transformers.Trainer``: the competitor's 30 runs, timed.

    python -m bench.trainer_sweep                 # 3 modes x seeds 0-9 (70 min on 2 AMX Xeon cores)
    python -m bench.trainer_sweep --modes none --seeds 0-2      # a part (the rest resumes later)
    python -m bench.trainer_sweep --quick --out DIR             # smoke test: 600 tweets, 1 epoch
    python -m bench.trainer_sweep --interleave --modes none     # ours beside each Trainer run (2 h for all 30)
    python -m bench.trainer_sweep --interleave --precision auto # both at the shipped default (bf16 where native)
    python -m bench.trainer_sweep --refresh                     # recompute the records' comparisons
    python -m bench.trainer_sweep --interleave --precision auto --modes none --seeds 10-19 \
        --out bench/results/trainer_sweep/more-seeds            # more seeds, pooled on the page

Precision: the committed study's (``--precision study``, the default; 32-true for the shipped
studies), so both sweeps run alike on a CPU with native bf16 too.

Why: issue #12 asks whether the whole verbatim sweep (``python train.py -m
freeze=none,all,last2 'seed=range(10)'``) is at least 1.5x faster than the same sweep written
with Hugging Face's ``Trainer`` *at equal accuracy*. Line c2 of ``make bench`` compares one epoch;
this runs the competitor's whole sweep, run by run, so the ratio covers everything a run does.

Each run is set up as fairly as we know how, from the same composed config a bertfreeze run of
that mode and seed sees (``conf/train.yaml`` + ``freeze=<mode>`` + ``seed=<s>``):
- the same model (our classifier, the mode's frozen layers frozen, the same initial weights from
  the same seed), the same optimiser and schedule (AdamW over our parameter groups, linear
  warm-up), batch size, epochs, max length, precision, gradient clipping and threads;
- the Trainer's own best settings: ``group_by_length`` (its length-grouped sampler) and
  ``DataCollatorWithPadding`` (pads each batch to its longest);
- the same work per run as ours: tokenise, build, train, evaluate validation every epoch, keep
  the epoch with the lowest validation loss (ours: ``ModelCheckpoint(monitor=val/loss)``), score
  the same test tweets once. Wall time is the whole run.
It has no frozen-prefix cache: a ``Trainer`` user re-runs the frozen layers every step (that
is the difference being measured).

The record (``bench/results/trainer_sweep/<capability>[-bf16]-<cores>cores-<cpu>-<precision>.json``)
is rewritten after every run, so an interrupted sweep resumes where it stopped; runs recorded on
another kind of CPU, precision or config are never mixed in (a one-line error says so). Once complete, it is
compared with the committed study ``results/disaster-tweets`` per mode: wall time, and test
accuracy (mean, sd, difference, and the minimum detectable difference of the two 10-run groups;
"equal accuracy" = the difference is inside it). Both records carry their date, commit and CPU
capability.

``--interleave``: by default "ours" is the committed study, timed on another day, and a VM's
speed drifts from day to day by more than the gap being measured (the study's 10 ``none``
runs took 44.6 min on 2026-12-05 and 32.0 min, with the same results, interleaved on
2026-12-06). With ``--interleave`` each (mode, seed) runs both sides back to back in
alternating order (ours first for the 1st, 3rd, ... run to do, the Trainer first for the
others): ours as ``python
train.py freeze=<mode> seed=<s>`` in a fresh process at the same precision, with a private
frozen-prefix cache (so its build is counted in the first cached run, as in the study). The
comparison then takes ours from those runs for every mode whose runs all have them (the page
says which modes), and checks that their test accuracy equals the committed study's.
"""

from __future__ import annotations

import argparse
import contextlib
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

import numpy as np

from bench.render import MORE_SEEDS, REPO, RESULTS, SCHEMA

STUDY = REPO / "results" / "disaster-tweets"
OUT_DIR = RESULTS / "trainer_sweep"
MODES = ("none", "all", "last2")
SPEEDUP_TARGET = 1.5  # issue #12: ours >= 1.5x faster than the fair Trainer sweep


def study_precision(study: Path) -> str:
    """The one precision the committed study's runs recorded (``auto`` when there is none).

    Like with like: the committed studies are pinned to 32-true, and on a CPU with native bf16
    ``auto`` would run the competitor at bf16-mixed against our fp32 runs.
    """
    import pandas as pd

    path = study / "runs.csv"
    if not path.is_file():
        return "auto"
    found = sorted(set(pd.read_csv(path)["precision"].astype(str)))
    return found[0] if len(found) == 1 else "auto"


def parse_seeds(text: str) -> list[int]:
    """``0-9`` or ``0,3,5`` -> seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return seeds


def run_key(mode: str, seed: int) -> str:
    return f"{mode}/seed={seed}"


def _settings(cfg: Any, precision: Any) -> dict[str, Any]:
    """What must match for two runs to belong to one sweep (checked on resume)."""
    import torch

    clip = cfg.trainer.get("gradient_clip_val")
    return {
        "model": str(cfg.model.name),
        "data": str(cfg.data.name),
        "batch_size": int(cfg.data.batch_size),
        "eval_batch_size": int(cfg.data.eval_batch_size),
        "max_length": int(cfg.data.max_length),
        "epochs": int(cfg.trainer.max_epochs),
        "gradient_clip_val": float(clip) if clip else None,
        "precision": precision.precision,
        "cpu_capability": precision.cpu_capability,
        "threads": torch.get_num_threads(),
    }


def hf_run(ctx: Any, mode: str, seed: int) -> dict[str, Any]:
    """One run of ``mode`` at ``seed`` through ``transformers.Trainer``; its record."""
    import lightning as L
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from bench.bench_training import _HFModel, _optim, hf_cpu_args, hf_optimizer, set_threads
    from bertfreeze.build import build_classifier

    cfg = ctx.cfg(mode, f"hf-{mode}-{seed}", f"seed={seed}")
    prec = ctx.precision
    optim = _optim(cfg)
    clip = cfg.trainer.get("gradient_clip_val")
    epochs = int(cfg.trainer.max_epochs)
    batch = int(cfg.data.batch_size)
    split, labels, texts = ctx.split, ctx.labels, ctx.texts
    out = ctx.work / "hf" / f"{mode}-{seed}"
    set_threads()
    t0 = time.perf_counter()
    # the competitor tokenises in its own script (ours reads its token cache: counted in ours)
    enc = ctx.tokenizer(texts, truncation=True, max_length=int(cfg.data.max_length))

    def rows(idx: np.ndarray) -> list[dict[str, Any]]:
        return [{"input_ids": enc["input_ids"][int(i)], "labels": int(labels[int(i)])} for i in idx]

    train_ds, val_ds, test_ds = rows(split.train), rows(split.val), rows(split.test)
    L.seed_everything(seed, workers=True, verbose=False)  # as train(): the same initial head
    clf = build_classifier(cfg, quiet=True)[0]
    opt, sched = hf_optimizer(clf, optim, epochs * -(-len(train_ds) // batch))
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=int(cfg.data.eval_batch_size),
        num_train_epochs=epochs,
        max_grad_norm=float(clip) if clip else 0.0,  # 0: no clipping, as gradient_clip_val=None
        bf16=prec.bf16,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,  # the epoch of lowest validation loss, as ours
        metric_for_best_model="loss",
        greater_is_better=False,
        **hf_cpu_args(seed),
    )
    trainer = Trainer(
        model=_HFModel(clf),
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=DataCollatorWithPadding(ctx.tokenizer),
        optimizers=(opt, sched),
    )
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):  # its metric dicts
        trainer.train()
        train_s = time.perf_counter() - t0
        val_loss = trainer.evaluate()["eval_loss"]
        pred = trainer.predict(test_ds)
    wall = time.perf_counter() - t0
    accuracy, f1 = score_prediction(pred, clf, labels[split.test])
    return {
        "mode": mode,
        "seed": seed,
        "wall_s": round(wall, 2),
        "train_s": round(train_s, 2),
        "val_loss": float(val_loss),
        "test_accuracy": accuracy,
        "test_f1": f1,
        "trainable_params": int(sum(p.numel() for p in clf.parameters() if p.requires_grad)),
        "rows": {"train": len(train_ds), "val": len(val_ds), "test": len(test_ds)},
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "settings": _settings(cfg, prec),
    }


def ours_run(ctx: Any, mode: str, seed: int, precision: str) -> dict[str, Any]:
    """One bertfreeze run of ``mode`` at ``seed`` (``python train.py``, a fresh process), timed as
    the study times its runs (``wall_time_s`` of its ``metrics.json``) and from outside."""
    from bench.run import git_state
    from bertfreeze.errors import UserError

    run_dir = ctx.work / "ours" / f"{mode}-{seed}"
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        f"freeze={mode}",
        f"seed={seed}",
        f"data.path={ctx.data_path}",
        "trainer.accelerator=cpu",
        f"trainer.precision={precision}",
        *ctx.overrides,
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "BERTFREEZE_QUIET": "1"}  # BERTFREEZE_CACHE: the bench's private cache
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"ours {run_key(mode, seed)} failed (exit {done.returncode}): {tail[0]}")
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "wall_s": round(float(m["wall_time_s"]), 2),
        "fit_s": round(float(m["fit_time_s"]), 2),
        "process_s": round(process_s, 2),
        "test_accuracy": float(m["test"]["accuracy"]),
        "test_f1": float(m["test"]["f1"]),
        "precision": m["precision"],
        "cpu_capability": m["cpu_capability"],
        "git": git_state(),
    }


def score_prediction(pred: Any, clf: Any, test_labels: np.ndarray) -> tuple[float, float]:
    """Test accuracy and F1 of ``Trainer.predict``'s output, against the labels it returns.

    Why not the split's labels in dataset order: with ``group_by_length``, transformers 5 also
    orders evaluation by length (``_get_eval_sampler`` returns a ``LengthGroupedSampler``), so
    the predictions come back permuted, and scoring them in dataset order gave ~0.5 accuracy.
    ``label_ids`` are permuted with them; their label counts must match the test rows'.
    """
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    y = np.asarray(pred.label_ids).reshape(-1).astype(int)
    if (
        len(y) != len(test_labels)
        or np.bincount(y, minlength=2).tolist()
        != np.bincount(np.asarray(test_labels, dtype=int), minlength=2).tolist()
    ):
        raise RuntimeError("Trainer.predict returned other labels than the test rows'")
    y_hat = (clf.probabilities(torch.as_tensor(pred.predictions)) >= 0.5).long().numpy()
    y_hat = y_hat.reshape(-1)
    return float(accuracy_score(y, y_hat)), float(f1_score(y, y_hat))


def compare(runs: list[dict[str, Any]], study: Path) -> dict[str, Any] | None:
    """Per mode and in total: the Trainer sweep vs ours on the seeds both ran (None: no study).

    Ours, per mode: the runs interleaved with the Trainer's (``--interleave``) where every
    Trainer run of the mode has one, else the committed study. ``complete`` once every mode has
    the study's seeds on both sides."""
    import pandas as pd

    from bertfreeze.stats import min_detectable_difference, pooled_sd, welch_ttest

    path = study / "runs.csv"
    if not path.is_file():
        return None
    study_runs = pd.read_csv(path)
    study_precisions = (
        set(study_runs["precision"].astype(str)) if "precision" in study_runs else set()
    )
    modes: dict[str, Any] = {}
    ours_kinds: set[str] = set()
    complete = True
    for mode in MODES:
        mine = study_runs[study_runs["freeze"] == mode]
        study_acc = dict(
            zip(mine["seed"].astype(int), mine["test_accuracy"].astype(float), strict=True)
        )
        of_mode = [r for r in runs if r["mode"] == mode]
        interleaved = bool(of_mode) and all("ours" in r for r in of_mode)
        if interleaved:
            seeds = sorted({r["seed"] for r in of_mode})
        else:
            seeds = sorted(set(study_acc) & {r["seed"] for r in of_mode})
        if not seeds:
            continue
        hf = sorted((r for r in of_mode if r["seed"] in seeds), key=lambda r: r["seed"])
        complete &= set(study_acc) <= set(seeds)
        b = np.array([r["test_accuracy"] for r in hf])
        extra: dict[str, Any] = {}
        if interleaved:
            a = np.array([r["ours"]["test_accuracy"] for r in hf])
            ours_wall = float(sum(r["ours"]["wall_s"] for r in hf))
            ours_kinds |= {f"{r['ours']['cpu_capability']} {r['ours']['precision']}" for r in hf}
            same = [abs(r["ours"]["test_accuracy"] - study_acc[r["seed"]]) < 1e-9
                    for r in hf if r["seed"] in study_acc]  # fmt: skip
            # the study's seeds reproduce only at the study's precision (bf16 rounds differently)
            at_study_precision = {r["ours"]["precision"] for r in hf} <= study_precisions
            extra["same_accuracy_as_study"] = (
                bool(same) and all(same) if at_study_precision else None
            )
            if not at_study_precision:
                extra["study_precision"] = ", ".join(sorted(study_precisions))
            startup = [
                r["ours"]["process_s"] - r["ours"]["wall_s"] for r in hf if "process_s" in r["ours"]
            ]
            if startup:  # imports and Hydra, outside the run's own wall (as the Trainer's imports)
                extra["ours_startup_s"] = round(float(np.mean(startup)), 1)
            in_study = mine[mine["seed"].astype(int).isin(seeds)]
            if at_study_precision and len(in_study) == len(seeds):  # same runs, another day
                extra["study_wall_s"] = round(float(in_study["wall_time_s"].sum()), 1)
        else:
            sub = mine[mine["seed"].astype(int).isin(seeds)]
            a = sub["test_accuracy"].to_numpy(float)
            ours_wall = float(sub["wall_time_s"].sum())
            ours_kinds |= {
                f"{c} {p}" for c, p in zip(sub["cpu_capability"], sub["precision"], strict=True)
            }
        mdd = min_detectable_difference(pooled_sd(a, b), len(a), len(b))  # nan under 2 per side
        # "equal" (inside the MDD) is no equivalence test: a gap under the MDD can be significant
        welch_p = welch_ttest(a, b).p
        diff = float(a.mean() - b.mean())
        hf_wall = float(sum(r["wall_s"] for r in hf))
        modes[mode] = {
            "seeds": seeds,
            "ours_source": "interleaved" if interleaved else "study",
            **extra,
            "wall_s": {"ours": round(ours_wall, 1), "trainer": round(hf_wall, 1)},
            "speedup": round(hf_wall / ours_wall, 2) if ours_wall else None,
            "test_accuracy": {
                "ours": [round(float(a.mean()), 4), round(float(a.std(ddof=1)), 4)],
                "trainer": [
                    round(float(b.mean()), 4),
                    round(float(b.std(ddof=1)), 4) if len(b) > 1 else None,
                ],
            },
            "difference": round(diff, 4),
            "min_detectable_difference": round(mdd, 4) if not math.isnan(mdd) else None,
            "equal_accuracy": bool(abs(diff) <= mdd) if not math.isnan(mdd) else None,
            "welch_p": round(welch_p, 4) if not math.isnan(welch_p) else None,
        }
    if not modes:
        return None
    # like with like: both sides on the same kind of CPU at the same precision, or no verdict
    hf_kinds = {f"{r['settings']['cpu_capability']} {r['settings']['precision']}" for r in runs}
    mismatch = None
    if ours_kinds != hf_kinds:
        mismatch = (
            f"ours ran on {', '.join(sorted(ours_kinds))}, the Trainer sweep on "
            f"{', '.join(sorted(hf_kinds))}: no ratio across machine kinds"
        )
    ours_total = sum(m["wall_s"]["ours"] for m in modes.values())
    hf_total = sum(m["wall_s"]["trainer"] for m in modes.values())
    speedup = hf_total / ours_total
    equal = [m["equal_accuracy"] for m in modes.values()]
    env = study / "environment.json"
    env_rec = json.loads(env.read_text()) if env.is_file() else {}
    return {
        "study_commits": env_rec.get("run_commits") or env_rec.get("git_commit"),
        "mismatch": mismatch,
        "modes": modes,
        "total": {
            "complete": complete and len(modes) == len(MODES),
            "runs": sum(len(m["seeds"]) for m in modes.values()),
            "interleaved_modes": [k for k, m in modes.items() if m["ours_source"] == "interleaved"],
            "wall_s": {"ours": round(ours_total, 1), "trainer": round(hf_total, 1)},
            "speedup": round(speedup, 2),
            "target": SPEEDUP_TARGET,
            "equal_accuracy": all(e is True for e in equal),
            "met": mismatch is None and speedup >= SPEEDUP_TARGET and all(e is True for e in equal),
        },
    }


def load_record(path: Path, settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The record so far (empty if none); refuses one made on another kind of machine/config."""
    from bertfreeze.errors import UserError

    if not path.is_file():
        return {"runs": []}
    rec = json.loads(path.read_text())
    for r in rec.get("runs", []):
        want = settings.get(r["mode"])
        if want is not None and r.get("settings") != want:
            raise UserError(
                f"{path} holds {run_key(r['mode'], r['seed'])} made with {r.get('settings')}, "
                f"this run would use {want}: move that file away (or pass --out) to start afresh"
            )
    return rec


def pool_with_main_record(path: Path, rec: dict[str, Any], study: Path) -> None:
    """A more-seeds record (``<out>/more-seeds/<name>``) carries its pool with ``<out>/<name>``."""
    if path.parent.name != MORE_SEEDS:
        return
    main = path.parent.parent / path.name
    rec["pooled"] = (
        pooled_comparison(json.loads(main.read_text()), rec, study) if main.is_file() else None
    )


def refresh_comparison(path: Path, rec: dict[str, Any], study: Path) -> bool:
    """Recompute ``rec``'s comparison (and a more-seeds record's pool) from the stored runs;
    rewrite ``path`` if it changed."""
    from bertfreeze.atomic import atomic_write_text

    before = (rec.get("comparison"), rec.get("pooled"))
    rec["comparison"] = compare(rec["runs"], study)
    pool_with_main_record(path, rec, study)
    if (rec["comparison"], rec.get("pooled")) == before:
        return False
    atomic_write_text(path, json.dumps(rec, indent=2) + "\n")
    return True


def pooled_comparison(
    rec: dict[str, Any], extra: dict[str, Any], study: Path
) -> dict[str, Any] | None:
    """The modes of ``extra`` (more seeds of some modes, ``--out .../more-seeds``) compared on
    both records' runs together; None if the two were not run alike.

    Why: a gap from 10 seeds a side that sits near p = 0.05 is a hypothesis, not a finding;
    more seeds, run the same way, are how to test it without touching the 30-run record."""
    modes = sorted({r["mode"] for r in extra.get("runs", [])})
    ours = [r for r in rec.get("runs", []) if r["mode"] in modes]
    kinds = {json.dumps(r.get("settings"), sort_keys=True) for r in ours + extra["runs"]}
    if not ours or len(kinds) != 1 or rec.get("cpu") != extra.get("cpu"):
        return None
    seen = {run_key(r["mode"], r["seed"]) for r in ours}
    runs = ours + [r for r in extra["runs"] if run_key(r["mode"], r["seed"]) not in seen]
    c = compare(runs, study)
    return None if not c else {m: c["modes"][m] for m in modes if m in c["modes"]}


def refresh(out_dir: Path, study: Path) -> int:
    """Recompute each full record's comparison from its stored runs (``--refresh``): a record
    made on another CPU cannot be rerun here, but its comparison must follow the current code."""
    for path in sorted([*out_dir.glob("*.json"), *(out_dir / MORE_SEEDS).glob("*.json")]):
        rec = json.loads(path.read_text())
        if rec.get("quick") or not rec.get("runs"):
            continue
        changed = refresh_comparison(path, rec, study)
        print(f"{path.name}: {'refreshed' if changed else 'unchanged'}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    from bench.bench_training import cleanup, hf_available, make_ctx
    from bench.run import cpu_record, git_state, machine_stem, versions
    from bertfreeze.atomic import atomic_write_text
    from bertfreeze.errors import UserError

    p = argparse.ArgumentParser(
        prog="python -m bench.trainer_sweep", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", default=os.environ.get("BERTFREEZE_DATA"), help="tweets CSV")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated (default: all three)")
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,1 (default 0-9)")
    p.add_argument("--quick", action="store_true", help="600 tweets, 1 epoch (smoke test)")
    p.add_argument("--study", default=str(STUDY), help="committed study to compare with")
    p.add_argument("--out", default=None, help="record JSON (default bench/results/trainer_sweep/)")
    p.add_argument("--override", action="append", default=[], help="Hydra override (repeatable)")
    p.add_argument(
        "--precision",
        default="study",
        help="study (default: the precision the committed study's runs recorded), auto, 32-true, "
        "bf16-mixed",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="recompute the comparison of every committed record from its stored runs (runs "
        "nothing; after a change to the comparison itself)",
    )
    p.add_argument(
        "--interleave",
        action="store_true",
        help="run ours (python train.py) beside each Trainer run, in alternating order, and "
        "compare with those instead of the committed study (redoes recorded runs that lack it)",
    )
    args = p.parse_args(argv)
    if args.refresh:
        return refresh(OUT_DIR, Path(args.study))
    if any(o.startswith("trainer.precision=") for o in args.override):
        raise UserError(
            "pass --precision, not --override trainer.precision=...: the Trainer side's bf16 flag "
            "follows --precision"
        )
    if not args.data:
        raise UserError("no tweets CSV: set BERTFREEZE_DATA or pass --data PATH")
    missing = hf_available()
    if missing:
        raise UserError(missing)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = sorted(set(modes) - set(MODES))
    if bad:
        raise UserError(
            f"--modes {','.join(bad)}: the verbatim sweep's modes are {','.join(MODES)}"
        )
    seeds = parse_seeds(args.seeds)
    overrides = [*args.override, *(["trainer.max_epochs=1"] if args.quick else [])]
    precision = study_precision(Path(args.study)) if args.precision == "study" else args.precision
    ctx = make_ctx(args.data, args.quick, precision=precision, overrides=overrides)
    prec = ctx.precision
    if args.out:
        out = Path(args.out)
        out = out / f"{machine_stem(prec)}-{prec.precision}.json" if out.suffix != ".json" else out
    elif args.quick:
        raise UserError("--quick needs --out DIR (its runs must not enter the committed record)")
    else:
        out = OUT_DIR / f"{machine_stem(prec)}-{prec.precision}.json"
    try:
        settings = {m: _settings(ctx.cfg(m, f"probe-{m}"), prec) for m in modes}
        rec = load_record(out, settings)
        done = {
            run_key(r["mode"], r["seed"]) for r in rec["runs"] if "ours" in r or not args.interleave
        }
        todo = [(m, s) for m in modes for s in seeds if run_key(m, s) not in done]
        print(
            f"trainer sweep: {len(todo)} runs to do ({len(done)} already recorded"
            f"{' with ours beside them' if args.interleave else ''} in {out}); "
            f"precision {prec.precision}, CPU {prec.cpu_capability}"
            f"{'; interleaved with ours' if args.interleave else ''}",
            flush=True,
        )
        for i, (mode, seed) in enumerate(todo, 1):
            if args.interleave:  # back to back, alternating which side goes first
                if i % 2:
                    ours = ours_run(ctx, mode, seed, prec.precision)
                    r = hf_run(ctx, mode, seed)
                else:
                    r = hf_run(ctx, mode, seed)
                    ours = ours_run(ctx, mode, seed, prec.precision)
                r["ours"] = {**ours, "order": "first" if i % 2 else "second"}
            else:
                r = hf_run(ctx, mode, seed)
            r["git"] = git_state()
            key = run_key(mode, seed)
            rec["runs"] = [x for x in rec["runs"] if run_key(x["mode"], x["seed"]) != key]
            rec["runs"].append(r)
            rec.update(
                schema=SCHEMA,
                key="trainer_sweep",
                cpu=cpu_record(prec),
                logical_cores=os.cpu_count(),
                versions=versions(),
                quick=args.quick,
                study=Path(args.study).name,
            )
            rec["comparison"] = None if args.quick else compare(rec["runs"], Path(args.study))
            if not args.quick:
                pool_with_main_record(out, rec, Path(args.study))
            atomic_write_text(out, json.dumps(rec, indent=2) + "\n")
            ours_note = (
                f"; ours {r['ours']['wall_s']:.1f} s, test acc {r['ours']['test_accuracy']:.4f}"
                if "ours" in r
                else ""
            )
            print(
                f"[{i}/{len(todo)}] {run_key(mode, seed)}: {r['wall_s']:.1f} s, "
                f"test acc {r['test_accuracy']:.4f}{ours_note}",
                flush=True,
            )
        if not args.quick and rec["runs"] and not todo:  # nothing to run: refresh the verdict
            refresh_comparison(out, rec, Path(args.study))
    finally:
        cleanup(ctx)
    c = rec.get("comparison")
    if c:
        t = c["total"]
        print(
            f"Trainer sweep {t['wall_s']['trainer'] / 60:.1f} min vs ours {t['wall_s']['ours'] / 60:.1f} "
            f"min ({t['speedup']}x; equal accuracy per mode: {t['equal_accuracy']}) -> {out}"
        )
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with bertfreeze's one-line errors (exit 2)."""
    from bertfreeze.errors import exit_code

    return exit_code(lambda: main(list(argv) if argv is not None else None))


if __name__ == "__main__":
    raise SystemExit(cli())
