"""Figures (seaborn on matplotlib's Agg backend), each saved as PNG and SVG.

PNGs are saved without ``bbox_inches="tight"`` so their pixel size is exactly
``figsize * dpi`` (:class:`FigureInfo` records both).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bertfreeze.report.tables import METRIC_LABELS  # noqa: E402

DPI = 120
HEIGHT = 4.5  # layers plot


@dataclass(frozen=True)
class FigureInfo:
    name: str
    png: Path
    svg: Path
    figsize: tuple[float, float]
    dpi: int
    title: str
    # What a reader sees, kept for tests and notebooks: "boxplot" or "points" (mean, 95% CI),
    # the legend entries, and each panel's y-range.
    style: str = "boxplot"
    legend: tuple[str, ...] = ()
    ylims: tuple[tuple[float, float], ...] = ()

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.figsize[0] * self.dpi), round(self.figsize[1] * self.dpi)


def wrap_label(text: str, width: int = 18) -> str:
    """Break a long group label at commas/slashes so tick labels stay narrow."""
    return textwrap.fill(str(text).replace(" / ", " /\u00a0"), width=width, break_long_words=False)


def boxplot_layout(n_boxes: int, n_panels: int, label_lines: int = 1) -> tuple[int, int]:
    """(rows, cols): panels side by side, stacked once there are more than 6 boxes."""
    return (n_panels, 1) if n_boxes > 6 else (1, n_panels)


def boxplot_size(n_boxes: int, n_panels: int, label_lines: int = 1) -> tuple[float, float]:
    """Figure size (inches) for ``n_panels`` panels of ``n_boxes`` boxes whose tick labels
    take ``label_lines`` lines (the ``n=…`` line included)."""
    rows, cols = boxplot_layout(n_boxes, n_panels, label_lines)
    per_box = 0.9 if label_lines <= 2 else 1.5
    panel_w = max(3.6, per_box * n_boxes + 1.4)
    panel_h = 3.6 + 0.2 * label_lines
    # multiples of 1/8 inch are exact in binary, so figsize * dpi is a whole number of pixels
    # whichever way a matplotlib version rounds (3.8 truncates 8.2 * 120 = 983.99… to 983)
    return (round(panel_w * cols * 8) / 8, round((panel_h * rows + 0.5) * 8) / 8)


def _save(fig: plt.Figure, stem: Path, name: str, title: str, style: str = "boxplot") -> FigureInfo:
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    w, h = fig.get_size_inches()
    legend: list[str] = []
    for ax in fig.axes:
        for text in ax.get_legend_handles_labels()[1]:
            if text not in legend:
                legend.append(text)
    ylims = tuple((float(a.get_ylim()[0]), float(a.get_ylim()[1])) for a in fig.axes)
    fig.savefig(png, dpi=DPI)
    fig.savefig(svg)
    plt.close(fig)
    return FigureInfo(name, png, svg, (float(w), float(h)), DPI, title, style, tuple(legend), ylims)


# Freeze modes by what they mean, the config name in brackets (readers don't know our names).
MODE_MEANINGS = {
    "all": "frozen (all)",
    "none": "full (none)",
    "last2": "top 2 layers (last2)",
    "first2": "first 2 layers (first2)",
    "custom": "chosen layers (custom)",
}
TOP_K_MODE = re.compile(r"^top(\d+)$")
# Below this many runs per box, a box and whiskers say less than the points themselves: draw
# the points with their mean and 95% t-interval instead.
SMALL_N = 10


def mode_label(freeze: str) -> str:
    """``all`` -> ``frozen (all)``, ``top3`` -> ``top 3 layers (top3)``; unknown names as-is."""
    if freeze in MODE_MEANINGS:
        return MODE_MEANINGS[freeze]
    match = TOP_K_MODE.match(str(freeze))
    if match:
        k = int(match.group(1))
        return "frozen (top0)" if k == 0 else f"top {k} layer{'s' if k > 1 else ''} ({freeze})"
    return str(freeze)


def group_label(group: str) -> str:
    """``minilm / all`` -> ``minilm / frozen (all)``: the mode after the last `` / ``."""
    head, sep, mode = str(group).rpartition(" / ")
    return f"{head}{sep}{mode_label(mode)}" if sep else mode_label(mode)


@dataclass(frozen=True)
class Band:
    """A horizontal reference band (e.g. the best baseline's mean and 95% CI) per metric."""

    label: str
    mean: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval; a single value gives a zero-width interval."""
    from scipy import stats as st

    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(arr.mean())
    if arr.size < 2:
        return (m, m, m)
    half = float(st.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return (m, m - half, m + half)


def best_band(folds: pd.DataFrame, x: str, metrics: Sequence[str], label_of: Any = None) -> Band:
    """The baseline with the highest mean of the first metric, as a mean ± 95% CI band."""
    first = metrics[0]
    best = folds.groupby(x)[first].mean().idxmax()
    sub = folds[folds[x] == best]
    stats = {m: mean_ci(sub[m].to_numpy()) for m in metrics}
    name = label_of(best) if label_of else best
    return Band(
        label=f"best baseline: {name} (mean, 95% CI)",
        mean={m: v[0] for m, v in stats.items()},
        low={m: v[1] for m, v in stats.items()},
        high={m: v[2] for m, v in stats.items()},
    )


def shared_limits(
    frames: Sequence[tuple[pd.DataFrame, Sequence[str]]],
    extra: dict[str, Sequence[float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """One y-range per metric over every frame and the ``extra`` values of that metric (paper
    numbers, CI ends), so figures meant to be compared side by side use the same axis."""
    values: dict[str, list[float]] = {}
    for frame, metrics in frames:
        for m in metrics:
            if m in frame:
                values.setdefault(m, []).extend(frame[m].dropna().to_numpy(dtype=float))
    for m, more in (extra or {}).items():
        if m in values:
            values[m].extend(more)
    limits: dict[str, tuple[float, float]] = {}
    for m, vals in values.items():
        arr = np.asarray([v for v in vals if np.isfinite(v)], dtype=float)
        if arr.size == 0:
            continue
        lo, hi = float(arr.min()), float(arr.max())
        pad = max(0.01, 0.06 * (hi - lo))
        limits[m] = (lo - pad, hi + pad)
    return limits


def boxplots(
    data: pd.DataFrame,
    *,
    x: str,
    order: Sequence[str],
    metrics: Sequence[str],
    title: str,
    xlabel: str,
    unit: str,
    stem: Path,
    name: str,
    seed: int = 0,
    labels: dict[str, str] | None = None,
    band: Band | None = None,
    paper_points: dict[tuple[str, str], float] | None = None,
    paper_label: str = "paper",
    ylim: dict[str, tuple[float, float]] | None = None,
    small_n: int = SMALL_N,
) -> FigureInfo:
    """One panel per metric, one column per level of ``x`` over its ``unit``s (seeds or folds),
    every value drawn as a point, ``n=…`` under each column.

    With fewer than ``small_n`` values in some column the columns are points with their mean and
    95% t-interval (a box over 3 points misleads); otherwise boxplots. ``band`` draws a reference
    band (the best baseline), ``paper_points`` the paper's value per (level, metric) as a red
    cross labelled ``paper_label``, ``ylim`` a y-range shared with another figure.
    """
    shown = [(labels or {}).get(o, o) for o in order]
    wrapped = [wrap_label(o) for o in shown]
    lines = max((w.count("\n") + 2 for w in wrapped), default=2)
    figsize = boxplot_size(len(order), len(metrics), lines)
    rows, cols = boxplot_layout(len(order), len(metrics), lines)
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False, layout="constrained")
    counts = data.groupby(x)[list(metrics)].count()
    small = bool(len(counts)) and int(counts.min().min()) < small_n
    palette = sns.color_palette("Set2", n_colors=max(len(order), 1))
    for ax, metric in zip(axes.ravel(), metrics, strict=True):
        sub = data[[x, metric]].dropna()
        if band is not None and metric in band.mean and np.isfinite(band.mean[metric]):
            ax.axhspan(band.low[metric], band.high[metric], color="0.6", alpha=0.25, lw=0)
            ax.axhline(band.mean[metric], color="0.4", lw=1, ls="--", label=band.label)
        axes_kw = {"data": sub, "x": x, "y": metric, "order": list(order), "ax": ax}
        coloured = {
            **axes_kw,
            "hue": x,
            "hue_order": list(order),
            "palette": palette,
            "legend": False,
        }
        if small:
            np.random.seed(seed)  # stripplot jitter
            sns.stripplot(**coloured, size=5, jitter=0.12, alpha=0.7)
            for i, level in enumerate(order):
                m, lo, hi = mean_ci(sub.loc[sub[x] == level, metric].to_numpy())
                if np.isfinite(m):
                    ax.errorbar(
                        i + 0.28,
                        m,
                        yerr=[[m - lo], [hi - m]],
                        fmt="o",
                        color="0.1",
                        ms=6,
                        capsize=4,
                        label="mean, 95% CI" if i == 0 else None,
                    )
        else:
            sns.boxplot(**coloured, showfliers=False, width=0.6)
            np.random.seed(seed)  # stripplot jitter
            sns.stripplot(**axes_kw, color="0.15", size=4, jitter=0.15, alpha=0.8)
        if paper_points:
            first = True
            for i, level in enumerate(order):
                value = paper_points.get((level, metric))
                if value is not None and np.isfinite(value):
                    ax.plot(
                        i - 0.28,
                        value,
                        marker="X",
                        ms=8,
                        color="#c0392b",
                        ls="none",
                        label=paper_label if first else None,
                    )
                    first = False
        tick_labels = [
            f"{w}\nn={int(counts.loc[o, metric]) if o in counts.index else 0}"
            for o, w in zip(order, wrapped, strict=True)
        ]
        ax.set_xticks(range(len(order)), tick_labels, fontsize=9 if lines > 2 else None)
        label = METRIC_LABELS.get(metric, metric)
        style = "points, mean and 95% CI" if small else "boxplot"
        ax.set_title(f"{label} per {xlabel} ({unit}; {style})", fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"test {label}")
        if ylim and metric in ylim:
            ax.set_ylim(*ylim[metric])
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    fig.suptitle(title)
    return _save(fig, stem, name, title, "points" if small else "boxplot")


def layers_plot(
    data: pd.DataFrame,
    *,
    metrics: Sequence[str],
    title: str,
    stem: Path,
    name: str,
    seed: int = 0,
) -> FigureInfo:
    """Mean test metric vs number of trainable encoder layers, one line per family, 95%
    bootstrap CI bars (seaborn, seeded); each point labelled with its freeze mode."""
    sns.set_theme(style="whitegrid", context="notebook")
    figsize = (round(5.0 * len(metrics), 2), HEIGHT)
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize, squeeze=False, layout="constrained")
    single = data["family"].nunique() == 1
    for ax, metric in zip(axes[0], metrics, strict=True):
        sub = data.dropna(subset=[metric, "n_trainable_layers"])
        sns.lineplot(
            data=sub,
            x="n_trainable_layers",
            y=metric,
            hue="family",
            marker="o",
            err_style="bars",
            errorbar=("ci", 95),
            seed=seed,
            legend=not single,
            ax=ax,
        )
        if not single:
            ax.legend(title="family", fontsize=7, title_fontsize=8)
        means = sub.groupby(["family", "freeze"]).agg(
            x=("n_trainable_layers", "median"), y=(metric, "mean")
        )
        for (_, freeze), row in means.iterrows():
            ax.annotate(
                mode_label(freeze),
                (row["x"], row["y"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        label = METRIC_LABELS.get(metric, metric)
        ax.set_title(f"{label} vs trainable layers (mean, 95% bootstrap CI)", fontsize=11)
        ax.set_xlabel("number of trainable encoder layers")
        ax.set_ylabel(f"test {label}")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"{title}\n{data['family'].iloc[0]}" if single else title)
    return _save(fig, stem, name, title)


def params_frontier(points: pd.DataFrame) -> pd.Series:
    """True for modes no other mode beats: none with at most as many trainable parameters has
    a higher mean (per family). ``points``: family, trainable_params, mean."""
    on = pd.Series(False, index=points.index)
    for _, sub in points.groupby("family"):
        best = -np.inf
        for idx, row in sub.sort_values(
            ["trainable_params", "mean"], ascending=[True, False]
        ).iterrows():
            if row["mean"] > best:
                on[idx] = True
                best = row["mean"]
    return on


def params_points(data: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (family, freeze): median trainable parameters, mean and 95% t-CI of ``metric``,
    and whether the mode is on the accuracy-vs-parameters frontier."""
    from scipy import stats as st

    rows = []
    sub = data.dropna(subset=[metric, "trainable_params"])
    for (family, freeze), g in sub.groupby(["family", "freeze"]):
        vals = g[metric].astype(float)
        n = len(vals)
        half = float(st.t.ppf(0.975, n - 1) * vals.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        rows.append(
            {
                "family": family,
                "freeze": freeze,
                "method": g["freeze_method"].iloc[0] if "freeze_method" in g else "layers",
                "trainable_params": int(pd.to_numeric(g["trainable_params"]).median()),
                "n": n,
                "mean": float(vals.mean()),
                "ci_low": float(vals.mean()) - half,
                "ci_high": float(vals.mean()) + half,
            }
        )
    points = pd.DataFrame(rows)
    if points.empty:
        return points
    points["frontier"] = params_frontier(points)
    return points.sort_values(["family", "trainable_params", "freeze"]).reset_index(drop=True)


def params_plot(
    data: pd.DataFrame,
    *,
    metrics: Sequence[str],
    title: str,
    stem: Path,
    name: str,
) -> FigureInfo:
    """Test metric vs trainable parameters (log x): mean and 95% t-CI per freeze mode (every
    mode and depth in the sweep, parameter-efficient ones included), seeds as faint dots, the
    frontier (no mode with as few parameters scores higher) joined by a dashed line."""
    sns.set_theme(style="whitegrid", context="notebook")
    figsize = (round(5.6 * len(metrics), 2), HEIGHT + 0.5)
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize, squeeze=False, layout="constrained")
    families = sorted(data["family"].unique())
    palette = dict(zip(families, sns.color_palette("Set2", n_colors=len(families)), strict=True))
    for ax, metric in zip(axes[0], metrics, strict=True):
        points = params_points(data, metric)
        seeds = data.dropna(subset=[metric, "trainable_params"])
        for family in families:
            color = palette[family]
            s = seeds[seeds["family"] == family]
            ax.scatter(s["trainable_params"], s[metric], s=8, color=color, alpha=0.3, lw=0)
            p = points[points["family"] == family]
            if p.empty:
                continue
            ax.errorbar(
                p["trainable_params"],
                p["mean"],
                yerr=[p["mean"] - p["ci_low"], p["ci_high"] - p["mean"]],
                fmt="o",
                color=color,
                capsize=3,
                label=family if len(families) > 1 else None,
            )
            front = p[p["frontier"]]
            ax.plot(front["trainable_params"], front["mean"], "--", color=color, lw=1.2)
            ax.scatter(
                front["trainable_params"],
                front["mean"],
                s=110,
                facecolors="none",
                edgecolors="black",
                lw=1.2,
                zorder=3,
                label="frontier" if family == families[0] else None,
            )
            for row in p.itertuples():
                ax.annotate(
                    row.freeze,
                    (row.trainable_params, row.mean),
                    textcoords="offset points",
                    xytext=(5, 5),
                    fontsize=8,
                )
        ax.set_xscale("log")
        label = METRIC_LABELS.get(metric, metric)
        ax.set_title(f"{label} vs trainable parameters (mean, 95% t-CI)", fontsize=11)
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel(f"test {label}")
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}\n{families[0]}" if len(families) == 1 else title)
    return _save(fig, stem, name, title)
