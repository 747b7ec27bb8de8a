"""`make results`' export: runs.csv and environment.json from a study's sweep and report."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import fake_runs
import pandas as pd
import pytest

from bertfreeze import studies


def test_export_is_idempotent_keeps_report_columns_and_no_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second export (`export_only=true`, e.g. after adding a column) keeps the report's own
    columns, writes no absolute path and keeps the measured study wall time."""
    monkeypatch.setattr(studies, "STUDIES_OUT", tmp_path / "out")
    monkeypatch.setattr(studies, "RESULTS", tmp_path / "results")
    study = studies.Study("demo", ("freeze=all,none",), 4, 1.0, "test", baselines=None)
    fake_runs.make_sweep(study.sweep_dir, modes=("all", "none"), seeds=range(2))
    dest = study.results_dir
    dest.mkdir(parents=True)
    run_dirs = sorted(p for p in study.sweep_dir.iterdir() if (p / "metrics.json").is_file())
    report = pd.DataFrame({"run_dir": [str(p) for p in run_dirs], "test_mcc": [0.5] * 4})
    report.to_csv(dest / "runs.csv", index=False)  # what the report writes

    studies.export(study, 12.0)
    first = pd.read_csv(dest / "runs.csv")
    studies.export(study)  # export_only: no wall time measured this time
    second = pd.read_csv(dest / "runs.csv")

    assert len(first) == 4 and "test_mcc" in first and "backbone" in first
    assert set(first["backbone"]) == {"minilm"}
    pd.testing.assert_frame_equal(first, second)
    assert str(tmp_path) not in (dest / "runs.csv").read_text()
    env = json.loads((dest / "environment.json").read_text())
    assert env["study_wall_time_s"] == 12.0 and env["n_runs"] == 4


def test_results_cli_passes_overrides_to_the_sweep_and_says_the_estimate_is_the_whole_grid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bertfreeze import readme_results
    from bertfreeze.cli import results as cli

    calls = []
    monkeypatch.setattr(cli, "run_study", lambda study, extra: calls.append((study.name, extra)))
    monkeypatch.setattr(readme_results, "update_readme", lambda: "README.md")
    cli.main(["study=selection-peft-lr", "freeze=lora"])
    assert calls == [("selection-peft-lr", ["freeze=lora"])]
    assert "the overrides freeze=lora may run fewer" in capsys.readouterr().out


def test_a_study_pins_its_own_precision_unless_args_set_one() -> None:
    study = studies.Study("demo", ("freeze=all",), 2, 1.0, "test", baselines=None)
    assert studies.sweep_overrides(study, []) == ["freeze=all", "trainer.precision=32-true"]
    bf16 = studies.Study("b", ("freeze=all",), 2, 1.0, "t", baselines=None, precision="bf16-mixed")
    assert studies.sweep_overrides(bf16, []) == ["freeze=all", "trainer.precision=bf16-mixed"]
    assert studies.sweep_overrides(bf16, ["trainer.precision=32-true"]) == ["freeze=all"]
    assert bf16.needs_native_bf16 and not study.needs_native_bf16


