"""DDP on CPU (gloo): trainer=ddp trainer.strategy=ddp_spawn trainer.devices=2 in a Hydra multirun.

The fast tests check how the length-bucketed sampler shares batches between ranks; the slow
one trains freeze=all and freeze=none with two processes and compares them with one process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch.distributed as dist
from hydra import compose, initialize_config_dir
from tiny_bert import run_cli, tiny_overrides

from bertfreeze import datamodule, worker_exit
from bertfreeze.datamodule import BucketBatchSampler
from bertfreeze.paths import CONF_DIR, REPO_ROOT
from bertfreeze.train_task import fit_callbacks
from bertfreeze.worker_exit import ReleaseProcessGroup


class FakeDist:
    """Stands in for torch.distributed inside the sampler (one rank's view)."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def get_world_size(self) -> int:
        return self.world

    def get_rank(self) -> int:
        return self.rank


def shares(
    monkeypatch: pytest.MonkeyPatch, world: int, n: int, bs: int, shuffle: bool
) -> list[list[list[int]]]:
    lengths = np.random.default_rng(0).integers(3, 40, size=n)
    out = []
    for rank in range(world):
        monkeypatch.setattr(datamodule, "dist", FakeDist(rank, world))
        sampler = BucketBatchSampler(np.arange(n), lengths, bs, shuffle=shuffle, seed=1)
        batches = list(sampler)
        assert len(batches) == len(sampler)  # Lightning sizes its loops with len()
        out.append(batches)
    return out


@pytest.mark.parametrize(
    ("world", "n", "bs"), [(2, 24, 128), (2, 100, 16), (3, 101, 8), (4, 5, 128)]
)
def test_eval_batches_cover_every_row_once_with_equal_counts(
    monkeypatch: pytest.MonkeyPatch, world: int, n: int, bs: int
) -> None:
    per_rank = shares(monkeypatch, world, n, bs, shuffle=False)
    assert len({len(b) for b in per_rank}) == 1  # no rank waits for another at a collective
    rows = sorted(i for batches in per_rank for b in batches for i in b)
    assert rows == list(range(n))  # exact metrics: no duplicated (padding) rows
    assert all(len(b) <= bs for batches in per_rank for b in batches)


def test_train_batches_are_sharded_with_equal_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    per_rank = shares(monkeypatch, 2, 100, 16, shuffle=True)
    assert len(per_rank[0]) == len(per_rank[1]) == 4
    seen = {i for batches in per_rank for b in batches for i in b}
    assert seen == set(range(100))  # every row trains each epoch (one batch repeats to even out)


def group(tmp_path: Path) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )


def test_spawned_workers_release_their_process_group(tmp_path: Path) -> None:
    # gloo torn down by the interpreter's exit can abort a worker after a finished fit (SIGABRT)
    out = f"paths.output_dir={tmp_path}"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        spawn = compose("train", [out, "trainer=ddp", "trainer.strategy=ddp_spawn"])
        launch = compose("train", [out, "trainer=ddp"])  # one group for fit/validate/test: keep it
        single = compose("train", [out])
    for cfg, when in ((spawn, "fit_end"), (launch, "exit"), (single, "exit")):
        release = [c for c in fit_callbacks(cfg) if isinstance(c, ReleaseProcessGroup)]
        assert [c.when for c in release] == [when]

    group(tmp_path)
    try:
        ReleaseProcessGroup("exit").teardown(None, None, "fit")
        assert dist.is_initialized()  # a launched rank keeps its group for validate/test
        ReleaseProcessGroup("fit_end").teardown(None, None, "fit")
        assert not dist.is_initialized()
    finally:
        worker_exit.destroy_process_group()


def test_launched_ranks_release_their_process_group_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks: list = []
    monkeypatch.setattr(worker_exit.atexit, "register", hooks.append)
    monkeypatch.setattr(worker_exit, "_EXIT_HOOK_REGISTERED", False)
    ReleaseProcessGroup("exit").setup(None, None, "fit")
    assert hooks == []  # no process group: nothing to release
    group(tmp_path)
    try:
        ReleaseProcessGroup("exit").setup(None, None, "fit")
        ReleaseProcessGroup("exit").setup(None, None, "validate")
        assert len(hooks) == 1  # once per process, however many stages
        hooks[0]()
        assert not dist.is_initialized()
    finally:
        worker_exit.destroy_process_group()


