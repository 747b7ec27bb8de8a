"""report.md and the console summary, written from the numbers (no canned conclusions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bertfreeze.paths import REPO_ROOT
from bertfreeze.report import paper
from bertfreeze.report.collect import Baselines, Problem, key_label, mode_specific_keys
from bertfreeze.report.figures import FigureInfo
from bertfreeze.report.fmt import fixed as _f
from bertfreeze.report.fmt import p_equals as _peq
from bertfreeze.report.fmt import p_value as _p
from bertfreeze.report.fmt import signed as _s
from bertfreeze.report.fmt import value as _fmt
from bertfreeze.report.tables import METRIC_LABELS, stats_display, to_markdown


def describe(rec: Mapping[str, Any], alpha: float) -> str:
    """One sentence on one comparison, its verdict computed from its numbers."""
    metric = METRIC_LABELS.get(rec["metric"], rec["metric"])
    test = "corrected resampled t (fold-paired)" if rec["test"] == "nadeau_bengio" else "Welch"
    head = f"**{rec['a']} vs {rec['b']}**: "
    if math.isnan(rec["mean_diff"]):
        return head + f"not testable ({metric}: no values on one side)."
    ci = f"{100 * (1 - alpha):g}% CI {_s(rec['ci_low'])} to {_s(rec['ci_high'])}"
    text = head + f"{_s(rec['mean_diff'])} {metric} ({ci})"
    if math.isnan(rec["p"]):
        reason = str(rec.get("note") or "").removeprefix("not testable: ")
        return (
            text
            + f"; not testable ({reason or 'fewer than two values on a side, or no variance'})."
        )
    text += f", {test} {_peq(rec['p'])}, p_holm={_p(rec['p_holm'])}"
    n = f"n={rec['n_a']}/{rec['n_b']}"
    mde = rec["mde"]
    if rec["p_holm"] < alpha:
        text += (
            f": significant at α={alpha:g} after Holm correction "
            f"(Hedges' g={_f(rec['hedges_g'], 2)})."
        )
    elif not math.isnan(mde) and abs(rec["mean_diff"]) < mde:
        text += (
            f": not significant; the minimum detectable difference (MDE) at {n} is {_f(mde)} "
            f"and |diff| = {abs(rec['mean_diff']):.3f} is below it, so this study cannot detect "
            "a difference this small (low power): it shows neither a difference nor its absence."
        )
    elif not math.isnan(mde):
        text += (
            f": not significant after Holm correction although |diff| ≥ MDE ({_f(mde)} at {n}); "
            "the evidence is inconclusive."
        )
    else:
        text += ": not significant."
    if rec["kind"] == "vs_baseline" and rec["test"] == "welch":
        text += " (BERT seeds vs baseline CV folds: different resampling units, indicative only.)"
    return text


def conclusion(
    stats: Sequence[Mapping[str, Any]],
    t2: pd.DataFrame,
    t1: pd.DataFrame | None,
    metrics: Sequence[str],
    alpha: float,
) -> list[str]:
    lines: list[str] = []
    primary = metrics[0]
    label = METRIC_LABELS.get(primary, primary)
    if f"{primary}_mean" in t2:
        best = t2.loc[t2[f"{primary}_mean"].idxmax()]
        lines.append(
            f"Best BERT group by mean {label}: **{best['group']}** at "
            f"{_f(best[f'{primary}_mean'])} ± {_f(best[f'{primary}_sd'])} "
            f"({int(best['n_runs'])} runs)."
        )
    if t1 is not None and f"{primary}_mean" in t1:
        b = t1.loc[t1[f"{primary}_mean"].idxmax()]
        lines.append(
            f"Best baseline by mean {label}: **{b['features']}** at "
            f"{_f(b[f'{primary}_mean'])} ± {_f(b[f'{primary}_sd'])} ({int(b['n_folds'])} folds)."
        )
    for rec in stats:
        if rec["metric"] == primary:
            lines.append(describe(rec, alpha))
    for metric in metrics[1:]:
        recs = [r for r in stats if r["metric"] == metric]
        sig = [f"{r['a']} vs {r['b']} ({_s(r['mean_diff'])})" for r in recs if r["significant"]]
        low = sum(1 for r in recs if not r["significant"] and r["underpowered"])
        name = METRIC_LABELS.get(metric, metric)
        text = f"{name}: {len(sig)} of {len(recs)} comparisons significant after Holm"
        text += f" ({'; '.join(sig)})" if sig else ""
        text += f"; {low} non-significant with |diff| below the MDE (low power)." if low else "."
        lines.append(text)
    return lines


def _values(series: pd.Series) -> str:
    vals = sorted({_fmt(v) for v in series}, key=_natural)
    if len(vals) > 12:
        return f"{', '.join(vals[:10])}, … ({len(vals)} values)"
    return ", ".join(vals)


def _natural(s: str) -> tuple[int, float, str]:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


SETUP_ROWS: list[tuple[str, str]] = [
    ("dataset", "data_name"),
    ("split", "data_split"),
    ("n train / val / test", "_sizes"),
    ("backbone", "backbone"),
    ("pretrained", "pretrained"),
    ("freeze modes (trainable layers)", "_modes"),
    ("pooling", "pooling"),
    ("head", "head"),
    ("optimizer", "optimizer"),
    ("lr (encoder)", "lr"),
    ("head_lr", "head_lr"),
    ("weight decay", "weight_decay"),
    ("warmup ratio", "warmup_ratio"),
    ("layer-wise lr decay", "layerwise_lr_decay"),
    ("epochs", "epochs"),
    ("batch size", "batch_size"),
    ("max length", "max_length"),
    ("precision", "numeric_precision"),
    ("experiment", "experiment"),
    ("seeds", "seed"),
    ("folds", "fold"),
    ("wall time per run (s, mean)", "_wall"),
    ("versions", "_versions"),
    ("git commit", "git_commit"),
]


def shown_path(path: Any) -> str:
    """A path as the report prints it: relative to the repository when inside it, from the
    package on for an installed one (the embedded backbone), else as given — so a report
    committed under results/ names no one machine's folders."""
    if path is None or (isinstance(path, float) and math.isnan(path)):
        return "—"
    p = Path(str(path))
    if not p.is_absolute():
        return str(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT.resolve()))
    except ValueError:
        pass
    if "site-packages" in p.parts:
        return "/".join(p.parts[p.parts.index("site-packages") + 1 :])
    return str(path)


