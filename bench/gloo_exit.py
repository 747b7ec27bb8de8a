"""How often a spawned gloo worker aborts at exit, with and without ReleaseProcessGroup.

    python -m bench.gloo_exit --trials 40           # both arms, alternating; prints the counts

Each trial spawns two ranks that join a gloo group, all-reduce 20 times and return, as a
``ddp_spawn`` worker does after its fit. Without releasing the group, the interpreter's exit
tears it down and can abort the worker ("terminate called without an active exception",
SIGABRT). A reliability check, not a timing: nothing here is timed.
"""

from __future__ import annotations

import argparse
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bertfreeze.worker_exit import ReleaseProcessGroup

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, port: int, release: bool) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    t = torch.ones(1000)
    for _ in range(20):
        dist.all_reduce(t)
    dist.barrier()
    if release:
        ReleaseProcessGroup().teardown(None, None, "fit")


def aborted(release: bool) -> bool:
    """One two-rank spawn; True when a worker died (a signal or a non-zero exit)."""
    try:
        mp.start_processes(
            _worker, args=(_free_port(), release), nprocs=WORLD, start_method="spawn"
        )
    except mp.ProcessExitedException:
        return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40, help="spawns per arm (default 40)")
    args = ap.parse_args()
    counts = {False: 0, True: 0}
    for _ in range(args.trials):
        for release in (False, True):  # alternate, so load on the machine hits both arms alike
            counts[release] += aborted(release)
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, CPU capability {cpu}, {os.cpu_count()} CPUs")
    for release in (False, True):
        label = "group released " if release else "group left alive"
        print(f"{label}: {counts[release]} of {args.trials} spawns aborted")


if __name__ == "__main__":
    main()
