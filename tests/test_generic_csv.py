"""data=csv: any binary text CSV/TSV with string labels, through both entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_bert import make_texts, run_cli, tiny_overrides

from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.paths import REPO_ROOT


def write_tsv(path: Path) -> Path:
    df = make_texts(200, seed=3)
    df["Label"] = df["target"].map({0: "ham", 1: "spam"})
    df[["Label", "text"]].rename(columns={"text": "SMS"}).to_csv(path, sep="\t", index=False)
    return path


CSV_ARGS = [
    "data=csv",
    "data.sep='\\t'",
    "data.text_col=SMS",
    "data.label_col=Label",
    "data.label_map={ham: 0, spam: 1}",
]


def test_tab_separator_override_is_unescaped(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "sms.tsv")
    df = load_dataset(
        DataSpec(
            path=str(path),
            sep="\\t",
            text_col="SMS",
            label_col="Label",
            id_col=None,
            label_map={"ham": 0, "spam": 1},
        )
    )
    assert len(df) == 200 and set(df["label"]) == {0, 1}


@pytest.mark.slow  # ~40 s on 2 cores: keeps `make test` under 10 min; CI runs it
def test_generic_csv_train_and_baselines(tiny_bert: Path, tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "sms.tsv")
    run_dir = tmp_path / "run"
    overrides = [o for o in tiny_overrides(tiny_bert, data) if not o.startswith("data.path")]
    res = run_cli(
        [
            "train.py",
            *CSV_ARGS,
            f"data.path={data}",
            *overrides,
            "freeze=all",
            f"hydra.run.dir={run_dir}",
        ],
        REPO_ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["data"]["name"] == "csv" and m["data"]["n_rows"] == 200
    base = tmp_path / "baselines"
    res = run_cli(
        ["-m", "bertfreeze.cli.baselines", *CSV_ARGS, f"data.path={data}", f"hydra.run.dir={base}"],
        REPO_ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((base / "summary.json").read_text())["tfidf"]["accuracy_mean"] > 0.8
