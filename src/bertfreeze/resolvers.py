"""OmegaConf resolvers used by conf/ (registered on import of the package)."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def register() -> None:
    if not OmegaConf.has_resolver("bf_dirname"):
        # An empty override list would make the run dir the parent of its siblings.
        OmegaConf.register_new_resolver("bf_dirname", lambda s: s or "default")
    if not OmegaConf.has_resolver("not"):
        OmegaConf.register_new_resolver("not", lambda v: not truthy(v))