@pytest.mark.parametrize("native", [False, True])
def test_a_bf16_study_runs_only_where_bf16_is_native(
    native: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asked by name on a CPU that emulates bf16 (detection forced both ways), the bf16 study is
    a one-line error; within `make results` (every study) it is skipped, saying why."""
    from bertfreeze import precision, readme_results
    from bertfreeze.cli import results as cli

    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: native)
    monkeypatch.setattr(precision, "target_device", lambda accelerator: "cpu")
    calls: list[str] = []
    monkeypatch.setattr(cli, "run_study", lambda study, extra: calls.append(study.name))
    monkeypatch.setattr(readme_results, "update_readme", lambda: "README.md")
    if native:
        cli.main(["study=cache-ablation-bf16"])
        assert calls == ["cache-ablation-bf16"]
        assert "bf16 ones with it" in capsys.readouterr().out  # its estimate is a native one
        return
    with pytest.raises(SystemExit) as exc:
        cli.main(["study=cache-ablation-bf16"])
    assert exc.value.code != 0 and calls == []
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no native bf16" in err and "AVX512_BF16" in err
    cli.main([])
    assert "cache-ablation-bf16" not in calls and "disaster-tweets" in calls
    assert "results: skipping study=cache-ablation-bf16" in capsys.readouterr().out
    cli.main(["study=cache-ablation-bf16", "trainer.precision=32-true"])  # ARGS win, as always
    assert calls[-1] == "cache-ablation-bf16"


def _selection_run(sweep: Path, freeze: str, lr: float, seed: int) -> None:
    run = fake_runs.write_run(sweep / "tmp", freeze="none", seed=seed)
    rec = json.loads((run / "metrics.json").read_text())
    rec.update(freeze=freeze)
    rec["config"]["optim.lr"] = lr
    (run / "metrics.json").write_text(json.dumps(rec))
    run.rename(sweep / f"freeze={freeze},freeze.lr={lr},seed={seed}")


def test_selection_export_writes_a_mode_only_once_its_whole_grid_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A resumed study stopped mid-mode must not leave a half-grid <mode>_lr.csv in results/:
    lora ran its 5 lr x 2 seeds, bitfit 3 of 10 (plus 7 runs off the grid), ia3 none."""
    monkeypatch.setattr(studies, "STUDIES_OUT", tmp_path / "out")
    monkeypatch.setattr(studies, "RESULTS", tmp_path / "results")
    study = studies.STUDIES["selection-peft-lr"]
    for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2):
        for seed in (100, 101):
            _selection_run(study.sweep_dir, "lora", lr, seed)
    for lr, seed in ((1e-4, 100), (1e-4, 101), (3e-4, 100)):
        _selection_run(study.sweep_dir, "bitfit", lr, seed)
    for seed in range(7):  # off the grid: as many runs as the grid has, still not the grid
        _selection_run(study.sweep_dir, "bitfit", 5e-4, 200 + seed)

    dest = studies.export(study)
    assert sorted(p.name for p in dest.glob("*.csv")) == ["lora_lr.csv"]
    assert len(pd.read_csv(dest / "lora_lr.csv")) == 10
    assert "bitfit has 3 of its 10 runs" in capsys.readouterr().out
    env = json.loads((dest / "lora_lr.environment.json").read_text())
    assert env["n_runs"] == 10  # lora's runs only, not bitfit's

    before = {p.name: p.read_text() for p in dest.iterdir()}
    for lr in (3e-4, 1e-3, 3e-3, 1e-2):  # bitfit completes later, in another invocation
        for seed in (100, 101):
            if (lr, seed) != (3e-4, 100):
                _selection_run(study.sweep_dir, "bitfit", lr, seed)
    studies.export(study, 99.0)
    assert json.loads((dest / "bitfit_lr.environment.json").read_text())["n_runs"] == 17
    for name, text in before.items():  # lora's files stay as its own export wrote them
        assert (dest / name).read_text() == text, name


def _demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> studies.Study:
    monkeypatch.chdir(tmp_path)  # relative folders, as in the repo: paths in records are ours
    monkeypatch.setattr(studies, "STUDIES_OUT", Path("out"))
    monkeypatch.setattr(studies, "RESULTS", Path("results"))
    return studies.Study("demo", ("freeze=all,none", "seed=range(3)"), 6, 1.0, "t", None, **kw)


def _run(study: studies.Study, freeze: str, seed: int, tmp_path: Path) -> Path:
    run = fake_runs.write_run(study.sweep_dir, freeze=freeze, seed=seed)
    rec = json.loads((run / "metrics.json").read_text())
    rec["config"]["reuse_from"] = json.dumps([str(tmp_path / "elsewhere" / "sweep")])
    (run / "metrics.json").write_text(json.dumps(rec))
    return run


