"""Every wrong override: one line on stderr, exit 2, no traceback, before torch is imported.

The subprocess cases run the real ``train.py`` entry point with an ``atexit`` probe that says
whether torch was ever imported: a config error must be found before any model (or torch) is
loaded, which also keeps it fast. The in-process cases cover the rest of the checks cheaply.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from bertfreeze import config_checks
from bertfreeze.config_checks import check_group_overrides, check_train_config, normalize_argv
from bertfreeze.data import DataSpec, load_dataset
from bertfreeze.errors import UserError
from bertfreeze.paths import CONF_DIR, REPO_ROOT

try:
    from tests.conftest import cli_env
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from conftest import cli_env

PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('torch imported: %s' % ('torch' in sys.modules), "
    "file=sys.stderr))\n"
    "sys.argv = ['train.py', *sys.argv[1:]]\n"
    "from bertfreeze.cli.train import main\n"
    "main()\n"
)


def run_train(tmp_path: Path, *overrides: str) -> tuple[int, list[str], bool]:
    """(exit code, stderr lines without the probe's, whether torch was imported)."""
    # A data file that does not exist: should a check be missed, the run stops at data loading
    # within seconds instead of training the embedded model (a case may override it).
    missing = f"data.path={tmp_path / 'no-such-data.csv'}"
    res = subprocess.run(
        [sys.executable, "-c", PROBE, missing, *overrides, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env=cli_env(HF_HUB_OFFLINE="1", BERTFREEZE_CACHE=str(tmp_path / "cache")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    probe = [ln for ln in lines if ln.startswith("torch imported: ")]
    assert probe, res.stderr[-2000:]
    return res.returncode, [ln for ln in lines if ln not in probe], probe[-1].endswith("True")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["seed=-1"], "seed=-1 must be an integer between 0 and"),
        (["seed=abc"], "seed=abc must be an integer"),
        (["data.max_length=100000"], "exceeds the 512 positions of the model"),
        (["data.label_map=no:0"], "'data.label_map={no: 0, yes: 1}'"),
        (["freeze=last3"], "freeze=top_k freeze.k=3"),
        (["freeze=nonee"], "did you mean freeze=none?"),
        (["-m", "freeze=none,last3", "seed=0"], "freeze=top_k freeze.k=3"),
        (["freeze=top_k", "freeze.k=9"], "the backbone has 6 encoder layers"),
        (["cache=false", "seed=-1"], "seed=-1"),  # the shorthand composes: next error is seed's
        (["trainer.precision=bf15"], "did you mean trainer.precision=bf16?"),
        (["model.pooling=max"], "did you mean model.pooling=mean?"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs=abc must be a positive integer"),
        (["data.test_size=1.5"], "data.test_size=1.5 must be a fraction"),
        (["fold=12"], "fold=12 must be an integer from 0 to 9"),
    ],
)
def test_wrong_override_is_one_line_before_torch(
    tmp_path: Path, overrides: list[str], expected: str
) -> None:
    code, lines, torch_loaded = run_train(tmp_path, *overrides)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert not torch_loaded
    assert not (tmp_path / "run").exists()  # nothing left behind


def unlabeled_csv(tmp_path: Path) -> Path:
    """What Kaggle's test.csv looks like: every column but the label."""
    path = tmp_path / "test.csv"
    path.write_text("id,keyword,location,text\n0,,,Just happened a terrible car crash\n")
    return path


def test_training_on_the_unlabeled_test_file_says_it_has_no_labels(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"has no labels: no column 'target'.*make predict"):
        load_dataset(DataSpec(path=str(unlabeled_csv(tmp_path))))


@pytest.mark.slow  # imports torch before reading the data: ~20-40 s on a loaded 2-core machine
def test_training_on_the_unlabeled_test_file_exits_2(tmp_path: Path) -> None:
    code, lines, _ = run_train(tmp_path, f"data.path={unlabeled_csv(tmp_path)}")
    assert code == 2 and len(lines) == 1 and "has no labels" in lines[0], lines


# ----------------------------------------------------------------------------- in process
def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_cache_false_is_a_shorthand_for_cache_enabled_false() -> None:
    argv = normalize_argv(["cache=false", "experiment=quickstart", "cache.bf16=true"])
    assert argv == ["cache.enabled=false", "experiment=quickstart", "cache.bf16=true"]
    cfg = composed(*argv)
    assert cfg.cache.enabled is False and cfg.cache.bf16 is True  # other cache keys survive
    check_train_config(cfg)
    assert normalize_argv(["cache=true,false"]) == ["cache.enabled=true,false"]
    assert normalize_argv(["cache.dtype=float32"]) == ["cache.dtype=float32"]
    with pytest.raises(UserError, match=r"write cache.enabled=False"):
        check_train_config(composed("cache=false"))  # the API path: a clear error


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optim.name=sgd"], "optim.name=sgd is not a valid choice"),
        (["cache.dtype=int8"], "cache.dtype=int8 is not a valid choice"),
        (["freeze=custom", "freeze.layers=[0,9]"], "[9] out of range"),
        (["optim.lr=abc"], "optim.lr=abc must be a positive learning rate"),
        (["data.batch_size=1.5"], "data.batch_size=1.5 must be a positive integer"),
        (["model.dropout=1"], "model.dropout=1 must be a probability"),
        (["optim.warmup_ratio=1"], "optim.warmup_ratio=1 must be in [0, 1)"),
        (["model.head=softmax"], "did you mean model.head=softmax2?"),
        (["data.normalize=tweets"], "did you mean data.normalize=tweet?"),
        (["data.label_map={a:0,b:2}"], "must map each raw label to 0 or 1"),
        (["freeze=top_k", "freeze.k=-1"], "use a depth between 0 and 6"),
        (["optim.layerwise_lr_decay=0"], "optim.layerwise_lr_decay=0 must lie in (0, 1]"),
        (["seed=true"], "seed=True must be an integer"),
        (["cache.bf16=maybe"], "cache.bf16=maybe must be auto, true or false"),
    ],
)
def test_config_check_names_key_and_fix(overrides: list[str], expected: str) -> None:
    with pytest.raises(UserError) as err:
        check_train_config(composed(*overrides))
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["experiment=quickstart"],
        ["experiment=cv", "fold=3"],
        ["freeze=top_k", "freeze.k=6"],
        ["freeze=custom", "freeze.layers=[0,5]"],
        ["trainer.precision=16-mixed", "data.val_size=0"],
        ["data.max_length=512"],
        ["data.label_map={ham: 0, spam: 1}"],
    ],
)
def test_valid_configs_pass(overrides: list[str]) -> None:
    check_train_config(composed(*overrides))


def test_group_override_checks() -> None:
    check_group_overrides(["freeze=none,all,last2", "seed=range(3)", "hydra/launcher=joblib"])
    check_group_overrides(["freeze=choice(none,all)", "+freeze.extra=1", "model.name=x"])
    with pytest.raises(UserError, match=r"freeze=custom freeze.layers=bottom:3"):
        check_group_overrides(["freeze=first3"])
    with pytest.raises(UserError, match=r"did you mean experiment=quickstart\?"):
        check_group_overrides(["experiment=quikstart"])


def test_mirrored_choices_match_the_training_code() -> None:
    """config_checks keeps torch-free copies of the accepted choices; they must not drift."""
    from bertfreeze import lit_module, model, precision

    assert config_checks.POOLINGS == model.POOLINGS
    assert config_checks.HEADS == model.HEADS
    assert set(config_checks.OPTIMIZERS) == set(lit_module.OPTIMIZERS)
    assert set(config_checks.PRECISIONS) == set(precision.VALID)
    assert REPO_ROOT / "conf" == CONF_DIR
