"""Spawned DDP workers release their process group before they exit."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist
from lightning.pytorch.callbacks import Callback


class ReleaseProcessGroup(Callback):
    """Destroy the gloo/nccl process group when a ``ddp_spawn`` worker's fit ends.

    Why: Lightning leaves the group alive (its exit hook covers nccl only, and spawned workers
    end without it), so the group is torn down by the interpreter's own exit, where gloo's
    threads can abort the worker ("terminate called without an active exception", SIGABRT):
    ``python -m bench.gloo_exit`` counts how often (7 of 40 two-rank spawns on 2 EPYC cores,
    0 of 40 with the group released). Nothing
    after ``teardown`` in a worker talks to the other rank (rank 0 only pickles its weights back).
    Added only for strategies that spawn workers: a ``ddp`` launch keeps one group across stages.
    """

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
