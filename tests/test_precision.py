"""`precision: auto` picks bf16 only where the hardware has it (detection forced both ways)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from omegaconf import OmegaConf

from bertfreeze import precision as P
from bertfreeze.errors import UserError
from bertfreeze.train_task import apply_precision


@pytest.fixture
def cpu_bf16(monkeypatch: pytest.MonkeyPatch):
    def force(native: bool) -> None:
        monkeypatch.setattr(
            P, "_cpuinfo_flags", lambda: {"avx2", "avx512_bf16"} if native else {"avx2"}
        )
        P.cpu_native_bf16.cache_clear()

    yield force
    P.cpu_native_bf16.cache_clear()


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_follows_native_bf16(cpu_bf16, native: bool, expected: str) -> None:
    cpu_bf16(native)
    choice = P.resolve_precision("auto", "cpu")
    assert (choice.precision, choice.native_bf16, choice.device) == (expected, native, "cpu")
    assert P.resolve_cache_bf16("auto", choice) is (expected == "bf16-mixed")


def test_amx_counts_as_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "_cpuinfo_flags", lambda: {"amx_bf16", "amx_tile"})
    P.cpu_native_bf16.cache_clear()
    try:
        assert P.resolve_precision("auto", "cpu").precision == "bf16-mixed"
    finally:
        P.cpu_native_bf16.cache_clear()


def test_explicit_bf16_without_native_warns_once(cpu_bf16, caplog) -> None:
    cpu_bf16(False)
    with caplog.at_level(logging.WARNING, logger="bertfreeze.precision"):
        choice = P.resolve_precision("bf16-mixed", "cpu")
    assert choice.precision == "bf16-mixed"  # an explicit choice wins
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "40x slower" in warnings[0].getMessage()


def test_explicit_bf16_with_native_is_quiet(cpu_bf16, caplog) -> None:
    cpu_bf16(True)
    with caplog.at_level(logging.WARNING, logger="bertfreeze.precision"):
        P.resolve_precision("bf16-mixed", "cpu")
    assert not caplog.records


def test_bad_precision_is_a_user_error() -> None:
    with pytest.raises(UserError, match="trainer.precision=fp8"):
        P.resolve_precision("fp8", "cpu")


def test_apply_precision_resolves_config_before_hashing(cpu_bf16) -> None:
    cpu_bf16(False)
    cfg = OmegaConf.create(
        {"trainer": {"precision": "auto", "accelerator": "cpu"}, "cache": {"bf16": "auto"}}
    )
    choice = apply_precision(cfg)
    assert cfg.trainer.precision == "32-true" and cfg.cache.bf16 is False
    assert choice.requested == "auto"
    cpu_bf16(True)
    cfg = OmegaConf.create(
        {"trainer": {"precision": "auto", "accelerator": "cpu"}, "cache": {"bf16": "auto"}}
    )
    apply_precision(cfg)
    assert cfg.trainer.precision == "bf16-mixed" and cfg.cache.bf16 is True


def test_machine_tag_tells_native_bf16_apart() -> None:
    """Bench records are per machine; an AMX Xeon and an AVX512 Xeon without bf16 both report
    AVX512, and one must not overwrite the other's record."""
    tags = {P.PrecisionChoice("auto", "32-true", "cpu", "AVX512", n).machine_tag for n in (0, 1)}
    assert tags == {"AVX512", "AVX512-bf16"}


@pytest.mark.parametrize(
    "flags, isa",
    [({"avx2"}, []), ({"avx512f", "avx512_bf16"}, ["avx512_bf16"]), ({"amx_bf16"}, ["amx_bf16"])],
)
def test_records_name_which_bf16_isa(monkeypatch: pytest.MonkeyPatch, flags, isa) -> None:
    """AMX and AVX512_BF16 both read as capability AVX512 with native bf16, at several-fold
    different bf16 speeds: the run record, a study's environment.json and a bench record name
    which one the CPU had."""
    from bench.run import cpu_record
    from bertfreeze.studies import environment

    monkeypatch.setattr(P, "_cpuinfo_flags", lambda: flags)
    P.cpu_native_bf16.cache_clear()
    try:
        assert P.cpu_bf16_isa() == isa
        choice = P.resolve_precision("auto", "cpu")
        assert cpu_record(choice)["bf16_isa"] == isa
        env = environment(pd.DataFrame({"precision": ["32-true"], "wall_time_s": [1.0]}), 1.0, {})
        assert env["cpu_bf16_isa"] == isa and env["cpu_native_bf16"] is bool(isa)
    finally:
        P.cpu_native_bf16.cache_clear()
