"""Where things live: the repository's conf/ folder and the default cache."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
CONF_DIR = REPO_ROOT / "conf"


def cache_dir() -> Path:
    """Feature/tokenisation cache root: $BERTFREEZE_CACHE or ~/.cache/bertfreeze."""
    from bertfreeze.settings import settings

    return settings().cache_dir
