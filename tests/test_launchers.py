"""Launchers: joblib (parallel local jobs) and submitit (SLURM; its local executor runs here).

A 2-job tiny sweep goes through each launcher with one shared feature cache; every job writes
its metrics.json and the results equal the basic launcher's, bit for bit (one torch thread per
job everywhere, so the float reductions happen in the same order).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from tiny_bert import run_cli, tiny_overrides

from bertfreeze.paths import CONF_DIR, REPO_ROOT

SWEEP = ["freeze=all,none", "seed=0"]
# One intra-op thread per job: identical results across launchers (joblib would pick
# cpu_count // n_jobs threads itself, and a different thread count changes the float sums).
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def compose_hydra(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize(
    ("choice", "base", "target", "expected"),
    [
        (
            "parallel",
            "joblib",
            "JoblibLauncher",
            {"n_jobs": 2, "batch_size": "1", "prefer": "processes"},
        ),
        (
            "slurm",
            "submitit_slurm",
            "SlurmLauncher",
            {
                "gpus_per_node": 1,
                "cpus_per_task": 8,
                "mem_gb": 32,
                "timeout_min": 120,
                "array_parallelism": 30,
                "partition": None,
                "max_num_timeout": 0,
            },
        ),
        (
            "slurm_local",
            "submitit_local",
            "LocalLauncher",
            {"gpus_per_node": 0, "timeout_min": 60, "tasks_per_node": 1},
        ),
    ],
)
def test_launcher_configs_extend_the_plugins(
    choice: str, base: str, target: str, expected: dict
) -> None:
    cfg = compose_hydra([f"hydra/launcher={choice}"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith(target)  # inherited from the plugin's own config
    for key, value in expected.items():
        assert launcher[key] == value, key
    # every field of the plugin's schema is still there (inherited, not re-typed)
    plugin = compose_hydra([f"hydra/launcher={base}"]).hydra.launcher
    assert set(plugin) == set(launcher)


def test_launcher_values_can_be_overridden_and_resolve() -> None:
    cfg = compose_hydra(
        ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=4", "hydra.launcher.partition=gpu"]
    )
    HydraConfig.instance().set_config(cfg)
    launcher = instantiate(cfg.hydra.launcher)
    assert launcher.params["setup"] == ["export OMP_NUM_THREADS=4"]
    assert launcher.params["partition"] == "gpu"
    assert launcher.params["submitit_folder"].endswith(".submitit/%j")
    # the plugins' own configs stay selectable with their defaults
    assert compose_hydra(["hydra/launcher=joblib"]).hydra.launcher.n_jobs == -1


def sweep_args(model: Path, data: Path, sweep: Path, extra: list[str]) -> list[str]:
    return [
        "train.py",
        "-m",
        *SWEEP,
        *tiny_overrides(model, data),
        f"hydra.sweep.dir={sweep}",
        *extra,
    ]


def results(sweep: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    out = {}
    for mfile in sorted(sweep.glob("*/metrics.json")):
        m = json.loads(mfile.read_text())
        out[m["freeze"]] = (m, pd.read_csv(mfile.parent / "predictions.csv"))
    return out


@pytest.fixture(scope="module")
def basic_sweep(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("basic")
    env = {**ENV, "BERTFREEZE_CACHE": str(root / "cache")}
    res = run_cli(sweep_args(tiny_bert, tiny_data, root / "sweep", []), REPO_ROOT, env)
    assert res.returncode == 0, res.stderr[-3000:]
    out = results(root / "sweep")
    assert sorted(out) == ["all", "none"]
    return out


def check_cache(cache: Path) -> None:
    """Every published entry is complete and loadable; no half-written temp dir is left."""
    entries = [p for kind in ("tokens", "prefix") for p in (cache / kind).iterdir()]
    assert entries, "the jobs wrote no cache entries"
    leftovers = [p.name for p in entries if p.name.startswith(".")]
    assert not leftovers, leftovers
    for entry in entries:
        meta = json.loads((entry / "meta.json").read_text())
        for name in meta["arrays"]:
            arr = np.load(entry / f"{name}.npy")
            assert arr.size and np.isfinite(arr.astype(np.float64)).all(), entry
    tokens = next((cache / "tokens").iterdir())
    offsets = np.load(tokens / "offsets.npy")
    assert offsets[0] == 0 and (np.diff(offsets) > 0).all()
    assert offsets[-1] == len(np.load(tokens / "values.npy"))


def run_launcher(
    launcher: str, tiny_bert: Path, tiny_data: Path, tmp_path: Path, basic: dict
) -> Path:
    sweep = tmp_path / "sweep"
    cache = tmp_path / "shared-cache"
    env = {**ENV, "BERTFREEZE_CACHE": str(cache)}
    res = run_cli(
        sweep_args(tiny_bert, tiny_data, sweep, [f"hydra/launcher={launcher}"]), REPO_ROOT, env
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 completed, 0 failed" in res.stderr
    got = results(sweep)
    assert sorted(got) == ["all", "none"]
    for freeze, (m, pred) in got.items():
        ref_m, ref_pred = basic[freeze]
        assert m["status"] == "completed"
        assert m["config_hash"] == ref_m["config_hash"]  # the launcher is not part of the recipe
        assert m["test"] == ref_m["test"], freeze
        assert m["val"] == ref_m["val"], freeze
        pd.testing.assert_frame_equal(pred, ref_pred)
    check_cache(cache)
    return sweep


def test_joblib_sweep_matches_basic_launcher(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, basic_sweep: dict
) -> None:
    run_launcher("parallel", tiny_bert, tiny_data, tmp_path, basic_sweep)


@pytest.mark.slow  # ~40 s on 2 cores: keeps `make test` under 10 min; CI runs it
def test_submitit_local_sweep_matches_basic_launcher(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, basic_sweep: dict
) -> None:
    sweep = run_launcher("slurm_local", tiny_bert, tiny_data, tmp_path, basic_sweep)
    # submitit's own bookkeeping: one job folder per run, with its logs and pickled result
    results_pkl = list((sweep / ".submitit").glob("*/*_result.pkl"))
    assert len(results_pkl) == 2


def test_slurm_launcher_renders_the_sbatch_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cluster here: render the sbatch file exactly as the plugin would submit it."""
    submitit = pytest.importorskip("submitit")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    cfg = compose_hydra(
        ["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", "hydra.launcher.partition=gpu"]
    )
    HydraConfig.instance().set_config(cfg)
    params = dict(instantiate(cfg.hydra.launcher).params)
    # the same mapping as BaseSubmititLauncher.launch
    executor = submitit.AutoExecutor(
        folder=params.pop("submitit_folder"),
        cluster="slurm",
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    text = executor._executor._make_submission_file_text(
        "python -u -m submitit.core._submit x", "u"
    )
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=120",
        "#SBATCH --ntasks-per-node=1",
        "export OMP_NUM_THREADS=8",
    ):
        assert line in text, (line, text)
