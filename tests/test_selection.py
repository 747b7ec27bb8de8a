"""Selection reads validation metrics only, and the shipped defaults are the selections' argmax."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from bertfreeze.selection import best_value, main, selection_table

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run(root: Path, lr: float, seed: int, val: float, test: float | None) -> None:
    d = root / f"optim.head_lr={lr},seed={seed}"
    d.mkdir(parents=True)
    m = {
        "status": "completed",
        "seed": seed,
        "head_lr": lr,
        "config": {"optim.head_lr": lr},
        "val": {"accuracy": val},
    }
    if test is not None:
        m["test"] = {"accuracy": test}
    (d / "metrics.json").write_text(json.dumps(m))


def _sweep(root: Path, with_test: bool, flip_test: bool = False) -> Path:
    # Validation prefers 1e-2; test (when present) prefers 1e-1 by a wide margin.
    for seed in range(3):
        _run(
            root,
            1e-2,
            seed,
            0.80 + 0.01 * seed,
            (0.10 if flip_test else 0.5) if with_test else None,
        )
        _run(
            root,
            1e-1,
            seed,
            0.78 + 0.01 * seed,
            (0.99 if flip_test else 0.5) if with_test else None,
        )
    return root


def test_selection_ignores_test_metrics(tmp_path: Path) -> None:
    no_test = selection_table(_sweep(tmp_path / "a", with_test=False), "optim.head_lr")
    flipped = selection_table(
        _sweep(tmp_path / "b", with_test=True, flip_test=True), "optim.head_lr"
    )
    pd.testing.assert_frame_equal(no_test, flipped)
    assert list(no_test.columns) == ["head_lr", "seed", "val_accuracy"]
    assert best_value(flipped) == pytest.approx(1e-2)


def test_selection_csv_has_no_test_column(tmp_path: Path) -> None:
    out = tmp_path / "sel.csv"
    main(
        [str(_sweep(tmp_path / "s", with_test=True)), "--param", "optim.head_lr", "--out", str(out)]
    )
    cols = pd.read_csv(out).columns
    assert not any("test" in c for c in cols), cols


def test_shipped_head_lr_is_the_validation_argmax() -> None:
    table = pd.read_csv(REPO_ROOT / "results" / "selection" / "head_lr.csv")
    assert not any("test" in c for c in table.columns)
    assert set(table.columns) == {"head_lr", "seed", "val_accuracy"}
    shipped = float(OmegaConf.load(REPO_ROOT / "conf" / "freeze" / "all.yaml").head_lr)
    assert shipped == pytest.approx(best_value(table))


@pytest.mark.parametrize("mode", ["lora", "bitfit", "ia3"])
def test_shipped_peft_lr_is_the_validation_argmax_once_selected(mode: str) -> None:
    """Once results/selection/<mode>_lr.csv is committed, the mode's shipped lr is its argmax."""
    path = REPO_ROOT / "results" / "selection" / f"{mode}_lr.csv"
    if not path.is_file():
        pytest.skip(f"{path.name} not committed yet: the {mode} lr is still the paper's value")
    table = pd.read_csv(path)
    assert set(table.columns) == {"lr", "seed", "val_accuracy"}
    shipped = float(OmegaConf.load(REPO_ROOT / "conf" / "freeze" / f"{mode}.yaml").lr)
    assert shipped == pytest.approx(best_value(table))


@pytest.mark.parametrize("experiment", ["select_head_lr", "select_peft_lr"])
def test_selection_experiments_never_score_test(experiment: str) -> None:
    from hydra import compose, initialize_config_dir

    from bertfreeze import runs
    from bertfreeze.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}"])
        plain = compose(config_name="train")
    assert cfg.score_test is False and plain.score_test is True
    assert "score_test" in runs.NON_RECIPE_KEYS  # finished selection runs keep their hash


@pytest.mark.slow  # two tiny CLI runs
def test_score_test_false_run_never_touches_test(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """score_test=false: validation only (no test metrics, no predictions); the same config
    hash; never adopted by reuse_from; a score_test=true rerun trains again and scores test."""
    from tiny_bert import run_cli, tiny_overrides

    from bertfreeze import runs

    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache")}
    run = tmp_path / "run"
    args = [
        "train.py",
        "freeze=last2",
        "seed=0",
        f"hydra.run.dir={run}",
        *tiny_overrides(tiny_bert, tiny_data),
    ]
    res = run_cli([*args, "score_test=false"], REPO_ROOT, env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "test not scored" in res.stdout
    m = json.loads((run / "metrics.json").read_text())
    assert m["test"] == {} and m["test_scored"] is False and m["val"]["accuracy"] >= 0
    assert not (run / "predictions.csv").exists()
    assert runs.find_identical([tmp_path], m["config"]) is None

    res = run_cli(args, REPO_ROOT, env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "skip (already completed" not in res.stdout
    scored = json.loads((run / "metrics.json").read_text())
    assert scored["config_hash"] == m["config_hash"] and scored["test_scored"] is True
    assert scored["test"]["accuracy"] >= 0 and (run / "predictions.csv").is_file()
    assert runs.find_identical([tmp_path], scored["config"]) == run