def test_records_carry_a_study_to_a_fresh_checkout_without_machine_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """export copies each finished run's metrics.json into results/<study>/records/ with no
    absolute path (JSON-encoded lists included); with outputs/ gone, export rebuilds the same
    runs.csv from them; with neither, it leaves the committed folder alone."""
    study = _demo(tmp_path, monkeypatch)
    for freeze in ("all", "none"):
        for seed in range(3):
            _run(study, freeze, seed, tmp_path)
    dest = studies.export(study, 5.0)
    records = sorted(study.records_dir.glob("*/metrics.json"))
    assert len(records) == 6
    for path in records:
        text = path.read_text()
        assert str(tmp_path) not in text and '"/data/' not in text and '"/models/' not in text
        rec = json.loads(text)
        assert rec["data"]["path"] == "…/data/train.csv"
        assert rec["run_dir"] == str(study.sweep_dir / path.parent.name)
    first = (dest / "runs.csv").read_text()

    shutil.rmtree(study.out)  # a fresh checkout: no outputs/, only the committed results/
    studies.export(study)
    assert (dest / "runs.csv").read_text() == first
    assert json.loads((dest / "environment.json").read_text())["study_wall_time_s"] == 5.0

    shutil.rmtree(study.records_dir)  # a study exported before records existed
    studies.export(study)
    assert (dest / "runs.csv").read_text() == first
    assert "is left as it is" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="make results ARGS=study=demo first"):
        studies.report_source(study)