def setup_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Settings per family, read from the runs' metrics.json."""
    cols: dict[str, list[str]] = {}
    for fam, sub in runs.groupby("family", sort=True):
        values = []
        for _, key in SETUP_ROWS:
            if key == "_sizes":
                sizes = sub[["n_train", "n_val", "n_test"]].map(_fmt).agg(" / ".join, axis=1)
                values.append(_values(sizes))
            elif key == "_modes":
                modes = sub.drop_duplicates("freeze").sort_values("n_trainable_layers")
                values.append(
                    ", ".join(
                        f"{r.freeze} ({_fmt(r.n_trainable_layers if math.isnan(r.n_trainable_layers) else int(r.n_trainable_layers))})"
                        for r in modes.itertuples()
                    )
                )
            elif key == "pretrained":
                values.append(_values(sub["pretrained"].map(shown_path)))
            elif key == "_wall":
                values.append(_f(sub["wall_time_s"].astype(float).mean(), 1))
            elif key == "_versions":
                vs = sub["versions"].map(
                    lambda v: (
                        ", ".join(
                            f"{k} {v[k]}" for k in ("torch", "transformers", "lightning") if k in v
                        )
                        if isinstance(v, Mapping)
                        else "—"
                    )
                )
                values.append(_values(vs))
            elif key == "fold":
                values.append(
                    "none (holdout split)" if sub["fold"].isna().all() else _values(sub["fold"])
                )
            else:
                values.append(_values(sub[key]))
        cols[str(fam)] = values
    df = pd.DataFrame(cols, index=[name for name, _ in SETUP_ROWS])
    df.index.name = "setting"
    if len(df.columns) == 1:
        df.columns = ["value"]
    return df.reset_index()


def problems_table(problems: Sequence[Problem]) -> pd.DataFrame:
    order = {
        "missing": 0,
        "failed": 1,
        "unreadable": 2,
        "interrupted": 3,
        "running": 3,
        "duplicate": 4,
    }
    rows = sorted(problems, key=lambda p: (order.get(p.kind, 9), p.where()))
    return pd.DataFrame(
        [{"kind": p.kind, "run": p.where(), "detail": p.detail} for p in rows],
        columns=["kind", "run", "detail"],
    )


def problem_counts(problems: Sequence[Problem]) -> str:
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def baseline_warnings(runs: pd.DataFrame, baselines: Baselines) -> list[str]:
    """Reasons to doubt that the baselines and the BERT runs saw the same data."""
    out = []
    name = baselines.data_name
    if name is not None and name not in set(runs["data_name"].map(str)):
        out.append(
            f"the baselines are for dataset `{name}`, which no BERT run uses: no BERT vs "
            "baseline tests."
        )
    sha = baselines.data_sha256
    run_shas = {str(v) for v in runs.get("data_sha256", pd.Series(dtype=object)).dropna()}
    if sha and run_shas and sha not in run_shas:
        out.append(
            f"the baselines' data file (sha256 {sha[:12]}…) differs from the BERT runs' "
            f"({', '.join(sorted(v[:12] + '…' for v in run_shas))}); compare with care."
        )
    return out


