"""`precision: auto` — bf16 only where the hardware computes it natively.

Why: on a CPU without AVX512_BF16 or AMX, PyTorch emulates bf16 matmuls and they run ~40x
slower than fp32 (512x384 @ 384x1536 on a 2-core AVX2 EPYC: 11.6 ms fp32, 478 ms bf16, one
thread). A default measured only on a bf16-capable CPU turned a 6-minute quickstart into hours
elsewhere. So every place that picks a precision (training, the frozen-prefix pass, predict,
bench) asks :func:`resolve_precision`, and records what it chose beside the detected capability.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch

from bertfreeze.errors import UserError

log = logging.getLogger(__name__)

AUTO = "auto"
BF16 = "bf16-mixed"
FP32 = "32-true"
# Lightning's spellings that mean bf16 autocast or pure bf16.
BF16_NAMES = {"bf16", "bf16-mixed", "bf16-true"}
VALID = {
    AUTO,
    "32-true",
    "32",
    "bf16-mixed",
    "bf16",
    "bf16-true",
    "16-mixed",
    "16",
    "16-true",
    "64-true",
    "64",
    "transformer-engine",
}
# Measured on a 2-core AVX2 EPYC (see module docstring): the slowdown to expect.
EMULATED_BF16_SLOWDOWN = 40


@dataclass(frozen=True)
class PrecisionChoice:
    """What was asked, what runs, and why (recorded in metrics.json)."""

    requested: str
    precision: str
    device: str  # "cpu" | "cuda"
    cpu_capability: str  # torch.backends.cpu.get_cpu_capability(), e.g. "AVX2", "AVX512"
    native_bf16: bool

    @property
    def bf16(self) -> bool:
        return self.precision in BF16_NAMES

    def as_record(self) -> dict[str, object]:
        return asdict(self)

    @property
    def machine_tag(self) -> str:
        """``AVX512-bf16`` vs ``AVX512``: two CPUs both reported as AVX512 differ in native bf16
        (AMX), which changes every bf16 timing, so per-machine bench records must not share a
        file name."""
        return f"{self.cpu_capability}{'-bf16' if self.native_bf16 else ''}"


def cpu_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - very old torch or an exotic build
        return "unknown"


def _cpuinfo_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


#: The CPU instruction sets that compute bf16 natively, as /proc/cpuinfo names them.
BF16_ISA = ("avx512_bf16", "amx_bf16")


def cpu_bf16_isa() -> list[str]:
    """Which of :data:`BF16_ISA` this CPU lists. Both make ``native_bf16`` true, yet they differ
    several-fold in bf16 matmul speed (peaks of 3.7 TFLOP/s with AMX and 1.0 with AVX512_BF16
    alone on the 2-core CPUs measured), and ``get_cpu_capability()`` says AVX512 for both: so
    records name which one a timing had."""
    flags = _cpuinfo_flags()
    return [f for f in BF16_ISA if f in flags]


@lru_cache(maxsize=1)
def cpu_native_bf16() -> bool:
    """True when this CPU has bf16 matmul instructions (AVX512_BF16 or AMX-BF16)."""
    flags = _cpuinfo_flags()
    if flags:
        return bool(set(BF16_ISA) & flags)
    if sys.platform == "darwin":
        return False  # Apple silicon: PyTorch's CPU bf16 matmuls are not the fast path
    return False


def cuda_native_bf16() -> bool:
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("cpu" or "cuda", as :func:`target_device` says) computes bf16 natively."""
    return cuda_native_bf16() if device == "cuda" else cpu_native_bf16()


def target_device(accelerator: str | None) -> str:
    """The device a Trainer with this ``accelerator`` setting will use ("cpu" or "cuda")."""
    acc = str(accelerator or "auto").lower()
    if acc in ("gpu", "cuda"):
        return "cuda"
    if acc == "auto" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_precision(requested: object, accelerator: str | None = "auto") -> PrecisionChoice:
    """``auto`` -> bf16-mixed where bf16 is native, else 32-true; an explicit choice wins.

    An explicit bf16 on a CPU without native support is honoured, with one warning line that
    says what to expect.
    """
    req = str(requested).strip().lower()
    if req not in VALID:
        raise UserError(
            f"trainer.precision={requested} is not a precision; use auto (bf16 where the hardware "
            "has it, else fp32), 32-true or bf16-mixed"
        )
    device = target_device(accelerator)
    native = native_bf16(device)
    cap = cpu_capability()
    if req == AUTO:
        chosen = BF16 if native else FP32
    else:
        chosen = req
        if req in BF16_NAMES and device == "cpu" and not native:
            log.warning(
                "precision %s on a CPU without native bf16 (capability %s): expect matmuls about "
                "%dx slower than fp32; trainer.precision=auto picks 32-true here",
                req,
                cap,
                EMULATED_BF16_SLOWDOWN,
            )
    return PrecisionChoice(str(requested), chosen, device, cap, native)


def resolve_cache_bf16(requested: object, choice: PrecisionChoice) -> bool:
    """``cache.bf16: auto`` follows the training precision; true/false are explicit."""
    if isinstance(requested, str) and requested.strip().lower() == AUTO:
        return choice.bf16
    if isinstance(requested, bool):
        if requested and choice.device == "cpu" and not choice.native_bf16:
            log.warning(
                "cache.bf16=true on a CPU without native bf16 (capability %s): the prefix pass "
                "will be about %dx slower than fp32; cache.bf16=auto picks fp32 here",
                choice.cpu_capability,
                EMULATED_BF16_SLOWDOWN,
            )
        return requested
    raise UserError(f"cache.bf16={requested} must be auto, true or false")
