"""How often a gloo rank aborts at exit, with and without ReleaseProcessGroup.

    python -m bench.gloo_exit --trials 40                      # ddp_spawn-like workers
    python -m bench.gloo_exit --trials 40 --launch subprocess  # strategy=ddp-like ranks

Each trial starts two ranks that join a gloo group, all-reduce 20 times and finish, in one of
two ways. ``spawn`` (as a ``ddp_spawn`` worker after its fit): ``torch.multiprocessing``
workers whose function returns; the release arm destroys the group there
(``ReleaseProcessGroup(when="fit_end")``). ``subprocess`` (as the ranks of a ``strategy=ddp``
launch, which re-runs the command once per rank): two fresh interpreters that exit normally;
the release arm registers the exit hook (``ReleaseProcessGroup(when="exit")``). Without
releasing the group, the interpreter's exit tears it down and can abort a rank ("terminate
called without an active exception", SIGABRT). The two arms alternate, so load on the machine
hits both alike. A reliability check, not a timing: nothing here is timed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bertfreeze.worker_exit import ReleaseProcessGroup

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _join_and_reduce(rank: int, port: int) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    t = torch.ones(1000)
    for _ in range(20):
        dist.all_reduce(t)
    dist.barrier()


def _worker(rank: int, port: int, release: bool) -> None:
    _join_and_reduce(rank, port)
    if release:
        ReleaseProcessGroup().teardown(None, None, "fit")


def _rank_process(rank: int, port: int, release: bool) -> None:
    """One rank in its own interpreter (``--rank``); returns into a normal interpreter exit."""
    _join_and_reduce(rank, port)
    if release:
        ReleaseProcessGroup(when="exit").setup(None, None, "fit")


def _aborted_spawn(release: bool) -> bool:
    try:
        mp.start_processes(
            _worker, args=(_free_port(), release), nprocs=WORLD, start_method="spawn"
        )
    except mp.ProcessExitedException:
        return True
    return False


def _aborted_subprocess(release: bool) -> bool:
    port = _free_port()
    cmd = [sys.executable, "-m", "bench.gloo_exit", "--port", str(port)]
    flags = ["--release"] if release else []
    procs = [subprocess.Popen([*cmd, "--rank", str(r), *flags]) for r in range(WORLD)]
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=300))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return any(c != 0 for c in codes)


def aborted(release: bool, launch: str = "spawn") -> bool:
    """One two-rank launch; True when a rank died (a signal or a non-zero exit)."""
    return _aborted_subprocess(release) if launch == "subprocess" else _aborted_spawn(release)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40, help="launches per arm (default 40)")
    ap.add_argument(
        "--launch",
        choices=("spawn", "subprocess"),
        default="spawn",
        help="spawn: ddp_spawn-like workers (default); subprocess: strategy=ddp-like ranks",
    )
    ap.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)  # one rank's run
    ap.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--release", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rank is not None:
        _rank_process(args.rank, args.port, args.release)
        return
    counts = {False: 0, True: 0}
    for _ in range(args.trials):
        for release in (False, True):  # alternate, so load on the machine hits both arms alike
            counts[release] += aborted(release, args.launch)
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, CPU capability {cpu}, {os.cpu_count()} CPUs")
    print(f"launch: {args.launch}")
    for release in (False, True):
        label = "group released " if release else "group left alive"
        print(f"{label}: {counts[release]} of {args.trials} launches aborted")


if __name__ == "__main__":
    main()