# --- two processes on CPU ------------------------------------------------------------------------
# Under DDP each rank takes data.batch_size rows: 2 x 8 = the single process's 16 per step.
LEARN = ["model.pooling=mean", "optim.lr=3e-3", "optim.head_lr=0.1", "trainer.max_epochs=3"]
DDP = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.strategy=ddp_spawn",
    "trainer.devices=2",
    "data.batch_size=8",
]
ENV = {"OMP_NUM_THREADS": "1"}


def sweep(model: Path, data: Path, root: Path, extra: list[str]) -> dict[str, Path]:
    args = [
        "train.py",
        "-m",
        "freeze=all,none",
        *tiny_overrides(model, data),
        *LEARN,
        *extra,
        f"hydra.sweep.dir={root / 'sweep'}",
    ]
    res = run_cli(args, REPO_ROOT, {**ENV, "BERTFREEZE_CACHE": str(root / "cache")}, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    runs = {}
    for mfile in (root / "sweep").rglob("metrics.json"):
        runs[json.loads(mfile.read_text())["freeze"]] = mfile.parent
    return runs


@pytest.mark.slow
def test_ddp_spawn_sweep_matches_single_process(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    single = sweep(tiny_bert, tiny_data, tmp_path / "single", ["data.batch_size=16"])
    ddp = sweep(tiny_bert, tiny_data, tmp_path / "ddp", DDP)
    assert sorted(single) == sorted(ddp) == ["all", "none"]
    # exactly one metrics.json per run (rank 0 writes), none anywhere else
    assert len(list((tmp_path / "ddp" / "sweep").rglob("metrics.json"))) == 2
    for freeze, run_dir in ddp.items():
        m = json.loads((run_dir / "metrics.json").read_text())
        ref = json.loads((single[freeze] / "metrics.json").read_text())
        assert m["status"] == "completed" and m["config"]["trainer.devices"] == 2
        assert m["data"]["n_test"] == ref["data"]["n_test"]
        assert not list(run_dir.glob("*ddp_process*"))  # no per-rank files in the run dir
        pred = pd.read_csv(run_dir / "predictions.csv")
        ref_pred = pd.read_csv(single[freeze] / "predictions.csv")
        assert pred["id"].tolist() == ref_pred["id"].tolist()  # the same test rows, once each
        assert pred["label"].tolist() == ref_pred["label"].tolist()
        # the predictions (main process, best weights) agree with the test metrics (workers, synced)
        acc_from_pred = float((pred["pred"] == pred["label"]).mean())
        assert acc_from_pred == pytest.approx(m["test"]["accuracy"], abs=1e-6), freeze
        # DDP changes the batch order, not the problem: accuracy stays close to one process
        assert abs(m["test"]["accuracy"] - ref["test"]["accuracy"]) <= 0.15, (
            freeze,
            m["test"],
            ref["test"],
        )
        assert all(0 <= v <= 1 for k, v in m["test"].items() if k != "loss")
        # the training curves survive the validate/test spawns
        curves = pd.read_csv(run_dir / "csv" / "metrics.csv")
        assert curves["train/loss"].notna().sum() >= 2
        assert (run_dir / "trainable.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["spawn", "subprocess"])
def test_gloo_exit_counter_runs(launch: str) -> None:
    # the reliability check behind ReleaseProcessGroup (docs/scale-out.md); counts, no timing
    cmd = ["-m", "bench.gloo_exit", "--trials", "1", "--launch", launch]
    res = run_cli(cmd, REPO_ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"launch: {launch}" in res.stdout, res.stdout
    lines = [ln for ln in res.stdout.splitlines() if "launches aborted" in ln]
    assert len(lines) == 2 and lines[1].startswith("group released"), res.stdout
    assert lines[1].endswith(": 0 of 1 launches aborted"), res.stdout