def short_labels(runs: pd.DataFrame, stats: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stats records for display: with a single family the group labels shrink to the freeze
    mode ("last2 vs all"); stats.json keeps the full labels."""
    if runs["family"].nunique() > 1:
        return [dict(r) for r in stats]
    names = dict(zip(runs["group"], runs["freeze"], strict=True))
    return [dict(r, a=names.get(r["a"], r["a"]), b=names.get(r["b"], r["b"])) for r in stats]


TEMPLATES = Path(__file__).resolve().parent / "templates"


def report_context(
    *,
    sweep_dir: Path,
    out_dir: Path,
    runs: pd.DataFrame,
    problems: Sequence[Problem],
    baselines: Baselines | None,
    t1: pd.DataFrame | None,
    t1_display: pd.DataFrame | None,
    t2: pd.DataFrame,
    t2_display: pd.DataFrame,
    stats: Sequence[Mapping[str, Any]],
    figures: Mapping[str, FigureInfo],
    studies: Mapping[str, Any],
    metrics: Sequence[str],
    alpha: float,
    power: float,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Everything report.md shows, formatted: the template only lays it out."""
    stats = short_labels(runs, stats)
    if runs["family"].nunique() == 1:
        t2 = t2.assign(group=t2["freeze"])
    keys = runs.attrs.get("varied_keys", [])
    per_mode = mode_specific_keys(runs)
    per_mode_lines = []
    for col, values in per_mode.items():
        by_value: dict[str, list[str]] = {}
        for grp, value in values.items():
            by_value.setdefault(value, []).append(grp)
        detail = "; ".join(f"{v} for {', '.join(g)}" for v, g in by_value.items())
        per_mode_lines.append(
            f"`{key_label(col)}` differs between modes or backbones but is fixed within "
            f"each (part of that mode's recipe): {detail}."
        )
    t1_ctx = None
    if t1_display is not None and baselines is not None:
        about = [f"{k}: {baselines.meta[k]}" for k in ("preprocess",) if k in baselines.meta]
        if baselines.data_name:
            about.insert(0, f"data: {baselines.data_name}")
        t1_ctx = {
            "n_folds": int(t1["n_folds"].max()) if t1 is not None else 0,
            "dir": shown_path(baselines.dir),
            "about": f"; {', '.join(about)}" if about else "",
            "warnings": baseline_warnings(runs, baselines),
            "table": to_markdown(t1_display),
            "figure": _fig_ref(figures, "figure1"),
        }
    check = paper_check(stats)
    metric_tables = []
    for metric in metrics:
        table = stats_display(stats, metric)
        if not table.empty:
            metric_tables.append(
                {
                    "label": METRIC_LABELS.get(metric, metric),
                    "table": to_markdown(table.drop(columns="metric")),
                }
            )
    studies_ctx = None
    if studies:
        studies_ctx = {
            "layers": to_markdown(studies["layers"]) if "layers" in studies else None,
            "figure3": _fig_ref(figures, "figure3") if "figure3" in figures else None,
            "params": to_markdown(studies["params"]) if "params" in studies else None,
            "figure4": _fig_ref(figures, "figure4") if "figure4" in figures else None,
            "lr_grid": to_markdown(studies["lr_grid"]) if "lr_grid" in studies else None,
        }
    per_group = runs.groupby("group")["seed"].count()
    return {
        "paper_ref": paper.PAPER,
        "sweep_dir": shown_path(sweep_dir),
        "n_runs": len(runs),
        "n_groups": runs["group"].nunique(),
        "baselines_txt": f"`{shown_path(baselines.dir)}`"
        if baselines is not None
        else "none found",
        "setup_table": to_markdown(setup_table(runs)),
        "grouping": bool(runs["family"].nunique() > 1 or keys or per_mode),
        "varied": ", ".join(f"`{key_label(k)}`" for k in keys),
        "per_mode": per_mode_lines,
        "several_datasets": bool(runs.attrs.get("several_datasets")),
        "per_group": ", ".join(f"{g}: {n}" for g, n in per_group.items()),
        "problems": bool(problems),
        "problem_counts": problem_counts(problems) if problems else "",
        "problems_table": to_markdown(problems_table(problems)) if problems else "",
        "t1": t1_ctx,
        "t2_table": to_markdown(t2_display),
        "f1_note": paper.F1_NOTE,
        "figures": [
            {"title": i.title, "png": _rel(i.png, out_dir), "svg": _rel(i.svg, out_dir)}
            for i in figures.values()
        ],
        "alpha": f"{alpha:g}",
        "ci_level": f"{100 * (1 - alpha):g}",
        "power": f"{power:g}",
        "n_boot": n_boot,
        "seed": seed,
        "vs_baseline_welch": any(
            r["kind"] == "vs_baseline" and r["test"] == "welch" for r in stats
        ),
        "nadeau_bengio": any(r["test"] == "nadeau_bengio" for r in stats),
        "paper_check": None if check.empty else to_markdown(check),
        "metric_tables": metric_tables,
        "studies": studies_ctx,
        "conclusion": conclusion(stats, t2, t1, metrics, alpha),
        "tail": [],
    }


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<name>`` (one template line = one output line)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Markdown, not HTML
    )
    return env.get_template(name).render(**context).rstrip() + "\n"


