"""OmegaConf resolvers used by conf/ (registered on import of the package)."""

from __future__ import annotations

from omegaconf import OmegaConf

from bertfreeze.settings import env, truthy

__all__ = ["register", "truthy"]


def register() -> None:
    if not OmegaConf.has_resolver("bf_dirname"):
        # An empty override list would make the run dir the parent of its siblings.
        OmegaConf.register_new_resolver("bf_dirname", lambda s: s or "default")
    if not OmegaConf.has_resolver("not"):
        OmegaConf.register_new_resolver("not", lambda v: not truthy(v))
    if not OmegaConf.has_resolver("bf_env"):
        # ${bf_env:BERTFREEZE_X,default}: configs read settings through bertfreeze.settings
        OmegaConf.register_new_resolver("bf_env", lambda name, default=None: env(name, default))
    if not OmegaConf.has_resolver("bf_exclude_keys"):
        from bertfreeze.runs import folder_exclude_keys

        OmegaConf.register_new_resolver("bf_exclude_keys", folder_exclude_keys)
    if not OmegaConf.has_resolver("bf_truthy"):
        OmegaConf.register_new_resolver("bf_truthy", truthy)
    if not OmegaConf.has_resolver("bf_if_zero"):
        # ${bf_if_zero:${freeze.k},A,B}: A when k is 0, else B (the depth study's k=0 is a
        # linear probe, which takes freeze=all's head lr; deeper runs keep the shared one)
        OmegaConf.register_new_resolver(
            "bf_if_zero", lambda k, if_zero, otherwise: if_zero if int(k) == 0 else otherwise
        )
