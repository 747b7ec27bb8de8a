"""Nothing in the repository names one machine, and CI cannot pass by skipping real data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bertfreeze.paths import REPO_ROOT

try:
    from tests.conftest import cli_env, in_ci, skip_or_fail_in_ci
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from conftest import cli_env, in_ci, skip_or_fail_in_ci

# Home, workspace and temp folders of the machines this project was built on (assembled so
# that this file does not match itself).
MACHINE_PATH = re.compile("/" + r"(?:work|home|root|Users)(?:/|\b)|" + "/" + "tmp/")


def tracked_files() -> list[Path]:
    res = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        skip_or_fail_in_ci("not a git checkout: cannot list the tracked files")
    return [REPO_ROOT / name for name in res.stdout.split("\0") if name]


def test_no_machine_specific_path_is_committed() -> None:
    hits = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (figures) or a file removed from the working tree
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "\n".join(hits)


def test_ci_turns_a_missing_data_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        skip_or_fail_in_ci("no data")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail_in_ci("no data")


def test_real_data_test_fails_in_ci_without_its_data(tmp_path: Path) -> None:
    """The real thing: a real-data test run with CI=true and no BERTFREEZE_DATA fails."""
    env = cli_env(CI="true")
    for var in ("BERTFREEZE_DATA", "BERTFREEZE_SMS_DATA", "BERTFREEZE_PAPER_REF"):
        env.pop(var, None)
    test = "tests/test_realdata.py::test_frozen_minilm_reaches_080_on_the_holdout"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stdout[-2000:]
    assert "CI=true: real-data tests must run, not skip" in res.stdout
