"""Shared pytest fixtures. Each owner keeps their fixtures in their own marked section."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# ---------------------------------------------------------------------------------------------
# Isolation: what one in-process test does to global logging must not reach the next
# ---------------------------------------------------------------------------------------------


def _named_loggers() -> dict[str, logging.Logger]:
    return {
        name: lg
        for name, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }


@pytest.fixture(autouse=True)
def _restore_logging_state():
    """Every existing logger's level, handlers and propagation come back after each test.

    Why: in-process entry points (``bench.trainer_sweep.cli`` silences the libraries at ERROR)
    change process-wide logging, and a later test that relies on Lightning's INFO then fails only
    in the full suite's order (CI, 2026-11-28: test_console after test_bench).
    """
    root = logging.getLogger()
    saved = {
        name: (lg.level, lg.handlers[:], lg.propagate) for name, lg in _named_loggers().items()
    }
    root_saved = (root.level, root.handlers[:])
    yield
    for name, (level, handlers, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate = propagate
    root.setLevel(root_saved[0])
    root.handlers[:] = root_saved[1]


# ---------------------------------------------------------------------------------------------
# Data, splits and baselines fixtures (owner: data/splits/baselines)
# ---------------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]

POSITIVE_WORDS = [
    "fire",
    "flood",
    "earthquake",
    "storm",
    "evacuate",
    "wildfire",
    "crash",
    "explosion",
    "rescue",
    "damage",
]
NEGATIVE_WORDS = [
    "lunch",
    "movie",
    "happy",
    "music",
    "coffee",
    "game",
    "party",
    "weekend",
    "shopping",
    "birthday",
]
FILLER_WORDS = [
    "the",
    "today",
    "people",
    "just",
    "saw",
    "my",
    "really",
    "this",
    "city",
    "news",
    "time",
    "video",
    "new",
    "look",
    "wow",
]


def synthetic_tweets(n: int = 300, seed: int = 0, positive_rate: float = 0.43) -> pd.DataFrame:
    """Tweet-like rows (id, keyword, location, text, target) with a learnable but noisy signal.

    Each text holds two class words (15% of them drawn from the other class) and filler words,
    so a bag-of-words model scores well above chance but below 100%.
    """
    rng = np.random.default_rng(seed)
    n_pos = round(n * positive_rate)
    labels = np.array([1] * n_pos + [0] * (n - n_pos))
    rng.shuffle(labels)
    rows = []
    for i, y in enumerate(labels):
        own, other = (POSITIVE_WORDS, NEGATIVE_WORDS) if y else (NEGATIVE_WORDS, POSITIVE_WORDS)
        words = [str(rng.choice(own if rng.random() > 0.15 else other)) for _ in range(2)]
        words += [str(w) for w in rng.choice(FILLER_WORDS, size=int(rng.integers(3, 7)))]
        rng.shuffle(words)
        rows.append(
            {
                "id": str(1000 + i),
                "keyword": str(rng.choice(own)),
                "location": "",
                "text": " ".join(words).capitalize() + rng.choice([".", "!", " #news", ""]),
                "target": int(y),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def make_synthetic() -> Callable[..., pd.DataFrame]:
    """The :func:`synthetic_tweets` generator (import-free access from test modules)."""
    return synthetic_tweets


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """A 300-row synthetic tweets CSV in the Kaggle train.csv layout."""
    path = tmp_path / "synthetic.csv"
    synthetic_tweets(300).to_csv(path, index=False)
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """``write_file(name, content)``: a text (UTF-8, written as is) or bytes file in tmp_path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
        return path

    return _write


def in_ci() -> bool:
    """CI=true (GitHub Actions, GitLab, most CI systems set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail_in_ci(reason: str) -> None:
    """Skip a real-data test whose data is missing; in CI fail instead, so a green CI run
    cannot hide that every real-data test was skipped."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: real-data tests must run, not skip)")
    pytest.skip(reason)


def _real_file(var: str) -> Path | None:
    value = os.environ.get(var)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.exists() else None


@pytest.fixture
def real_data_path() -> Path:
    """The real tweets train.csv from BERTFREEZE_DATA; skips when unset or missing."""
    path = _real_file("BERTFREEZE_DATA")
    if path is None or not path.is_file():
        skip_or_fail_in_ci("BERTFREEZE_DATA is unset or does not point at the tweets train.csv")
    return path


@pytest.fixture
def paper_ref_dir() -> Path:
    """The paper-reference folder from BERTFREEZE_PAPER_REF; skips when unset or missing."""
    path = _real_file("BERTFREEZE_PAPER_REF")
    if path is None or not (path / "holdout_ids.csv").is_file():
        skip_or_fail_in_ci("BERTFREEZE_PAPER_REF is unset or lacks holdout_ids.csv")
    return path


@pytest.fixture
def sms_data_path() -> Path:
    """The SMS Spam Collection TSV from BERTFREEZE_SMS_DATA; skips (fails in CI) when missing."""
    path = _real_file("BERTFREEZE_SMS_DATA")
    if path is None or not path.is_file():
        skip_or_fail_in_ci("BERTFREEZE_SMS_DATA is unset or does not point at the SMS TSV")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for CLI subprocesses: quiet, no debug tracebacks, repo src importable."""
    env = dict(os.environ)
    env.pop("BERTFREEZE_DEBUG", None)
    env["BERTFREEZE_QUIET"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(module, *overrides)``: run ``python -m module overrides`` in tmp_path."""

    def _run(module: str, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *overrides],
            cwd=tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run


# ---------------------------------------------------------------------------------------------
# (other owners: add your fixtures below in your own section)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Tiny random BERT fixtures (owner: training) — defined in tiny_bert.py, registered here
# ---------------------------------------------------------------------------------------------
from tiny_bert import cache_env, tiny_bert, tiny_data  # noqa: E402, F401
