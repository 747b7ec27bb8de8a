"""A tiny random BERT and a small generated dataset: the real code path, no network.

The tokenizer is a WordPiece vocabulary trained with ``tokenizers`` on the generated texts;
the model is saved with ``save_pretrained`` and loaded back through ``model.pretrained=``.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
POS = ["fire", "flood", "earthquake", "storm", "crash", "evacuate", "wildfire", "explosion"]
NEG = ["pizza", "music", "movie", "party", "coffee", "weekend", "game", "shopping"]
FILLER = ["the", "a", "is", "so", "today", "my", "in", "we", "just", "saw", "lol", "near", "town"]


def make_texts(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` tweets-like rows (id, keyword, location, text, target) with a learnable signal."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = int(rng.random() < 0.43)
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        words += rng.choices(POS if label else NEG, k=rng.randint(1, 2))
        if rng.random() < 0.1:  # label noise
            words += rng.choices(NEG if label else POS, k=1)
        rng.shuffle(words)
        rows.append(
            {
                "id": i * 3 + 1,
                "keyword": "",
                "location": "",
                "text": " ".join(words),
                "target": label,
            }
        )
    return pd.DataFrame(rows)


def build_tiny_bert(out_dir: Path, texts: list[str], layers: int = 4, hidden: int = 32) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        # >= data.max_length's default (128): a longer max_length than the model's positions
        # is refused before training (bertfreeze.config_checks)
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.csv"
    make_texts(240).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    texts = pd.read_csv(tiny_data)["text"].tolist()
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), texts)


@pytest.fixture()
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private feature cache per test."""
    monkeypatch.setenv("BERTFREEZE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tiny_overrides(model_dir: Path, data: Path) -> list[str]:
    """Overrides that make a run take seconds on the tiny model."""
    return [
        f"model.pretrained={model_dir}",
        "model.name=tiny",
        "model.pooling=cls",
        f"data.path={data}",
        "data.batch_size=16",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "trainer.deterministic=true",
        "trainer.log_every_n_steps=1",
    ]


def run_cli(
    args: list[str], cwd: Path, env_extra: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    env = {**os.environ, "BERTFREEZE_QUIET": "1", **(env_extra or {})}
    env.pop("BERTFREEZE_DATA", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def kill_mid_sweep_then_rerun(
    train_args: list[str], sweep: Path, cache: Path, n_jobs: int
) -> tuple[dict[str, int], subprocess.CompletedProcess, list[dict]]:
    """Start ``python train.py -m ...`` (``train_args``), SIGKILL its process group once one run
    has completed and another has a ``last.ckpt`` but no metrics, then rerun the same command.

    Returns the runs completed before the kill (name -> metrics.json mtime), the rerun's result
    and every metrics.json afterwards; asserts the kill landed mid-sweep and the rerun succeeded.
    """
    import json
    import signal
    import time

    args = [sys.executable, *train_args]
    env = {**os.environ, "BERTFREEZE_QUIET": "1", "BERTFREEZE_CACHE": str(cache)}
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            done = list(sweep.glob("*/metrics.json"))
            mid = [
                p
                for p in sweep.glob("*/checkpoints/last.ckpt")
                if not (p.parent.parent / "metrics.json").exists()
            ]
            if done and mid:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/metrics.json")}
    assert 1 <= len(before) < n_jobs, "the kill should land mid-sweep"
    res = run_cli(train_args, REPO, {"BERTFREEZE_CACHE": str(cache)})
    assert res.returncode == 0, res.stderr[-3000:]
    for name, mtime in before.items():  # never trained twice after completing
        assert (sweep / name / "metrics.json").stat().st_mtime_ns == mtime
    assert res.stdout.count("skip (already completed") == len(before)
    assert not list(sweep.glob("*/checkpoints/*.ckpt"))  # cleaned up after completion
    metrics = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    return before, res, metrics


def train_in_process(overrides: list[str], run_dir: Path) -> dict:
    """One training run in this process (no subprocess start-up: seconds instead of tens),
    with the ``.hydra/config.yaml`` Hydra's runtime would write (``make predict`` reads it)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from bertfreeze.paths import CONF_DIR
    from bertfreeze.train_task import train

    args = [*overrides, f"hydra.run.dir={run_dir}", f"paths.output_dir={run_dir}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=args, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(task, run_dir / ".hydra" / "config.yaml")
    metrics = train(cfg, run_dir)
    assert metrics is not None and metrics["status"] == "completed"
    return metrics
