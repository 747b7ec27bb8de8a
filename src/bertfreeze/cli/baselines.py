"""Sparse baselines CLI: ``python -m bertfreeze.cli.baselines [overrides]`` (``make baselines``).

Loads and validates the data first (a bad file exits 2 with one line and leaves no run dir),
then runs features x folds cross-validation and writes ``folds.csv``, ``summary.json`` and
``meta.json`` atomically into the Hydra run dir, whose path is the last line of stdout.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

import bertfreeze
import bertfreeze.paths
from bertfreeze import runs
from bertfreeze.baselines import (
    feature_sets,
    format_table,
    run_baselines,
    summarize,
    validate_cfg,
    write_outputs,
)
from bertfreeze.cli.common import hydra_output_dir, run_cli, user_error_exit
from bertfreeze.data import DataSpec, file_sha256, load_dataset

log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    return runs.versions(("scikit-learn", "numpy", "pandas", "joblib", "nltk"))


def run(cfg: DictConfig) -> Path:
    """The task body: validate, load, cross-validate, write; returns the run dir."""
    start = time.perf_counter()
    validate_cfg(cfg)
    spec = DataSpec.from_cfg(cfg.data)
    df = load_dataset(spec)  # raises UserError before anything of ours is written
    data_path = Path(spec.path).expanduser().resolve()
    log.info("data: %s (%d rows, %.1f%% positive)", data_path, len(df), 100 * df["label"].mean())

    folds = run_baselines(df, cfg)
    summary = summarize(folds)
    run_dir = hydra_output_dir() or Path.cwd()
    run_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "schema_version": 1,
        "kind": "baselines",
        "data": {
            "name": cfg.data.get("name"),
            "path": str(data_path),
            "sha256": file_sha256(data_path),
            "n_rows": len(df),
            "positive_rate": float(df["label"].mean()),
        },
        "features": feature_sets(cfg),
        "preprocess": cfg.preprocess,
        "n_folds": int(cfg.data.n_folds),
        "split_seed": int(cfg.data.split_seed),
        "options": {
            k: cfg.get(k)
            for k in (
                "paper_lowercase",
                "token_cache",
                "min_df",
                "n_features",
                "C",
                "solver",
                "dual",
                "max_iter",
                "random_state",
                "n_jobs",
            )
        },
        "wall_time_s": round(time.perf_counter() - start, 3),
        "versions": _versions(),
    }
    write_outputs(run_dir, folds, summary, meta)

    show_paper = bool(cfg.get("paper_table", True)) and cfg.data.get("name") == "tweets"
    preprocess = cfg.preprocess
    if preprocess == "paper" and cfg.get("paper_lowercase"):
        preprocess += " (lower-cased stems)"
    print(
        f"\n{len(df)} rows, {cfg.data.n_folds}-fold stratified CV (split_seed="
        f"{cfg.data.split_seed}), preprocess={preprocess}, {meta['wall_time_s']:.1f} s"
    )
    if show_paper:
        print("ours: mean ± sd over folds; paper: Table 1 (10-fold CV means)")
    print(format_table(summary, paper=show_paper))
    print(run_dir, flush=True)
    return run_dir


@hydra.main(version_base="1.3", config_path=str(bertfreeze.paths.CONF_DIR), config_name="baselines")
@user_error_exit
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    run_cli(main)  # a config Hydra cannot compose exits 2, like any user error
