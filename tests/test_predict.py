"""`make predict`: a Kaggle submission from a finished run, or from a sweep's best run on validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from tiny_bert import make_texts, run_cli, tiny_overrides

from bertfreeze.errors import UserError
from bertfreeze.paths import REPO_ROOT
from bertfreeze.predict import predict, proba_path, read_texts, select_run

# Settings under which the tiny model learns (so predictions are not all one class).
LEARN = ["model.pooling=mean", "optim.lr=3e-3", "optim.head_lr=0.1", "trainer.max_epochs=3"]


@pytest.fixture(scope="module")
def trained_run(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny run trained through the CLI (freeze=none, so no float16 feature cache)."""
    root = tmp_path_factory.mktemp("predict")
    run_dir = root / "run"
    args = [
        "train.py",
        "freeze=none",
        *tiny_overrides(tiny_bert, tiny_data),
        *LEARN,
        f"hydra.run.dir={run_dir}",
    ]
    res = run_cli(args, REPO_ROOT, {"BERTFREEZE_CACHE": str(root / "cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("metrics.json", "trainable.safetensors", ".hydra/config.yaml", "predictions.csv"):
        assert (run_dir / name).is_file(), name
    return run_dir


@pytest.fixture()
def kaggle_csv(tmp_path: Path) -> Path:
    """A Kaggle-style test.csv: no target column, ids in no particular order."""
    df = make_texts(37, seed=11).drop(columns=["target"])
    df["id"] = np.random.default_rng(0).permutation(np.arange(1000, 1037))
    path = tmp_path / "test.csv"
    df.to_csv(path, index=False)
    return path


def test_trainable_weights_are_prefixed_and_complete(trained_run: Path) -> None:
    keys = list(load_file(str(trained_run / "trainable.safetensors")))
    assert keys and all(k.startswith("classifier.") for k in keys)
    assert "classifier.head.weight" in keys and any(".encoder.layer.0." in k for k in keys)


def test_rebuilt_model_reproduces_the_runs_test_predictions(
    trained_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """Predicting the training file gives the run's own test probabilities back (rebuilt exactly)."""
    out = tmp_path / "sub.csv"
    summary = predict(trained_run, tiny_data, out, quiet=True)
    assert summary["n_rows"] == len(pd.read_csv(tiny_data))
    ours = pd.read_csv(proba_path(out))
    ref = pd.read_csv(trained_run / "predictions.csv")
    both = ref.merge(ours, on="id", suffixes=("_run", "_predict"))
    assert len(both) == len(ref)
    np.testing.assert_allclose(both["prob_predict"], both["prob_run"], atol=1e-5)


def copy_run(src: Path, dest: Path, val_acc: float, test_acc: float) -> Path:
    shutil.copytree(src, dest)
    m = json.loads((dest / "metrics.json").read_text())
    m["val"]["accuracy"], m["test"]["accuracy"], m["run_dir"] = val_acc, test_acc, str(dest)
    (dest / "metrics.json").write_text(json.dumps(m))
    return dest


@pytest.fixture()
def sweep(trained_run: Path, tmp_path: Path) -> Path:
    """Runs with known validation/test accuracies, plus runs that must never be chosen."""
    root = tmp_path / "sweep"
    root.mkdir()
    copy_run(trained_run, root / "freeze=none,seed=0", val_acc=0.70, test_acc=0.99)
    copy_run(
        trained_run, root / "freeze=none,seed=1", val_acc=0.80, test_acc=0.50
    )  # the best on val
    copy_run(trained_run, root / "freeze=none,seed=2", val_acc=0.75, test_acc=0.90)
    nodisk = copy_run(trained_run, root / "freeze=none,seed=3", val_acc=0.99, test_acc=0.99)
    (nodisk / "trainable.safetensors").unlink()  # keep_weights=false: cannot predict
    old = copy_run(trained_run, root / "freeze=none,seed=4" / ".superseded" / "abc", 1.0, 1.0)
    (old.parent.parent / "status.json").write_text(json.dumps({"status": "failed", "error": "x"}))
    failed = root / "freeze=all,seed=0"
    failed.mkdir()
    (failed / "status.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    return root


def test_sweep_picks_best_validation_run_not_best_test(sweep: Path) -> None:
    chosen = select_run(sweep)
    assert chosen.run_dir == sweep / "freeze=none,seed=1"
    assert "validation accuracy (0.8000)" in chosen.reason
    assert "never used" in chosen.reason
    assert "seed=3 (no trainable.safetensors)" in chosen.reason
    by_loss = select_run(sweep, "loss")  # equal (copied) losses: the first name wins the tie
    assert by_loss.run_dir == sweep / "freeze=none,seed=0"
    with pytest.raises(UserError, match="select_metric"):
        select_run(sweep, "test_accuracy")


def test_cli_predicts_from_a_sweep(sweep: Path, kaggle_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "kaggle" / "submission.csv"
    hydra_dir = tmp_path / "hydra"
    res = run_cli(
        [
            "-m",
            "bertfreeze.cli.predict",
            f"run_dir={sweep}",
            f"input={kaggle_csv}",
            f"output={out}",
            f"hydra.run.dir={hydra_dir}",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "chose freeze=none,seed=1 from 3 completed run(s)" in res.stdout
    assert "Loading weights" not in res.stderr and "predict:" not in res.stderr  # quiet mode
    for chatter in ("GPU available", "litlogger", "custom batch sampler"):  # nothing to act on
        assert chatter not in res.stderr + res.stdout, chatter
    sub = pd.read_csv(out)
    proba = pd.read_csv(out.with_name("submission_proba.csv"))
    given = pd.read_csv(kaggle_csv)
    assert list(sub.columns) == ["id", "target"] and list(proba.columns) == ["id", "prob"]
    assert len(sub) == len(given) == len(proba)
    assert sub["id"].tolist() == given["id"].tolist() == proba["id"].tolist()  # input order
    assert set(sub["target"]) <= {0, 1} and proba["prob"].between(0, 1).all()
    assert (sub["target"] == (proba["prob"] >= 0.5).astype(int)).all()
    assert 0 < sub["target"].sum() < len(sub)  # the tiny model learned something
    record = json.loads((hydra_dir / "predict.json").read_text())
    assert record["run_dir"] == str(sweep / "freeze=none,seed=1")
    assert not (tmp_path / "outputs").exists()  # nothing written outside the given dirs


def test_cli_takes_a_sweeps_run_dir_as_typed(sweep: Path, kaggle_csv: Path, tmp_path: Path) -> None:
    """A run dir named ``freeze=none,seed=1`` needs no Hydra quoting from the user."""
    one_run = sweep / "freeze=none,seed=1"
    out = tmp_path / "a=b,c" / "submission.csv"
    res = run_cli(
        [
            "-m",
            "bertfreeze.cli.predict",
            f"run_dir={one_run}",
            f"input={kaggle_csv}",
            f"output={out}",
            f"hydra.run.dir={tmp_path / 'hydra'}",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert out.is_file() and len(pd.read_csv(out)) == len(pd.read_csv(kaggle_csv))
    record = json.loads((tmp_path / "hydra" / "predict.json").read_text())
    assert record["run_dir"] == str(one_run)


def test_path_overrides_are_quoted_only_when_hydra_would_misread_them() -> None:
    from bertfreeze.cli.common import quote_path_overrides

    keys = ("run_dir", "output")
    argv = [
        "run_dir=outputs/s/freeze=all,seed=3",
        "output=plain/sub.csv",
        "run_dir='already/quoted,x'",
        "batch_size=64",
        "seed=1,2",  # not a path key: a sweep stays a sweep
    ]
    assert quote_path_overrides(argv, keys) == [
        "run_dir='outputs/s/freeze=all,seed=3'",
        "output=plain/sub.csv",
        "run_dir='already/quoted,x'",
        "batch_size=64",
        "seed=1,2",
    ]


@pytest.mark.slow  # ~34 s on 2 cores
def test_cli_missing_run_dir_is_a_one_line_error(tmp_path: Path) -> None:
    hydra_dir = tmp_path / "hydra"
    res = run_cli(
        [
            "-m",
            "bertfreeze.cli.predict",
            f"run_dir={tmp_path / 'nope'}",
            f"hydra.run.dir={hydra_dir}",
        ],
        tmp_path,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: run_dir=") and "does not exist" in lines[0]
    )
    assert not hydra_dir.exists()
    res = run_cli(["-m", "bertfreeze.cli.predict", f"hydra.run.dir={hydra_dir}"], tmp_path)
    assert res.returncode == 2 and "run_dir is required" in res.stderr


def test_user_errors(trained_run: Path, kaggle_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="input file not found"):
        predict(trained_run, tmp_path / "missing.csv", tmp_path / "o.csv", quiet=True)
    no_text = tmp_path / "no_text.csv"
    pd.read_csv(kaggle_csv).rename(columns={"text": "tweet"}).to_csv(no_text, index=False)
    with pytest.raises(UserError, match=r"missing column\(s\) \['text'\]"):
        predict(trained_run, no_text, tmp_path / "o.csv", quiet=True)
    no_id = tmp_path / "no_id.csv"
    pd.read_csv(kaggle_csv).drop(columns=["id"]).to_csv(no_id, index=False)
    with pytest.raises(UserError, match="id_col=null"):
        predict(trained_run, no_id, tmp_path / "o.csv", quiet=True)
    summary = predict(trained_run, no_id, tmp_path / "o.csv", id_col=None, quiet=True)
    assert pd.read_csv(tmp_path / "o.csv")["id"].tolist() == list(range(summary["n_rows"]))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "status.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(UserError, match="has not completed"):
        select_run(unfinished)
    with pytest.raises(UserError, match="no completed run"):
        select_run(tmp_path)


def test_weights_are_checked_strictly(trained_run: Path, kaggle_csv: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(trained_run, bad)
    state = load_file(str(bad / "trainable.safetensors"))
    state["classifier.extra.weight"] = torch.zeros(2)
    save_file(state, str(bad / "trainable.safetensors"))
    with pytest.raises(UserError, match=r"unexpected \['extra.weight'\]"):
        predict(bad, kaggle_csv, tmp_path / "o.csv", quiet=True)
    state.pop("classifier.extra.weight")
    state.pop("classifier.head.weight")
    save_file(state, str(bad / "trainable.safetensors"))
    with pytest.raises(UserError, match=r"missing \['head.weight'\]"):
        predict(bad, kaggle_csv, tmp_path / "o.csv", quiet=True)


def test_texts_are_prepared_like_the_runs_training_data(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame(
        {"id": [5, 3], "keyword": ["fire", ""], "text": ["Wild &amp; https://t.co/x", "calm day"]}
    ).to_csv(path, index=False)
    data = OmegaConf.create(
        {
            "path": "${oc.env:UNSET_FOR_THIS_TEST}",  # never resolved: the input replaces it
            "text_col": "text",
            "id_col": "id",
            "normalize": "tweet",
            "extra_text_cols": ["keyword"],
        }
    )
    ids, texts = read_texts(path, data)
    assert ids.tolist() == ["5", "3"]
    assert texts == ["fire | Wild & http", "calm day"]
