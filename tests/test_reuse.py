"""Reuse of finished runs whose recipe is identical (#11.4): the depth study's ``top2`` runs are
the main study's ``last2`` runs under another label, so they are recorded, not trained again."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from tiny_bert import run_cli, tiny_overrides

from bertfreeze import runs
from bertfreeze.paths import CONF_DIR, REPO_ROOT
from bertfreeze.studies import STUDIES


def flat_recipe(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return runs.flatten(runs.recipe(cfg, "sha"))


def test_training_key_sets_labels_aside_and_nothing_else() -> None:
    last2 = flat_recipe(["freeze=last2", "seed=0"])
    top2 = flat_recipe(["experiment=freeze_depth", "freeze.k=2", "seed=0"])
    assert runs.config_hash(last2) != runs.config_hash(top2)  # different runs by name ...
    assert runs.training_key(last2) == runs.training_key(top2)  # ... that train the same
    for other in (
        ["experiment=freeze_depth", "freeze.k=1", "seed=0"],  # another depth
        ["experiment=freeze_depth", "freeze.k=2", "seed=1"],  # another seed
        ["experiment=freeze_depth", "freeze.k=2", "seed=0", "optim.lr=1e-4"],
        ["freeze=all", "seed=0"],  # k=0's neighbour: its own head lr
    ):
        assert runs.training_key(flat_recipe(other)) != runs.training_key(last2), other


def test_depth_study_sweeps_with_the_main_study_as_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make results ARGS=study=freeze-depth` hands train.py the main study's sweep, in a form
    Hydra parses; a study without reuse gets no such override."""
    from bertfreeze import studies

    commands: list[list[str]] = []
    monkeypatch.setattr(studies, "_step", lambda title, cmd: commands.append(cmd))
    monkeypatch.setattr(studies, "export", lambda study, wall=None: None)
    monkeypatch.setattr(studies, "sync_records", lambda study: study.records_dir)  # no results/
    studies.run_study(STUDIES["freeze-depth"], [])
    (sweep,) = [cmd for cmd in commands if "train.py" in cmd]
    (override,) = [a for a in sweep if a.startswith("reuse_from=")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[override])
    assert list(cfg.reuse_from) == [str(STUDIES["disaster-tweets"].sweep_dir)]
    commands.clear()
    studies.run_study(STUDIES["sms-spam"], [])
    assert not [a for cmd in commands for a in cmd if a.startswith("reuse_from=")]


@pytest.mark.slow  # three tiny CLI runs, ~60 s on 2 busy cores: keeps `make test` under 10 min
def test_reused_run_is_the_identical_run(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    """k=2 in a depth sweep stands in from a finished last2 run (copied, not trained) and is what
    training it would give; k=1 trains."""
    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache")}
    tiny = tiny_overrides(tiny_bert, tiny_data)

    def train(*args: str) -> str:
        res = run_cli(["train.py", *args, *tiny], REPO_ROOT, env)
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    main, depth, fresh = tmp_path / "main", tmp_path / "depth", tmp_path / "fresh"
    train("-m", "freeze=last2", "seed=0", f"hydra.sweep.dir={main}")
    (source,) = [p.parent for p in main.glob("*/metrics.json")]

    depth_sweep = ("-m", "experiment=freeze_depth", "freeze.k=1,2", "seed=0")
    out = train(*depth_sweep, f"reuse_from=['{main}']", f"hydra.sweep.dir={depth}")
    assert out.count("reuse (identical recipe") == 1, out[-3000:]
    by_k = {
        json.loads(p.read_text())["config"]["freeze.k"]: p.parent
        for p in depth.glob("*/metrics.json")
    }
    assert sorted(by_k) == [1, 2]
    reused = json.loads((by_k[2] / "metrics.json").read_text())
    trained = json.loads((by_k[1] / "metrics.json").read_text())
    assert "reused_from" not in trained and (by_k[1] / "csv").is_dir()
    assert reused["reused_from"] and not (by_k[2] / "csv").exists()  # not trained here
    assert reused["freeze"] == "top2" and reused["experiment"] == "freeze_depth"
    assert reused["config_hash"] != json.loads((source / "metrics.json").read_text())["config_hash"]
    assert runs.read_status(by_k[2])["status"] == "completed"

    # the claim behind reuse: training top2 for real gives exactly the finished last2 run
    train("freeze=top_k", "freeze.k=2", "seed=0", f"hydra.run.dir={fresh}")
    for run in (source, fresh):
        pd.testing.assert_frame_equal(
            pd.read_csv(by_k[2] / "predictions.csv"), pd.read_csv(run / "predictions.csv")
        )
    assert json.loads((fresh / "metrics.json").read_text())["test"] == reused["test"]

    # rerunning the depth sweep skips both (the reused run counts as completed)
    out = train(*depth_sweep, f"reuse_from=['{main}']", f"hydra.sweep.dir={depth}")
    assert out.count("skip (already completed") == 2


@pytest.mark.parametrize("pool", ["missing", "empty"])
def test_no_pool_run_means_training(tmp_path: Path, pool: str) -> None:
    if pool == "empty":
        (tmp_path / pool).mkdir()
    assert runs.find_identical([tmp_path / pool], {"seed": 0}) is None


def test_depth_k0_is_a_linear_probe_with_the_probes_head_lr() -> None:
    """k = 0 trains only the head, as freeze=all does, so it takes all's validation-chosen head
    lr; k >= 1 keep the fine-tuning modes' head lr, so k=2 still trains exactly what last2 does."""
    probe = flat_recipe(["freeze=all", "seed=0"])["optim.head_lr"]
    shared = flat_recipe(["freeze=last2", "seed=0"])["optim.head_lr"]
    assert probe != shared
    for k in range(4):
        top_k = flat_recipe(["experiment=freeze_depth", f"freeze.k={k}", "seed=0"])
        assert top_k["optim.head_lr"] == (probe if k == 0 else shared), k
    explicit = ["experiment=freeze_depth", "freeze.k=0", "optim.head_lr=0.5"]
    assert flat_recipe(explicit)["optim.head_lr"] == 0.5  # the command line still wins
