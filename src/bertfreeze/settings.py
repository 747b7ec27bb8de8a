"""Every ``BERTFREEZE_*`` environment variable, read in this one place with one rule for "true".

Code asks :func:`settings` (read afresh on each call, so a test's ``monkeypatch.setenv`` counts);
Hydra configs read the same values through the ``bf_env`` resolver. "True" is one of
``1 true yes on`` (any case); everything else — unset, empty, ``0``, ``false``, ``no`` — is false,
so ``BERTFREEZE_QUIET=false`` means the same everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

#: name -> what it does (docs/architecture.md and the README list the same).
VARIABLES: dict[str, str] = {
    "BERTFREEZE_DATA": "tweets train.csv (default data/train.csv)",
    "BERTFREEZE_SMS_DATA": "SMSSpamCollection.tsv for data=sms_spam",
    "BERTFREEZE_PAPER_REF": "folder with the paper's reference files (tests)",
    "BERTFREEZE_PAPER_HOLDOUT": "the paper's holdout ids for experiment=paper",
    "BERTFREEZE_CACHE": "feature/tokenisation cache root (default ~/.cache/bertfreeze)",
    "BERTFREEZE_QUIET": "true: no progress bars",
    "BERTFREEZE_DEBUG": "true: user errors show their traceback",
    "BERTFREEZE_TOKENIZER": "bert-base-uncased tokenizer folder for the GPU bench",
    "BERTFREEZE_SWEEP_DIR": "the notebook's sweep folder",
    "BERTFREEZE_BASELINES_DIR": "the notebook's baselines folder",
    "BERTFREEZE_REPORT_DIR": "the notebook's report folder",
    "BERTFREEZE_N_BOOT": "the notebook's bootstrap resamples",
}


def truthy(value: Any) -> bool:
    """The one truthiness rule for settings and config values given as strings."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def env(
    name: str, default: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """A ``BERTFREEZE_*`` variable's value; empty counts as unset."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a bertfreeze setting (add it to settings.VARIABLES)")
    value = (os.environ if environ is None else environ).get(name)
    return value if value else default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment's bertfreeze settings."""

    data: str | None
    sms_data: str | None
    paper_ref: str | None
    cache_dir: Path
    quiet: bool
    debug: bool
    tokenizer: str | None


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    def get(name: str) -> str | None:
        return env(name, None, environ)

    return Settings(
        data=get("BERTFREEZE_DATA"),
        sms_data=get("BERTFREEZE_SMS_DATA"),
        paper_ref=get("BERTFREEZE_PAPER_REF"),
        cache_dir=Path(get("BERTFREEZE_CACHE") or Path.home() / ".cache" / "bertfreeze"),
        quiet=truthy(get("BERTFREEZE_QUIET") or ""),
        debug=truthy(get("BERTFREEZE_DEBUG") or ""),
        tokenizer=get("BERTFREEZE_TOKENIZER"),
    )