def render_report(**kwargs: Any) -> str:
    """report.md: :func:`report_context` rendered through ``templates/report.md.j2``."""
    return render_template("report.md.j2", report_context(**kwargs))


def paper_check(stats: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Ours vs the paper's Welch tests (all vs none, all vs last2; accuracy, paper's dataset)."""
    rows = []
    for (fa, fb), ref in paper.WELCH.items():
        for r in stats:
            if (
                r["metric"] == "accuracy"
                and r["test"] == "welch"
                and r["kind"] == "freeze_pair"
                and (r["freeze_a"], r["freeze_b"]) == (fb, fa)
                and str(r["data"]) in paper.PAPER_DATASETS
            ):
                rows.append(
                    {
                        "family": r["family"],
                        "test": f"{fa} vs {fb}",
                        "n": f"{r['n_b']}/{r['n_a']}",
                        "t (ours)": _f(-r["t"], 2),
                        "df (ours)": _f(r["df"], 1),
                        "p (ours)": _f(r["p"], 2),
                        "t (paper)": f"{ref['t']:.2f}",
                        "df (paper)": f"{ref['df']:.1f}",
                        "p (paper)": f"{ref['p']:.2f}",
                    }
                )
    return pd.DataFrame(rows)


def _fig_ref(figures: Mapping[str, FigureInfo], key: str) -> str:
    info = figures.get(key)
    if info is None:
        return ""
    return f"figure: `{info.png.name}` / `{info.svg.name}`."


def console_summary(
    *,
    out_dir: Path,
    sweep_dir: Path,
    runs: pd.DataFrame,
    t2: pd.DataFrame,
    t1: pd.DataFrame | None,
    baselines: Baselines | None,
    stats: Sequence[Mapping[str, Any]],
    problems: Sequence[Problem],
    metrics: Sequence[str],
    alpha: float,
) -> str:
    stats = short_labels(runs, stats)
    if runs["family"].nunique() == 1:
        t2 = t2.assign(group=t2["freeze"])
    rows = []
    for r in t2.itertuples():
        row = {"group": r.group, "n": r.n_runs}
        for m in metrics:
            mean, sd = getattr(r, f"{m}_mean", math.nan), getattr(r, f"{m}_sd", math.nan)
            row[METRIC_LABELS.get(m, m)] = f"{_f(mean)} ± {_f(sd)}"
        rows.append(row)
    if t1 is not None:
        for r in t1.itertuples():
            row = {"group": f"baseline {r.features}", "n": r.n_folds}
            for m in metrics:
                mean = getattr(r, f"{m}_mean", math.nan)
                sd = getattr(r, f"{m}_sd", math.nan)
                row[METRIC_LABELS.get(m, m)] = f"{_f(mean)} ± {_f(sd)}"
            rows.append(row)
    lines = [
        f"report: {len(runs)} runs in {runs['group'].nunique()} groups from {sweep_dir}"
        + (f"; baselines {baselines.dir}" if baselines is not None else "; no baselines"),
        pd.DataFrame(rows).to_string(index=False),
    ]
    primary = metrics[0]
    for rec in stats:
        if rec["metric"] != primary:
            continue
        if rec["significant"]:
            verdict = "significant"
        elif rec["underpowered"]:
            verdict = f"n.s., |diff| < MDE {_f(rec['mde'])}"
        else:
            verdict = "n.s."
        lines.append(
            f"  {rec['a']} vs {rec['b']} [{rec['test']}]: {_s(rec['mean_diff'])} {primary}, "
            f"p_holm={_p(rec['p_holm'])} ({verdict})"
        )
    if problems:
        lines.append(f"not included: {problem_counts(problems)} (listed in report.md)")
        for p in problems[:10]:
            lines.append(f"  {p.kind}: {p.where()} — {p.detail}")
        if len(problems) > 10:
            lines.append(f"  … and {len(problems) - 10} more")
    lines.append(
        f"wrote {out_dir}/report.md, stats.json, table1/table2 (.csv .md .tex), figures (.png .svg)"
    )
    return "\n".join(lines)
