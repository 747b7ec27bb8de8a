"""Distributed ranks release their process group themselves, before the interpreter exits."""

from __future__ import annotations

import atexit
from typing import Any

import torch.distributed as dist
from lightning.pytorch.callbacks import Callback

_EXIT_HOOK_REGISTERED = False


def destroy_process_group() -> None:
    """Destroy the default process group if one is up (safe to call twice)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class ReleaseProcessGroup(Callback):
    """Destroy the gloo/nccl process group when a ``ddp_spawn`` worker's fit ends
    (``when="fit_end"``), or at the exit of a rank that keeps it across stages (``when="exit"``:
    ``strategy=ddp``, whose validate/test reuse the fit's group).

    Why: Lightning leaves the group alive (its exit hook covers nccl only), so the group is torn
    down by the interpreter's own exit, where gloo's threads can abort the process after a
    finished run ("terminate called without an active exception", SIGABRT):
    ``python -m bench.gloo_exit`` counts how often (two-rank spawns: 7 of 40 on 2 EPYC cores
    and 4 of 40 on 2 Xeon cores, 0 of 40 with the group released; ``--launch subprocess``,
    ranks in fresh interpreters that exit normally as ``strategy=ddp``'s do: 7 of 120 on the
    Xeon, 0 of 120 with the exit hook; outputs in bench/results/gloo_exit/). Nothing after
    ``teardown`` in a spawned worker talks to the other rank (rank 0 only pickles its weights
    back). Without a process group it does nothing, so single-process runs carry it for free.
    """

    def __init__(self, when: str = "fit_end") -> None:
        if when not in ("fit_end", "exit"):
            raise ValueError(f"when must be 'fit_end' or 'exit', not {when!r}")
        self.when = when

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        global _EXIT_HOOK_REGISTERED
        live = dist.is_available() and dist.is_initialized()
        if self.when == "exit" and live and not _EXIT_HOOK_REGISTERED:
            atexit.register(destroy_process_group)  # runs before the interpreter's teardown
            _EXIT_HOOK_REGISTERED = True

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.when == "fit_end":
            destroy_process_group()
