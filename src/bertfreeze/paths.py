"""Where things live: the repository's conf/ folder and the default cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
CONF_DIR = REPO_ROOT / "conf"
# Where `make sweep` (python train.py -m with the default model and data) writes its runs:
# hydra.sweep.dir = outputs/sweeps/${name}, name = ${model.name}-${data.name} = minilm-tweets.
# `make report` without sweep_dir reads this sweep only (tests/test_report_defaults.py checks
# that it matches the composed config).
DEFAULT_SWEEP = "outputs/sweeps/minilm-tweets"


def repo_path(path: str | os.PathLike[str]) -> Path:
    """An absolute path as is; a relative one from the repository root, not the working
    directory (the notebook runs from notebooks/, a kernel from anywhere)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(os.path.normpath(REPO_ROOT / p))


def cache_dir() -> Path:
    """Feature/tokenisation cache root: $BERTFREEZE_CACHE or ~/.cache/bertfreeze."""
    from bertfreeze.settings import settings

    return settings().cache_dir
