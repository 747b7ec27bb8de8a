"""The console of a run: one informative line, library chatter routed to the run's log file."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from bertfreeze import console
from bertfreeze.epoch_line import EpochProgressLine


@pytest.fixture()
def clean_logging():
    """Save and restore the handlers, levels and propagation this test touches."""
    names = ["", *console.LIBRARY_LOGGERS, "lightning.pytorch.utilities.rank_zero"]
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
        )
        for n in names
    }
    root_level = logging.getLogger().level
    for n in names[1:]:  # what Lightning sets on import, whatever ran before in this process
        logging.getLogger(n).setLevel(logging.NOTSET)
    logging.getLogger("lightning.pytorch").setLevel(logging.INFO)
    yield
    for n, (handlers, propagate, level) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)
    logging.getLogger().setLevel(root_level)


def test_library_info_goes_to_the_log_file_only(tmp_path: Path, clean_logging: None) -> None:
    """Lightning's own stderr handler is removed; its INFO reaches the file, not the console;
    its warnings still reach both."""
    lib = logging.getLogger("lightning.pytorch")
    lib_stderr = io.StringIO()
    lib.addHandler(logging.StreamHandler(lib_stderr))  # what Lightning does on import
    lib.propagate = False
    root = logging.getLogger()
    screen = io.StringIO()
    console_handler = logging.StreamHandler(screen)
    file_handler = logging.FileHandler(tmp_path / "train.log")
    root.handlers[:] = [console_handler, file_handler]
    root.setLevel(logging.INFO)

    console.route_library_logs()
    chatter = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    chatter.info("GPU available: False, used: False")
    chatter.warning("something you can act on")
    file_handler.flush()

    logged = (tmp_path / "train.log").read_text()
    assert "GPU available" in logged and "something you can act on" in logged
    assert "GPU available" not in screen.getvalue() + lib_stderr.getvalue()
    assert "something you can act on" in screen.getvalue()


METRICS = {
    "freeze": "last2",
    "seed": 3,
    "fold": None,
    "epochs": 3,
    "best_epoch": 1,
    "precision": "32-true",
    "val": {"accuracy": 0.81234},
    "test": {"accuracy": 0.8241, "f1": 0.78712},
    "wall_time_s": 41.4,
    "run_dir": "/elsewhere/outputs/sweeps/minilm-tweets/freeze=last2,seed=3",
}


def test_run_line_says_what_ran_how_well_and_how_long() -> None:
    line = console.run_line(METRICS)
    assert "\n" not in line
    assert line.startswith("freeze=last2 seed=3 | 3 epochs (best 2) 32-true | ")
    assert "val acc 0.8123" in line and "test acc 0.8241 f1 0.7871" in line
    assert "| 41 s |" in line and line.endswith("freeze=last2,seed=3")
    cv = console.run_line({**METRICS, "fold": 4, "val": {}})
    assert cv.startswith("freeze=last2 seed=3 fold=4 | ") and "val acc n/a" in cv
    reused = console.run_line({**METRICS, "reused_from": "outputs/sweeps/x/freeze=last2,seed=3"})
    assert "| reused, 41 s when trained |" in reused  # no time spent now, and it says so


def test_epoch_line_is_one_rewritten_line_on_a_terminal() -> None:
    out = io.StringIO()
    line = EpochProgressLine("freeze=all seed=0", stream=out, force=True)
    trainer = SimpleNamespace(
        current_epoch=0,
        max_epochs=3,
        precision="32-true",
        is_global_zero=True,
        sanity_checking=False,
        training=True,
        callback_metrics={"val/accuracy": 0.75},
    )
    line.on_train_epoch_start(trainer, None)
    line.on_validation_epoch_end(trainer, None)
    line.on_fit_end(trainer, None)
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") == 3
    assert "epoch 1/3 32-true" in text and "val acc 0.7500" in text
    silent = io.StringIO()  # not a terminal: nothing, so log files keep one line per run
    EpochProgressLine("x", stream=silent).on_train_epoch_start(trainer, None)
    assert silent.getvalue() == ""
