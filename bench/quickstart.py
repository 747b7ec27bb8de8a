"""Time the quickstart end to end on this machine and record it for docs/benchmarks.md.

    python -m bench.quickstart               # = make quickstart, timed; one JSON per CPU kind
    python -m bench.quickstart ARGS...       # Hydra overrides passed through to the quickstart

Why: the quickstart's 20-minute budget must hold on CPUs without native bf16 too, so the page
lists the measured wall time per CPU kind (model, ``get_cpu_capability()``, native bf16, cores)
with the precision that ran and the commit — from a cold start (an empty output folder and an
empty ``BERTFREEZE_CACHE``, as on a newcomer's first run) — one file per kind in
``bench/results/quickstart/``, rendered by ``python -m bench.render``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.render import REPO, RESULTS, SCHEMA


def main(argv: list[str] | None = None) -> int:
    from bench.run import cpu_record, git_state, machine_stem
    from bertfreeze.precision import resolve_precision

    args = sys.argv[1:] if argv is None else argv
    choice = resolve_precision("auto", "cpu")
    git = git_state()
    # what a newcomer's first run meets: no earlier quickstart to resume, no cached prefix or
    # tokens (a warm rerun skips its finished runs and would time almost nothing)
    with tempfile.TemporaryDirectory(prefix="bertfreeze-quickstart-") as tmp:
        env = {
            **os.environ,
            "BERTFREEZE_QUICKSTART_DIR": str(Path(tmp) / "outputs"),
            "BERTFREEZE_CACHE": str(Path(tmp) / "cache"),
        }
        start = time.perf_counter()
        rc = subprocess.run(
            [sys.executable, "-m", "bertfreeze.cli.quickstart", *args],
            cwd=REPO,
            env=env,
            check=False,
        ).returncode
        wall = time.perf_counter() - start
    if rc != 0:
        print(f"error: the quickstart failed (exit {rc}); nothing recorded", file=sys.stderr)
        return rc
    cpu = cpu_record(choice)
    record = {
        "schema": SCHEMA,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "git": git,
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "precision": choice.as_record(),
        "wall_s": round(wall, 1),
        "cold": True,  # empty output folder and empty BERTFREEZE_CACHE
        "args": list(args),
    }
    path = RESULTS / "quickstart" / f"{machine_stem(choice)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"quickstart: {wall / 60:.1f} min on {cpu['model']} ({cpu['capability']}) -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
