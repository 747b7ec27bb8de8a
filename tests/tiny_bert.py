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
