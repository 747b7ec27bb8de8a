"""`make predict`: a Kaggle submission (``id,target``) and probabilities from a run or a sweep.

python -m bertfreeze.cli.predict run_dir=outputs/sweeps/minilm-tweets input=data/test.csv output=submission.csv
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bertfreeze import runs
from bertfreeze.cli.common import hydra_output_dir, run_cli, user_error_exit
from bertfreeze.console import route_library_logs
from bertfreeze.errors import UserError
from bertfreeze.paths import CONF_DIR
from bertfreeze.predict import predict
from bertfreeze.settings import truthy

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    if OmegaConf.is_missing(cfg, "run_dir"):
        raise UserError(
            "run_dir is required: python -m bertfreeze.cli.predict run_dir=<run or sweep dir> "
            "input=data/test.csv output=submission.csv"
        )
    route_library_logs()  # Lightning's GPU/TPU lines and tips off the console; warnings stay
    out_dir = hydra_output_dir() or Path.cwd()
    output = cfg.get("output") or out_dir / "submission.csv"
    quiet = truthy(cfg.get("quiet", False))
    summary = predict(
        run_dir=str(cfg.run_dir),
        input_path=str(cfg.input),
        output=str(output),
        select_metric=str(cfg.select_metric),
        batch_size=int(cfg.batch_size),
        threshold=float(cfg.threshold),
        device=str(cfg.device),
        id_col=cfg.get("id_col", "auto"),
        quiet=quiet,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(out_dir / "predict.json", summary)
    print(summary["reason"])
    print(
        f"wrote {summary['n_rows']} predictions ({100 * summary['positive_rate']:.1f}% target=1 at "
        f"threshold {summary['threshold']}) to {summary['output']} and probabilities to "
        f"{summary['proba']}",
        flush=True,
    )
    sys.stdout.flush()
    return summary


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="predict")
@user_error_exit
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    # a bad config exits 2, like any user error; path values quoted for Hydra
    run_cli(main, path_keys=("run_dir", "input", "output"))
