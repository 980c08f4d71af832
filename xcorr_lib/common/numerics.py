"""The numeric mode of a run: the same weights on any x86-64 machine, and the machine on record.

Trained weights are bit-identical on one machine for one torch version and thread count,
but not across machines: torch, MKL, oneDNN, OpenBLAS and numpy each pick their vector
kernels from the CPU they find (AVX-512 here, AVX2 there), and kernels of different widths
add in different orders. Training Net1 for two epochs gives three different weight hashes
under ``ATEN_CPU_CAPABILITY=avx512``, ``avx2`` and ``default`` (tests/test_numerics.py).

*Portable mode* pins every library to one level that every x86-64 CPU with AVX2 has,
through environment variables that must be set before the libraries load (so the pipeline
sets them for each notebook's kernel, never inside a running process):

=============================  ===================  =========================================
variable                       value                library
=============================  ===================  =========================================
``ATEN_CPU_CAPABILITY``        ``avx2``             torch's own CPU kernels (ATen)
``MKL_CBWR``                   ``AVX2``             MKL's conditional numerical reproducibility
``ONEDNN_MAX_CPU_ISA``         ``AVX2``             oneDNN (also its older name ``DNNL_...``)
``OPENBLAS_CORETYPE``          ``Haswell``          numpy's and scipy's OpenBLAS (AVX2 kernels)
``NPY_DISABLE_CPU_FEATURES``   ``X86_V4 ...``       numpy's own AVX-512 dispatch
``XCORR_PORTABLE``             ``1``                read by :func:`portable_torch`
=============================  ===================  =========================================

oneDNN chooses its blocking by cache size even below a maximum ISA, so in portable mode
training and capture also run with oneDNN off (:func:`portable_torch`): convolutions then
use ATen's kernels, which follow ``ATEN_CPU_CAPABILITY``. Training keeps one thread.
A machine without AVX2 cannot run these kernels: :func:`numeric_environment` says so in one
line and the run is native, which :func:`machine` records.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["PORTABLE_ENV", "cpu_flags", "has_avx2", "numeric_environment", "environment", "is_portable", "portable_torch",
           "machine"]

PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "XCORR_PORTABLE": "1",
}
#: What a native run must not inherit from a portable parent (the mode is a property of the run).
_MODE_VARIABLES = tuple(PORTABLE_ENV)


def cpu_flags() -> set[str]:
    """The CPU's feature flags from Linux ``/proc/cpuinfo`` (``avx2``, ``avx512f``, ...); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def has_avx2() -> bool:
    """True on an x86-64 CPU that reports AVX2 (Linux ``/proc/cpuinfo``; elsewhere torch's capability)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = cpu_flags()
    if flags:
        return "avx2" in flags
    import torch  # no /proc: ask torch (in this process the capability is not pinned)

    return torch.backends.cpu.get_cpu_capability().upper() in ("AVX2", "AVX512")


def numeric_environment(portable: bool, base: Mapping[str, str] | None = None) -> tuple[dict[str, str], str]:
    """The environment a notebook's kernel starts with, and a one-line note (``""`` when none).

    ``portable`` and the CPU has AVX2: ``base`` (default ``os.environ``) with :data:`PORTABLE_ENV`
    on top. Otherwise ``base`` as it is (a user's own ``ATEN_CPU_CAPABILITY`` stays), without the
    pins when ``base`` itself is portable, plus ``XCORR_PORTABLE=0``, and the note "portable mode
    needs an x86-64 CPU with AVX2 ... running native" when portable was asked.
    """
    env = dict(os.environ if base is None else base)
    if env.get("XCORR_PORTABLE") == "1":  # a native child of a portable run
        env = {k: v for k, v in env.items() if k not in _MODE_VARIABLES}
    if portable and has_avx2():
        return {**env, **PORTABLE_ENV}, ""
    env["XCORR_PORTABLE"] = "0"
    if portable:
        return env, (f"portable mode needs an x86-64 CPU with AVX2 and this one ({_cpu_model()}) has none: "
                     "running native, marked so in the manifest")
    return env, ""


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` inside the block (child processes inherit it), then restored.
    The variables only reach libraries loaded by those children: this process keeps its mode."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def is_portable() -> bool:
    """Was this process started in portable mode (``XCORR_PORTABLE=1``)?"""
    return os.environ.get("XCORR_PORTABLE") == "1"


@contextlib.contextmanager
def portable_torch() -> Iterator[None]:
    """In portable mode, oneDNN off for the block (ATen's kernels, pinned by ATEN_CPU_CAPABILITY);
    otherwise nothing changes."""
    if not is_portable():
        yield
        return
    import torch

    with torch.backends.mkldnn.flags(enabled=False):
        yield


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    """The machine and numeric mode behind this process's numbers (JSON-ready, computed once).

    Keys: cpu (model), cores, avx2, portable (``True`` / ``False``), cpu_capability (torch's,
    in effect), torch_blas (the BLAS torch was built with), blas (numpy's: library, version,
    kernel architecture, threads), mkl_cbwr, torch_threads, pinned (the portable variables
    set in this process).
    """
    import threadpoolctl
    import torch

    blas = [f"{i.get('internal_api')} {i.get('version') or ''} {i.get('architecture') or ''} "
            f"({i.get('num_threads')} threads)".replace("  ", " ")
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    config = torch.__config__.show()
    torch_blas = next((part.split("=", 1)[1] for part in config.replace(",", "\n").split()
                       if part.startswith("BLAS_INFO=")), "unknown")
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "avx2": has_avx2(), "portable": is_portable(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_blas": torch_blas,
        "blas": "; ".join(blas) or "none found", "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
        "torch_threads": torch.get_num_threads(),
        "pinned": {k: os.environ[k] for k in _MODE_VARIABLES if k in os.environ},
    }
