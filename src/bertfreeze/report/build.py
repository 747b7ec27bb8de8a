"""``build_report``: runs + baselines -> tables, figures, stats.json, report.md."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from bertfreeze.atomic import atomic_write_csv, atomic_write_text, write_json_atomic
from bertfreeze.console import quiet
from bertfreeze.errors import UserError
from bertfreeze.report import figures as figs
from bertfreeze.report import fmt, paper, render, tables
from bertfreeze.report.collect import (
    TEST_METRICS,
    Baselines,
    Problem,
    collect_runs,
    find_baselines_dir,
    group_order,
    key_label,
    load_baselines,
)
from bertfreeze.report.compare import compare_all

TOP_K = re.compile(r"^top\d+$")


@dataclass
class ReportResult:
    """What :func:`build_report` produced (paths and the data behind them)."""

    out_dir: Path
    report_md: Path
    stats_json: Path
    runs: pd.DataFrame
    problems: list[Problem]
    baselines: Baselines | None
    stats: list[dict[str, Any]]
    table1: pd.DataFrame | None
    table2: pd.DataFrame
    tables: dict[str, dict[str, Path]] = field(default_factory=dict)
    figures: dict[str, figs.FigureInfo] = field(default_factory=dict)
    summary: str = ""


def _check_args(metrics: Sequence[str], alpha: float, power: float, n_boot: int) -> None:
    bad = [m for m in metrics if m not in TEST_METRICS]
    if bad or not metrics:
        raise UserError(
            f"metrics={list(metrics)}: unknown metric(s) {bad}; choose from {list(TEST_METRICS)}, "
            "e.g. metrics=[accuracy,f1]"
        )
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise UserError(f"alpha={alpha}, power={power}: both must lie strictly between 0 and 1")
    if n_boot < 100:
        raise UserError(f"n_boot={n_boot}: use at least 100 bootstrap resamples (default 10000)")


def layers_study(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Families with top{k} modes and >= 3 distinct trainable-layer counts: mean and 95% t-CI
    of accuracy per freeze mode, ordered by number of trainable layers."""
    from scipy import stats as st

    keep = []
    for fam, sub in runs.groupby("family"):
        if sub["freeze"].map(lambda f: bool(TOP_K.match(f))).any() and (
            sub["n_trainable_layers"].nunique() >= 3
        ):
            keep.append(fam)
    if not keep:
        return None
    rows = []
    for (fam, freeze), sub in runs[runs["family"].isin(keep)].groupby(["family", "freeze"]):
        acc = sub["accuracy"].dropna()
        n = len(acc)
        half = float(st.t.ppf(0.975, n - 1) * acc.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        rows.append(
            {
                "family": fam,
                "freeze": freeze,
                "trainable layers": int(sub["n_trainable_layers"].median()),
                "n": n,
                "accuracy": round(float(acc.mean()), 4),
                "95% t-CI low": round(float(acc.mean()) - half, 4),
                "95% t-CI high": round(float(acc.mean()) + half, 4),
            }
        )
    return pd.DataFrame(rows).sort_values(["family", "trainable layers"]).reset_index(drop=True)


def params_study(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Accuracy against trainable parameters: per family and freeze mode (every mode and depth,
    parameter-efficient ones included) the median trainable parameters, mean and 95% t-CI of
    accuracy, and whether the mode is on the frontier. Drawn when the sweep has a
    parameter-efficient mode (lora, bitfit, ia3) or is a depth study; None otherwise, so the
    paper's three-mode report keeps its two figures."""
    if "trainable_params" not in runs or runs["trainable_params"].isna().all():
        return None
    methods = runs["freeze_method"] if "freeze_method" in runs else pd.Series(["layers"])
    if (methods.fillna("layers") == "layers").all() and layers_study(runs) is None:
        return None
    points = figs.params_points(runs, "accuracy")
    if points.empty or points.groupby("family")["freeze"].nunique().max() < 2:
        return None
    out = points.rename(
        columns={
            "trainable_params": "trainable params",
            "mean": "accuracy",
            "ci_low": "95% t-CI low",
            "ci_high": "95% t-CI high",
        }
    )
    for col in ("accuracy", "95% t-CI low", "95% t-CI high"):
        out[col] = out[col].round(4)
    return out


def lr_grid_study(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Mean ± sd accuracy per (backbone, freeze, lr, head_lr) when lr or head_lr vary."""
    varied = runs.attrs.get("varied_keys", [])
    if "lr" not in varied and "head_lr" not in varied:
        return None
    others = [k for k in varied if k not in ("lr", "head_lr") and k in runs]
    keys = ["data_name", "backbone", *others, "freeze", "lr", "head_lr"]
    g = runs.groupby([runs[k].map(render._fmt) for k in keys], sort=True)["accuracy"]
    out = pd.DataFrame({"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
    out["accuracy"] = [fmt.pm(m, s) for m, s in zip(out["mean"], out["sd"], strict=True)]
    out = out.rename(columns={"data_name": "data", **{k: key_label(k) for k in others}})
    out = out.drop(columns=["mean", "sd"])
    if out["data"].nunique() == 1:
        out = out.drop(columns="data")
    return out


PAPER_SEEDS, PAPER_EPOCHS = 10, 3  # the paper's protocol: 10 trials x 3 epochs per mode


def reduced_note(runs: pd.DataFrame) -> str | None:
    """A quickstart (or any run below the paper's 10 seeds x 3 epochs on its data) says so."""
    seeds = int(runs.groupby("group")["seed"].nunique().max()) if len(runs) else 0
    epochs = sorted({int(e) for e in runs.get("epochs", pd.Series(dtype=float)).dropna()})
    ep = "/".join(str(e) for e in epochs) or "?"
    shape = f"{seeds} seed{'s' if seeds != 1 else ''} x {ep} epochs"
    if "quickstart" in set(runs.get("experiment", pd.Series(dtype=object)).dropna()):
        return f"quickstart: a reduced tour, {shape} (the paper: 10 x 3)"
    on_paper_data = set(runs["data_name"].dropna()) <= paper.PAPER_DATASETS
    if on_paper_data and (seeds < PAPER_SEEDS or (epochs and max(epochs) < PAPER_EPOCHS)):
        return f"reduced run: {shape} (the paper: 10 x 3)"
    return None


def bert_and_baseline_figures(
    runs: pd.DataFrame,
    t1: pd.DataFrame | None,
    t2: pd.DataFrame,
    baselines: Baselines | None,
    fig_metrics: list[str],
    out: Path,
    seed: int,
) -> dict[str, figs.FigureInfo]:
    """Figures 1 (baselines) and 2 (BERT) on one shared y-axis per metric, modes labelled by
    meaning, the best baseline as a band on Figure 2, paper numbers marked with their backbone."""
    figures: dict[str, figs.FigureInfo] = {}
    several = runs["family"].nunique() > 1
    single_paper_data = not several and set(runs["data_name"].dropna()) <= paper.PAPER_DATASETS
    backbones = ", ".join(sorted(set(runs["backbone"].astype(str))))
    paper2: dict[tuple[str, str], float] = {}
    if single_paper_data:
        for freeze in t2["freeze"]:
            ref = paper.TABLE2.get(freeze, {})
            for metric, key in (("accuracy", "accuracy"), ("f1", "f1_recomputed")):
                if metric in fig_metrics and key in ref:
                    paper2[(freeze, metric)] = ref[key]
    frames: list[tuple[pd.DataFrame, list[str]]] = [(runs, fig_metrics)]
    paper1: dict[tuple[str, str], float] = {}
    band = None
    if baselines is not None and t1 is not None:
        frames.append((baselines.folds, fig_metrics))
        if baselines.data_name in (None, *paper.PAPER_DATASETS):
            for feat in t1["features"]:
                for metric in fig_metrics:
                    value = paper.TABLE1.get(feat, {}).get(metric)
                    if value is not None:
                        paper1[(feat, metric)] = value
        band = figs.best_band(baselines.folds, "features", fig_metrics, paper.baseline_label)
    extra: dict[str, list[float]] = {m: [] for m in fig_metrics}
    for (_, metric), value in [*paper1.items(), *paper2.items()]:
        extra[metric].append(value)
    for metric in fig_metrics:  # error bars of small groups must fit in the shared range too
        for _, sub in runs.groupby("group"):
            extra[metric].extend(figs.mean_ci(sub[metric].to_numpy(dtype=float))[1:])
    ylim = figs.shared_limits(frames, extra=extra)
    if baselines is not None and t1 is not None:
        order = list(t1["features"])
        figures["figure1"] = figs.boxplots(
            baselines.folds,
            x="features",
            order=order,
            metrics=fig_metrics,
            title="Figure 1: sparse baselines over CV folds",
            xlabel="feature set",
            unit="folds",
            stem=out / "figure1_baselines",
            name="figure1",
            seed=seed,
            labels={f: paper.baseline_label(f) for f in order},
            paper_points=paper1,
            paper_label="paper (Table 1)",
            ylim=ylim,
        )
    order = list(t2["group"] if several else t2["freeze"])
    labels = {o: (figs.group_label(o) if several else figs.mode_label(o)) for o in order}
    title = "Figure 2: BERT by freeze mode over seeds"
    note = reduced_note(runs)
    if note:
        title += f"\n{note}"
    figures["figure2"] = figs.boxplots(
        runs.assign(_x=runs["group"] if several else runs["freeze"]),
        x="_x",
        order=order,
        metrics=fig_metrics,
        title=title,
        xlabel="group" if several else f"freeze mode ({backbones})",
        unit="seeds",
        stem=out / "figure2_bert",
        name="figure2",
        seed=seed,
        labels=labels,
        band=band,
        paper_points=paper2,
        paper_label=f"paper ({paper.BACKBONE}, not {backbones})",
        ylim=ylim,
    )
    return figures


def build_report(
    sweep_dir: str | Path,
    out_dir: str | Path,
    baselines_dir: str | Path | None = None,
    *,
    find_baselines: bool = True,
    metrics: Sequence[str] = ("accuracy", "f1"),
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 10_000,
    seed: int = 0,
) -> ReportResult:
    """Read every run under ``sweep_dir`` (and the baselines), write the report to ``out_dir``.

    ``baselines_dir=None`` looks for the newest ``<sweep_dir>/baselines/*/`` or
    ``outputs/baselines/*/`` holding folds.csv unless ``find_baselines=False``.
    Raises UserError when there is no completed run.
    """
    metrics = list(metrics)
    _check_args(metrics, alpha, power, n_boot)
    sweep = Path(sweep_dir)
    out = Path(out_dir)
    runs, problems = collect_runs(sweep)
    if baselines_dir is None and find_baselines:
        baselines_dir = find_baselines_dir(sweep)
    baselines = load_baselines(baselines_dir) if baselines_dir is not None else None
    out.mkdir(parents=True, exist_ok=True)

    # the long steps of a big sweep, one bar; BERTFREEZE_QUIET=1 switches it off
    progress = tqdm(total=4, desc="report: tables", unit="step", disable=quiet(), leave=False)
    written: dict[str, dict[str, Path]] = {}
    t1 = t1_disp = None
    if baselines is not None:
        t1 = tables.table1(baselines)
        t1_disp = tables.table1_display(t1)
        written["table1"] = tables.write_table(
            t1,
            t1_disp,
            out / "table1",
            caption="Sparse baselines: mean ± sd over CV folds (paper's Table 1 beside)",
            label="tab:baselines",
        )
    t2 = tables.table2(runs)
    t2_disp = tables.table2_display(t2)
    written["table2"] = tables.write_table(
        t2,
        t2_disp,
        out / "table2",
        caption=(
            "BERT by freeze mode: mean ± sd over seeds (paper's Table 2 beside: "
            f"{paper.BACKBONE}; ours: {', '.join(sorted(set(runs['backbone'].astype(str))))})"
        ),
        label="tab:bert",
    )

    progress.update()
    progress.set_description("report: figures")
    fig_metrics = [m for m in ("accuracy", "f1") if m in metrics] or metrics[:2]
    figures = bert_and_baseline_figures(runs, t1, t2, baselines, fig_metrics, out, seed)

    studies: dict[str, pd.DataFrame] = {}
    layers = layers_study(runs)
    if layers is not None:
        studies["layers"] = layers
        fams = set(layers["family"])
        figures["figure3"] = figs.layers_plot(
            runs[runs["family"].isin(fams)],
            metrics=fig_metrics,
            title="Figure 3: test score vs number of trainable encoder layers",
            stem=out / "figure3_layers",
            name="figure3",
            seed=seed,
        )
        atomic_write_csv(layers, out / "study_layers.csv")
    params = params_study(runs)
    if params is not None:
        studies["params"] = params
        figures["figure4"] = figs.params_plot(
            runs,
            metrics=fig_metrics,
            title="Figure 4: test score vs trainable parameters",
            stem=out / "figure4_params",
            name="figure4",
        )
        atomic_write_csv(params, out / "study_params.csv")
    lr_grid = lr_grid_study(runs)
    if lr_grid is not None:
        studies["lr_grid"] = lr_grid
        atomic_write_csv(lr_grid, out / "study_lr_grid.csv")

    progress.update()
    progress.set_description(f"report: statistics ({n_boot} bootstrap resamples)")
    stats = compare_all(
        runs, baselines, metrics=metrics, alpha=alpha, power=power, n_boot=n_boot, seed=seed
    )
    stats_json = out / "stats.json"
    write_json_atomic(stats_json, stats, strict=True)

    run_cols = ["group", "family", "backbone", "data_name", "freeze", "n_trainable_layers"]
    run_cols += ["seed", "fold", *[m for m in TEST_METRICS if m in runs], "run_dir"]
    order = {g: i for i, g in enumerate(group_order(runs))}
    ordered = runs.assign(_o=runs["group"].map(order)).sort_values(["_o", "seed"])
    atomic_write_csv(ordered[run_cols], out / "runs.csv")
    atomic_write_csv(render.problems_table(problems), out / "problems.csv")

    progress.update()
    progress.set_description("report: report.md")
    text = render.render_report(
        sweep_dir=sweep,
        out_dir=out,
        runs=runs,
        problems=problems,
        baselines=baselines,
        t1=t1,
        t1_display=t1_disp,
        t2=t2,
        t2_display=t2_disp,
        stats=stats,
        figures=figures,
        studies=studies,
        metrics=metrics,
        alpha=alpha,
        power=power,
        n_boot=n_boot,
        seed=seed,
    )
    report_md = out / "report.md"
    atomic_write_text(report_md, text)
    progress.update()
    progress.close()
    summary = render.console_summary(
        out_dir=out,
        sweep_dir=sweep,
        runs=runs,
        t2=t2,
        t1=t1,
        baselines=baselines,
        stats=stats,
        problems=problems,
        metrics=metrics,
        alpha=alpha,
    )
    return ReportResult(
        out_dir=out,
        report_md=report_md,
        stats_json=stats_json,
        runs=runs,
        problems=problems,
        baselines=baselines,
        stats=stats,
        table1=t1,
        table2=t2,
        tables=written,
        figures=figures,
        summary=summary,
    )
