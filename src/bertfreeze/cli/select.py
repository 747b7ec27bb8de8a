"""`make select`: validation-only hyper-parameter choice from a selection sweep.

python -m bertfreeze.cli.select sweep_dir=outputs/sweeps/select_peft_lr-minilm-tweets param=lr
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bertfreeze.cli.common import run_cli, user_error_exit
from bertfreeze.paths import CONF_DIR
from bertfreeze.selection import format_choices, write_selection


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="select")
@user_error_exit
def main(cfg: DictConfig) -> None:
    choices = write_selection(cfg.sweep_dir, str(cfg.param), cfg.out_dir, str(cfg.metric))
    print(format_choices(choices, str(cfg.metric)))
    print(f"wrote {len(choices)} file(s) to {cfg.out_dir}/<freeze>_{cfg.param}.csv")


if __name__ == "__main__":
    run_cli(main)