def test_a_by_mode_study_commits_each_mode_once_whole_and_resumes_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study too long for one sitting (peft): a mode's records land only once every seed
    ran, the next call trains only the modes still missing, and runs.csv waits for all."""
    study = _demo(tmp_path, monkeypatch, by_mode=True)
    for seed in range(3):
        _run(study, "all", seed, tmp_path)
    _run(study, "none", 0, tmp_path)  # stopped one seed into the second mode
    dest = studies.export(study, 7.0)
    names = sorted(p.parent.name for p in study.records_dir.glob("*/metrics.json"))
    assert names == [f"freeze=all,seed={s}" for s in range(3)]
    assert json.loads((dest / "all.environment.json").read_text())["n_runs"] == 3
    assert not (dest / "runs.csv").exists() and not (dest / "none.environment.json").exists()
    out = capsys.readouterr().out
    assert "none has 1 of its 3 seeds" in out and "none: 3 seeds to run" in out
    assert studies.missing_modes(study) == {"all": 0, "none": 3}
    pin = "trainer.precision=32-true"  # committed studies reproduce on any CPU, bf16 or not
    assert studies.sweep_overrides(study, []) == ["freeze=none", "seed=range(3)", pin]
    assert studies.sweep_overrides(study, ["freeze=all"]) == ["seed=range(3)", pin]
    assert studies.sweep_overrides(study, ["trainer.precision=bf16-mixed"]) == [
        "freeze=none",
        "seed=range(3)",
    ]
    assert studies.runs_to_train(study) == 3  # what `make results` announces: none's 3 seeds
    kept = {p: p.read_text() for p in study.records_dir.glob("*/metrics.json")}
    kept[dest / "all.environment.json"] = (dest / "all.environment.json").read_text()
    monkeypatch.setattr(studies, "cpu_model", lambda: "another machine")  # exporting elsewhere
    studies.export(study)  # a later call whose sweep still holds all's runs rewrites nothing
    assert all(path.read_text() == text for path, text in kept.items())

    shutil.rmtree(study.out)  # the next sitting: a fresh checkout runs the last mode
    for seed in range(3):
        _run(study, "none", seed, tmp_path)
    studies.export(study)
    assert len(pd.read_csv(dest / "runs.csv")) == 6
    assert studies.sweep_overrides(study, []) is None
    env = json.loads((dest / "environment.json").read_text())  # each mode's machine, not ours
    here = json.loads(kept[dest / "all.environment.json"])["cpu_model"]
    assert env["machines_by_mode"]["all"]["cpu_model"] == here
    assert env["machines_by_mode"]["none"]["cpu_model"] == "another machine"
    assert env["cpu_model"] == " / ".join(sorted([here, "another machine"]))
    for path, text in kept.items():
        assert path.read_text() == text


def test_by_mode_refuses_a_grid_without_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _demo(tmp_path, monkeypatch, by_mode=True)
    folds = studies.Study("cv", ("experiment=cv", "freeze=all,none"), 20, 1.0, "t", by_mode=True)
    assert studies.missing_modes(study) == {"all": 3, "none": 3}
    with pytest.raises(ValueError, match="by_mode needs a freeze x seed grid"):
        studies.missing_modes(folds)


def test_a_pooled_report_reads_the_other_study_from_its_committed_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """peft's report pools disaster-tweets' runs: from its records when outputs/ lacks them
    (a fresh checkout), so the two studies' modes meet in one report and one Holm family."""
    import subprocess

    from bertfreeze.paths import REPO_ROOT

    main = _demo(tmp_path, monkeypatch, by_mode=True)
    side = studies.Study(
        "side", ("freeze=last2", "seed=range(3)"), 3, 1.0, "t", None, extra_sweeps=("demo",)
    )
    monkeypatch.setitem(studies.STUDIES, "demo", main)
    monkeypatch.setitem(studies.STUDIES, "side", side)
    for freeze in ("all", "none"):
        for seed in range(3):
            _run(main, freeze, seed, tmp_path)
    studies.export(main)
    shutil.rmtree(main.out)  # committed records only, as on a fresh checkout
    for seed in range(3):
        fake_runs.write_run(side.sweep_dir, freeze="last2", seed=seed)

    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "BERTFREEZE_QUIET": "1"}
    steps: list[str] = []

    def step(title: str, cmd: list[str]) -> None:
        steps.append(title)
        if title.endswith("report"):
            res = subprocess.run(
                cmd, cwd=tmp_path, env={**os.environ, **env}, text=True, capture_output=True
            )
            assert res.returncode == 0, res.stderr[-2000:]

    monkeypatch.setattr(studies, "_step", step)
    studies.run_study(side, [])
    assert steps == ["side: sweep", "side: report"]
    runs = pd.read_csv(side.results_dir / "runs.csv")  # its own runs, with the report's columns
    assert list(runs["freeze"]) == ["last2"] * 3 and runs["group"].notna().all()
    table2 = pd.read_csv(side.results_dir / "table2.csv")
    assert sorted(table2["freeze"]) == ["all", "last2", "none"]
    stats = json.loads((side.results_dir / "stats.json").read_text())
    pairs = {
        (s.get("freeze_a"), s.get("freeze_b")) for s in stats if s.get("kind") == "freeze_pair"
    }
    assert {frozenset(p) for p in pairs} >= {
        frozenset(("last2", "all")),
        frozenset(("none", "last2")),
    }
    assert len(list(side.records_dir.glob("*/metrics.json"))) == 3  # its own runs only


def test_a_call_that_trains_nothing_keeps_the_measured_study_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-reporting a finished study (or one whose sweep was copied in from the clone that ran
    it) must not overwrite its end-to-end time with the seconds the re-report took; a call that
    finishes a run measures anew."""
    study = _demo(tmp_path, monkeypatch)
    for freeze in ("all", "none"):
        for seed in range(2):
            _run(study, freeze, seed, tmp_path)
    studies.export(study, 1234.0)
    new_run: list[tuple[str, int]] = []

    def step(title: str, cmd: list[str]) -> None:
        for freeze, seed in new_run:
            _run(study, freeze, seed, tmp_path)

    monkeypatch.setattr(studies, "_step", step)
    env = study.results_dir / "environment.json"
    studies.run_study(study, [])
    assert json.loads(env.read_text())["study_wall_time_s"] == 1234.0
    new_run.append(("all", 2))
    studies.run_study(study, [])
    assert json.loads(env.read_text())["study_wall_time_s"] < 1234.0
