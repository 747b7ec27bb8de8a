"""Run bookkeeping: config hashes, atomic result files, status files, sweep summaries.

A run directory holds ``status.json`` while running or after a failure, and ``metrics.json``
only once the run completed — so nothing half-written is ever mistaken for a result.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bertfreeze.atomic import write_json_atomic
from bertfreeze.hashing import digest

# Keys that say where/how loudly a run happens, not what it computes.
__all__ = ["write_json_atomic"]  # re-exported: runs.write_json_atomic is used widely

NON_RECIPE_KEYS = ("paths", "hydra", "name", "quiet", "skip_completed", "keep_weights", "logger")


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
    skip_trainer = ("enable_progress_bar", "default_root_dir")
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


def completed_metrics(run_dir: Path) -> dict[str, Any] | None:
    m = read_json(run_dir / "metrics.json")
    return m if m and m.get("status") == "completed" else None


def supersede(run_dir: Path, old_hash: str) -> Path:
    """Move an older run's results aside (a config change is a new run, never a silent reuse)."""
    dest = run_dir / ".superseded" / old_hash
    dest.mkdir(parents=True, exist_ok=True)
    for p in list(run_dir.iterdir()):
        if p.name in {".superseded", ".hydra"} or p.suffix == ".log":
            continue
        shutil.move(str(p), str(dest / p.name))
    return dest


class SweepSummaryCallback(Callback):
    """After a multirun: count completed/failed/skipped jobs and exit non-zero if any failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        statuses: dict[str, list[str]] = {}
        for status_file in sorted(sweep_dir.glob("*/status.json")):
            st = read_json(status_file) or {"status": "unreadable"}
            statuses.setdefault(str(st.get("status")), []).append(status_file.parent.name)
        # "running" after the sweep ended means a job was killed (e.g. a cluster timeout)
        failed = (
            statuses.get("failed", [])
            + statuses.get("unreadable", [])
            + statuses.get("running", [])
        )
        done = len(statuses.get("completed", []))
        print(f"sweep {sweep_dir}: {done} completed, {len(failed)} failed", file=sys.stderr)
        for name in failed:
            err = (read_json(sweep_dir / name / "status.json") or {}).get("error", "?")
            print(f"  failed: {name}: {str(err).splitlines()[0] if err else '?'}", file=sys.stderr)
        if failed:
            sys.exit(1)
