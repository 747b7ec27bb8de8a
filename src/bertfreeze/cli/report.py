"""`make report`: tables, figures, statistical tests and report.md from finished runs.

python -m bertfreeze.cli.report sweep_dir=outputs/sweeps/paper out_dir=outputs/report
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bertfreeze.cli.common import run_cli, user_error_exit
from bertfreeze.paths import CONF_DIR
from bertfreeze.report import build_report


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="report")
@user_error_exit
def main(cfg: DictConfig) -> None:
    result = build_report(
        cfg.sweep_dir,
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
    run_cli(main)  # a config Hydra cannot compose exits 2, like any user error
