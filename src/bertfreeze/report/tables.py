"""Tables 1 and 2 (and the study tables) as numeric DataFrames, Markdown and LaTeX.

CSV files keep numbers (``*_mean``, ``*_sd``); Markdown and LaTeX show ``mean ± sd``.
Markdown is formatted here (no ``tabulate`` dependency); LaTeX uses pandas' ``to_latex``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bertfreeze.atomic import atomic_write_csv, atomic_write_text
from bertfreeze.report import paper
from bertfreeze.report.collect import Baselines, group_order
from bertfreeze.report.fmt import num as _num
from bertfreeze.report.fmt import pm as _pm
from bertfreeze.report.fmt import signed as _signed
from bertfreeze.schema import METRICS

TABLE2_METRICS = ("accuracy", "f1", "precision", "recall")
METRIC_LABELS = {name: m.display for name, m in METRICS.items()}


def table1(baselines: Baselines) -> pd.DataFrame:
    """Baselines: mean and sd over folds of accuracy and F1, the paper's values beside."""
    g = baselines.folds.groupby("features", sort=False)
    out = pd.DataFrame(
        {
            "n_folds": g["fold"].nunique(),
            "accuracy_mean": g["accuracy"].mean(),
            "accuracy_sd": g["accuracy"].std(ddof=1),
            "f1_mean": g["f1"].mean(),
            "f1_sd": g["f1"].std(ddof=1),
        }
    )
    # the paper's numbers apply to its dataset only (unknown dataset: shown)
    ref = paper.TABLE1 if baselines.data_name in (None, *paper.PAPER_DATASETS) else {}
    out["paper_accuracy"] = [ref.get(f, {}).get("accuracy", math.nan) for f in out.index]
    out["paper_f1"] = [ref.get(f, {}).get("f1", math.nan) for f in out.index]
    order = [f for f in paper.TABLE1 if f in out.index] + [
        f for f in out.index if f not in paper.TABLE1
    ]
    return out.loc[order].reset_index()


def table1_display(t1: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "features": t1["features"],
            "n folds": t1["n_folds"].astype(int),
            "accuracy": [_pm(m, s) for m, s in zip(t1.accuracy_mean, t1.accuracy_sd, strict=True)],
            "F1": [_pm(m, s) for m, s in zip(t1.f1_mean, t1.f1_sd, strict=True)],
            paper.ACCURACY_COL: [_num(v) for v in t1["paper_accuracy"]],
            "paper F1": [_num(v) for v in t1["paper_f1"]],
        }
    )


def table2(runs: pd.DataFrame) -> pd.DataFrame:
    """BERT per group (family + freeze mode): mean and sd over runs of the test metrics and
    the number of runs; the paper's accuracy and F1 beside its own three modes (only for the
    dataset the paper used)."""
    rows = []
    for group in group_order(runs):
        sub = runs[runs["group"] == group]
        first = sub.iloc[0]
        row: dict[str, Any] = {
            "group": group,
            "family": first["family"],
            "data": first["data_name"],
            "backbone": first["backbone"],
            "freeze": first["freeze"],
            "trainable_layers": first["n_trainable_layers"],
            "trainable_params": pd.to_numeric(sub.get("trainable_params"), errors="coerce").median()
            if "trainable_params" in sub
            else math.nan,
            "n_runs": len(sub),
            "seeds": " ".join(str(s) for s in sorted(sub["seed"].unique())),
        }
        for m in TABLE2_METRICS:
            row[f"{m}_mean"] = sub[m].mean()
            row[f"{m}_sd"] = sub[m].std(ddof=1) if len(sub) > 1 else math.nan
        ref = (
            paper.TABLE2.get(first["freeze"])
            if first["data_name"] in paper.PAPER_DATASETS
            else None
        )
        ref = ref or {}
        row["paper_accuracy"] = ref.get("accuracy", math.nan)
        row["paper_f1_recomputed"] = ref.get("f1_recomputed", math.nan)
        row["paper_f1_printed"] = ref.get("f1_printed", math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def table2_display(t2: pd.DataFrame) -> pd.DataFrame:
    several = t2["family"].nunique() > 1
    out = pd.DataFrame({"group" if several else "freeze": t2["group" if several else "freeze"]})
    out["trainable layers"] = [_num(v if math.isnan(v) else int(v)) for v in t2.trainable_layers]
    if "trainable_params" in t2 and t2["trainable_params"].notna().any():
        out["trainable params"] = [
            "" if math.isnan(v) else f"{int(v):,}" for v in t2["trainable_params"]
        ]
    out["n runs"] = t2["n_runs"].astype(int)
    for m in TABLE2_METRICS:
        out[METRIC_LABELS[m]] = [
            _pm(a, b) for a, b in zip(t2[f"{m}_mean"], t2[f"{m}_sd"], strict=True)
        ]
    out[paper.ACCURACY_COL] = [_num(v) for v in t2["paper_accuracy"]]
    out[paper.F1_RECOMPUTED_COL] = [_num(v) for v in t2["paper_f1_recomputed"]]
    out[paper.F1_PRINTED_COL] = [_num(v) for v in t2["paper_f1_printed"]]
    return out


def stats_display(records: Sequence[dict[str, Any]], metric: str | None = None) -> pd.DataFrame:
    rows = []
    for r in records:
        if metric is not None and r["metric"] != metric:
            continue
        rows.append(
            {
                "a": r["a"],
                "b": r["b"],
                "metric": r["metric"],
                "test": r["test"],
                "n": f"{r['n_a']}/{r['n_b']}",
                "diff": _signed(r["mean_diff"]),
                "95% CI": f"[{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]",
                "t": _num(r["t"], 2),
                "df": _num(r["df"], 1),
                "p": _num(r["p"], 3),
                "p_holm": _num(r["p_holm"], 3),
                "g": _num(r["hedges_g"], 2),
                "MDE": _num(r["mde"], 3),
                "U (p)": f"{_num(r['mann_whitney_u'], 1)} ({_num(r['mann_whitney_p'], 3)})",
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- formats
def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""

    def cell(v: Any) -> str:
        text = _num(v) if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in df.columns]
    body = [[cell(v) for v in row] for row in df.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace("—", "--").replace("−", "-")


def to_latex(df: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs LaTeX table (cells escaped here, ``±`` as ``$\\pm$``)."""
    esc = df.copy()
    for col in esc.columns:
        if not pd.api.types.is_numeric_dtype(esc[col]):
            esc[col] = esc[col].map(lambda v: latex_escape(str(v)))
    esc.columns = [latex_escape(str(c)) for c in esc.columns]
    return esc.to_latex(
        index=False,
        escape=False,
        caption=latex_escape(caption) if caption else None,
        label=label,
        float_format="%.3f",
        column_format="l" + "r" * (len(esc.columns) - 1),
    )


def write_table(
    numeric: pd.DataFrame,
    display: pd.DataFrame,
    stem: Path,
    *,
    caption: str,
    label: str,
) -> dict[str, Path]:
    """``<stem>.csv`` (numbers), ``<stem>.md`` and ``<stem>.tex`` (formatted)."""
    paths = {fmt: stem.with_suffix(f".{fmt}") for fmt in ("csv", "md", "tex")}
    atomic_write_csv(numeric, paths["csv"])
    atomic_write_text(paths["md"], to_markdown(display))
    atomic_write_text(paths["tex"], to_latex(display, caption=caption, label=label))
    return paths
