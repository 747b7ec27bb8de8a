"""The report: collect finished runs and baselines, compare them, write tables/figures/report.md.

Small API (also used by notebooks/report.ipynb)::

    from bertfreeze.report import collect_runs, load_baselines, build_report
    runs, problems = collect_runs("outputs")          # DataFrame + list[Problem]
    base = load_baselines("outputs/baselines/<ts>")    # Baselines(dir, folds, summary)
    result = build_report("outputs", "outputs/report") # ReportResult (paths, tables, stats)
"""

from __future__ import annotations

from bertfreeze.report.build import ReportResult, build_report, write_json_atomic
from bertfreeze.report.collect import (
    Baselines,
    Problem,
    collect_runs,
    find_baselines_dir,
    load_baselines,
)
from bertfreeze.report.compare import STATS_KEYS, compare_all
from bertfreeze.report.figures import FigureInfo
from bertfreeze.report.tables import table1, table2, to_latex, to_markdown

__all__ = [
    "Baselines",
    "FigureInfo",
    "Problem",
    "ReportResult",
    "STATS_KEYS",
    "build_report",
    "collect_runs",
    "compare_all",
    "find_baselines_dir",
    "load_baselines",
    "table1",
    "table2",
    "to_latex",
    "to_markdown",
    "write_json_atomic",
]
