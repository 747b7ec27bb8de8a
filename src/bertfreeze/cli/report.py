"""`make report`: tables, figures, statistical tests and report.md from finished runs.

python -m bertfreeze.cli.report sweep_dir=outputs/sweeps/paper out_dir=outputs/report
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from bertfreeze.cli.common import run_cli, user_error_exit
from bertfreeze.errors import UserError
from bertfreeze.paths import CONF_DIR, DEFAULT_SWEEP
from bertfreeze.report import build_report


def resolve_sweep_dir(sweep_dir: str | None) -> str:
    """The sweep to report on; without sweep_dir, the default sweep only, and say so.

    Why not everything under outputs/: a quickstart and an unrelated study would be pooled
    into one report and one Holm family.
    """
    if sweep_dir:
        return str(sweep_dir)
    if not Path(DEFAULT_SWEEP).is_dir():
        found = sorted(
            str(p) for p in [*Path("outputs/sweeps").glob("*"), Path("outputs/quickstart/sweep")]
        )
        found = [f for f in found if Path(f).is_dir()]
        hint = f" — found: {', '.join(found)}" if found else " — run `make sweep` first"
        raise UserError(
            f"no sweep_dir given and the default sweep {DEFAULT_SWEEP} does not exist; pass "
            f"sweep_dir=<folder of a sweep>{hint}"
        )
    print(
        f"report: sweep_dir not given, reading the default sweep {DEFAULT_SWEEP} (`make sweep`) "
        "only; pass sweep_dir=... for another"
    )
    return DEFAULT_SWEEP


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="report")
@user_error_exit
def main(cfg: DictConfig) -> None:
    result = build_report(
        resolve_sweep_dir(cfg.sweep_dir),
        cfg.out_dir,
        cfg.baselines_dir,
        find_baselines=bool(cfg.get("find_baselines", True)),
        metrics=list(cfg.metrics),
        alpha=float(cfg.alpha),
        power=float(cfg.power),
        n_boot=int(cfg.n_boot),
        seed=int(cfg.seed),
    )
    print(result.summary)


if __name__ == "__main__":
    # a bad config exits 2, like any user error; path values quoted for Hydra
    run_cli(main, path_keys=("sweep_dir", "baselines_dir", "out_dir"))
