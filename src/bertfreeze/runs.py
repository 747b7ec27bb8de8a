"""Run bookkeeping: config hashes, the run-directory lifecycle, run discovery, sweep summaries.

A run directory holds ``status.json`` while running or after a failure, and ``metrics.json``
only once the run completed — so nothing half-written is ever mistaken for a result.

Lifecycle (every transition is one function here, nothing else writes ``status.json``)::

    start ──> running ──> completed            mark_running / mark_completed
      │          │──────> failed               mark_failed
      │          └──(killed: pid gone)──> interrupted   (read-side: run_state)
      ├─ skip         same config completed    completed_metrics + mark_skipped
      ├─ supersede    other config completed   supersede
      └─ resume       same config, readable last.ckpt
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bertfreeze.atomic import write_json_atomic
from bertfreeze.hashing import digest
from bertfreeze.schema import RunRecord

__all__ = ["write_json_atomic"]  # re-exported: runs.write_json_atomic is used widely

#: THE list of keys that say where or how loudly a run happens, not what it computes. The config
#: hash leaves them out, Hydra leaves them out of run-folder names (conf/hydra/default.yaml reads
#: ``${bf_exclude_keys:}``) and the report never groups runs by them.
NON_RECIPE_KEYS = (
    "paths",
    "hydra",
    "name",
    "quiet",
    "skip_completed",
    "reuse_from",
    "keep_weights",
    "score_test",
    "logger",
    "trainer.enable_progress_bar",
    "trainer.default_root_dir",
)
#: Recipe keys (hashed: the data by content, the rest by value) that still never name a run
#: folder: where the data or backbone lives, on which device, how many parallel jobs.
UNNAMED_RECIPE_KEYS = (
    "data.path",
    "model.pretrained",
    "trainer.accelerator",
    "trainer.deterministic",
    "trainer.log_every_n_steps",
    "cache.dtype",
    "hydra.launcher.n_jobs",
)


def folder_exclude_keys() -> list[str]:
    """Hydra's ``override_dirname.exclude_keys``: overrides that do not name a run folder."""
    return [*NON_RECIPE_KEYS, *UNNAMED_RECIPE_KEYS]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def flatten(d: Mapping[str, Any], prefix: str = "", lists_as_json: bool = False) -> dict[str, Any]:
    """Dotted keys -> scalar values; ``lists_as_json`` makes list values hashable strings."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + ".", lists_as_json))
        elif lists_as_json and isinstance(v, list | tuple):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def recipe(cfg: DictConfig, data_sha256: str | None = None) -> dict[str, Any]:
    """The resolved config minus where-and-how keys; the data path replaced by its content hash."""
    skip_trainer = tuple(
        k.removeprefix("trainer.") for k in NON_RECIPE_KEYS if k.startswith("trainer.")
    )
    container: dict[str, Any] = {}
    for key in cfg:
        if key in NON_RECIPE_KEYS:
            continue
        node = cfg[key]
        if key == "trainer":
            node = {k: node[k] for k in node if k not in skip_trainer}
            container[key] = OmegaConf.to_container(OmegaConf.create(node), resolve=True)
        elif isinstance(node, DictConfig):
            container[str(key)] = OmegaConf.to_container(node, resolve=True)
        else:
            container[str(key)] = node
    _prune_locations(container)
    if data_sha256 is not None and isinstance(container.get("data"), dict):
        container["data"]["path"] = f"sha256:{data_sha256}"
    return container


LOCATION_KEYS = {"dirpath", "save_dir", "default_root_dir", "tracking_uri"}


def _prune_locations(node: Any) -> None:
    """Drop output locations (checkpoint dirs, logger dirs) from a recipe, in place."""
    if isinstance(node, dict):
        for key in [k for k in node if k in LOCATION_KEYS]:
            node.pop(key)
        for value in node.values():
            _prune_locations(value)


def config_hash(recipe_dict: dict[str, Any]) -> str:
    return digest(recipe_dict)[:12]


#: Recipe keys that only label a run: how it is named and grouped, never what it trains
#: (``freeze.k`` acts only through ``freeze.layers``, which stays in). Two runs whose flattened
#: recipes differ only here train identically, e.g. ``freeze=top_k freeze.k=2`` and ``last2``.
LABEL_KEYS = ("experiment_name", "freeze.name", "freeze.k")


def training_key(flat_recipe: Mapping[str, Any]) -> str:
    """Hash of what a run trains: its flattened recipe (``metrics.json``'s ``config``) without
    :data:`LABEL_KEYS`. Equal keys mean equal results, so a finished run can stand in."""
    return digest({k: v for k, v in flat_recipe.items() if k not in LABEL_KEYS})


def find_identical(pools: Iterable[Path], flat_recipe: Mapping[str, Any]) -> Path | None:
    """The first completed run under ``pools`` that trains exactly what ``flat_recipe`` does."""
    key = training_key(flat_recipe)
    for pool in pools:
        for run_dir in iter_run_dirs(Path(pool)) if Path(pool).is_dir() else ():
            record = RunRecord.read(run_dir)
            config = record.fields.get("config") if record else None
            scored = bool(record and record.fields.get("test"))  # not a score_test=false run
            if scored and isinstance(config, Mapping) and training_key(config) == key:
                return run_dir
    return None


#: The files of a finished run that stand for it (the rest are logs and checkpoints).
ADOPTED_FILES = ("predictions.csv", "trainable.safetensors")


def adopt(run_dir: Path, source: Path, chash: str, labels: Mapping[str, Any]) -> dict[str, Any]:
    """Record ``source``'s finished run as this run (same training, other labels) instead of
    training again: its predictions and weights are copied, its ``metrics.json`` is rewritten
    with this run's ``labels`` (config_hash, config, freeze, experiment, run_dir) and says
    where it came from in ``reused_from``; ``wall_time_s`` stays what the run really took."""
    record = RunRecord.read(source)
    if record is None:
        raise FileNotFoundError(f"{source} holds no completed run to reuse")
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ADOPTED_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, run_dir / name)
    fields = {**record.as_dict(), **labels, "config_hash": chash, "reused_from": _shown(source)}
    RunRecord(fields).write(run_dir)
    _write_status(run_dir, "completed", config_hash=chash, reused_from=fields["reused_from"])
    return fields


def _shown(path: Path) -> str:
    """A run folder as a reader should see it: relative to the working directory when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that shape results (read from metadata, no imports)."""
    import bertfreeze

    out = {"bertfreeze": bertfreeze.__version__}
    for name in ("torch", "transformers", "lightning", *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    out["platform"] = platform.platform()
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ----------------------------------------------------------------------------- lifecycle
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
#: What Hydra itself puts in a job folder; a folder holding only these never started a run.
HYDRA_OWN = {".hydra", "main.log", "train.log", "baselines.log", "report.log"}


def completed_metrics(run_dir: Path) -> dict[str, Any] | None:
    record = RunRecord.read(run_dir)
    return record.as_dict() if record else None


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / STATUS_FILE) or {}


def _write_status(run_dir: Path, status: str, **fields: Any) -> None:
    write_json_atomic(
        run_dir / STATUS_FILE, {"status": status, **fields, "updated_at": round(time.time(), 3)}
    )


def mark_running(run_dir: Path, chash: str, resume_command: str | None = None) -> None:
    """Record who runs this config (pid + host), so a later reader can tell a live run from one
    that was killed, and the command that resumes it."""
    _write_status(
        run_dir,
        "running",
        config_hash=chash,
        pid=os.getpid(),
        host=socket.gethostname(),
        resume_command=resume_command,
    )


def mark_completed(run_dir: Path, chash: str) -> None:
    _write_status(run_dir, "completed", config_hash=chash)


def mark_skipped(run_dir: Path, chash: str) -> None:
    """A rerun found this config completed: refresh the status so the sweep counts it as its own."""
    _write_status(run_dir, "completed", config_hash=chash, skipped=True)


def mark_failed(run_dir: Path, exc: BaseException) -> None:
    """Leave a status file saying why (the sweep goes on; the summary counts it)."""
    old = read_status(run_dir)
    _write_status(
        run_dir,
        "failed",
        error=f"{type(exc).__name__}: {exc}",
        config_hash=old.get("config_hash"),
        resume_command=old.get("resume_command"),
        traceback=traceback.format_exc(),
    )


def supersede(run_dir: Path, old_hash: str) -> Path:
    """Move an older run's results aside (a config change is a new run, never a silent reuse)."""
    dest = run_dir / ".superseded" / old_hash
    dest.mkdir(parents=True, exist_ok=True)
    for p in list(run_dir.iterdir()):
        if p.name in {".superseded", ".hydra"} or p.suffix == ".log":
            continue
        shutil.move(str(p), str(dest / p.name))
    return dest


def discard_if_empty(path: Path | None) -> bool:
    """Delete a run dir that holds nothing but Hydra's own bookkeeping (a run that never
    started), so a failed step leaves no empty ``outputs/...`` folder behind. True if removed."""
    if path is None or not path.is_dir():
        return False
    if all(p.name in HYDRA_OWN or p.suffix == ".log" for p in path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)
        return True
    return False


def abandon_start(run_dir: Path) -> None:
    """Undo a start that failed before any training: drop our "running" mark, then the folder
    if nothing else is in it (earlier results of the same folder stay untouched)."""
    status = read_status(run_dir)
    if status.get("status") == "running" and status.get("pid") in (os.getpid(), None):
        (run_dir / STATUS_FILE).unlink(missing_ok=True)
    discard_if_empty(run_dir)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except (OSError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class RunState:
    """What a run folder says about itself. ``state``: completed | failed | running |
    interrupted (status "running" but its process is gone) | unreadable."""

    run_dir: Path
    state: str
    status: dict[str, Any]

    @property
    def updated_at(self) -> float | None:
        value = self.status.get("updated_at")
        return float(value) if isinstance(value, int | float) else None

    @property
    def error(self) -> str:
        err = str(self.status.get("error") or "").strip().splitlines()
        return err[0] if err else "?"

    @property
    def resume_command(self) -> str | None:
        cmd = self.status.get("resume_command")
        return str(cmd) if cmd else None


def run_state(run_dir: Path) -> RunState:
    """The run's state; a "running" status whose process no longer exists on this host is
    *interrupted* (Ctrl-C, SIGKILL, a cluster timeout) — never a failure of a later sweep."""
    if completed_metrics(run_dir) is not None:
        return RunState(run_dir, "completed", read_status(run_dir))
    status = read_json(run_dir / STATUS_FILE)
    if not isinstance(status, dict):
        return RunState(run_dir, "unreadable", {})
    state = str(status.get("status", "unreadable"))
    if state == "running":
        pid, host = status.get("pid"), status.get("host")
        # no pid (written by an older version) or another host: cannot tell, stays "running"
        if pid is not None and host == socket.gethostname() and not pid_alive(int(pid)):
            state = "interrupted"
    elif state not in ("completed", "failed"):
        state = "unreadable"
    return RunState(run_dir, state, status)


def iter_run_dirs(root: Path) -> Iterator[Path]:
    """Every run folder under ``root`` (itself included): one holding metrics.json or
    status.json. Hidden folders (.superseded, .hydra, .submitit), logger folders and baselines
    folders (folds.csv) are skipped. The one run discovery of train, report and predict."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in ("__pycache__", "csv")
        )
        names = set(filenames)
        if "folds.csv" in names:
            dirnames[:] = []
            continue
        if METRICS_FILE in names or STATUS_FILE in names:
            yield Path(dirpath)
            dirnames[:] = []


def resume_command(
    overrides: Iterable[str], multirun: bool, sweep_dir: str | None, run_dir: str
) -> str:
    """The command that continues this run where it stopped (its checkpoint is kept)."""
    args = [shlex.quote(o) for o in overrides]
    if multirun:
        return " ".join(["python train.py -m", shlex.quote(f"hydra.sweep.dir={sweep_dir}"), *args])
    return " ".join(["python train.py", shlex.quote(f"hydra.run.dir={run_dir}"), *args])


@dataclass
class SweepCount:
    """The runs of one sweep folder, split into this sweep's own jobs and the others."""

    own: dict[str, list[RunState]]
    others: list[RunState]

    @property
    def failed(self) -> list[RunState]:
        return (
            self.own.get("failed", [])
            + self.own.get("unreadable", [])
            + self.own.get("interrupted", [])
            + self.own.get("running", [])
        )


def count_sweep(sweep_dir: Path, since: float | None) -> SweepCount:
    """Classify the run folders of ``sweep_dir``; with ``since`` only folders whose status was
    written at or after it (this sweep's jobs: they start, skip, fail or complete) are "own"."""
    own: dict[str, list[RunState]] = {}
    others: list[RunState] = []
    for run_dir in iter_run_dirs(sweep_dir):
        st = run_state(run_dir)
        mine = since is None or (st.updated_at is not None and st.updated_at >= since)
        if mine:
            own.setdefault(st.state, []).append(st)
        elif st.state in ("interrupted", "running"):
            others.append(st)
    return SweepCount(own, others)


class SweepSummaryCallback(Callback):
    """After a multirun: count *this sweep's* completed/failed/interrupted jobs and exit non-zero
    if one of them did not complete. Runs left by other commands in the same folder (e.g. an
    interrupted run of another recipe) are listed with their resume command, never counted."""

    def __init__(self) -> None:
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 1.0  # status times are rounded; a little slack

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        count = count_sweep(sweep_dir, self.started)
        done = len(count.own.get("completed", []))
        failed = count.failed
        n_int = len([s for s in failed if s.state in ("interrupted", "running")])
        n_fail = len(failed) - n_int
        extra = f", {n_int} interrupted" if n_int else ""
        print(f"sweep {sweep_dir}: {done} completed, {n_fail} failed{extra}", file=sys.stderr)
        for st in failed:
            if st.state in ("interrupted", "running"):
                how = f" — resume: {st.resume_command}" if st.resume_command else ""
                print(f"  interrupted: {st.run_dir.name}{how}", file=sys.stderr)
            else:
                print(f"  failed: {st.run_dir.name}: {st.error}", file=sys.stderr)
        for st in count.others:
            how = f" — resume: {st.resume_command}" if st.resume_command else ""
            print(f"  not part of this sweep ({st.state}): {st.run_dir.name}{how}", file=sys.stderr)
        if failed:
            sys.exit(1)
