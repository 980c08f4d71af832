"""What a score will cost on this machine, before it runs: time from a calibration matmul, memory.

The engine's work is one pass of block products ``z_a^T z_b``: 2 M N_a N_b floating-point
operations for M probes and N_a x N_b units, both directions read from the same blocks,
at about 1.2-1.35x the time of the bare matmuls (``benchmarks/bench_correlation.py`` (2)).
:func:`calibrate` times a bare matmul here (float32, on the device), so the estimate follows
this machine and its current load rather than a constant; :func:`estimate` scales it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch

from xcorr_lib.common.devices import synchronize
from xcorr_lib.score import _blocked

__all__ = ["ENGINE_OVER_MATMUL", "Cost", "calibrate", "estimate"]

#: Engine time over bare matmul time, measured (benchmarks/bench_correlation.py, part 2).
ENGINE_OVER_MATMUL = 1.35


@dataclass(frozen=True)
class Cost:
    """seconds: estimated wall time; memory_bytes: standardized inputs plus one block; passes:
    engine passes counted (the score, each null draw, each resample); flops_per_second: the
    calibration's rate."""

    seconds: float
    memory_bytes: int
    passes: int
    flops_per_second: float

    def describe(self) -> str:
        """``about 3.2 min and 1.4 GiB``."""
        t = self.seconds
        when = f"{t:.0f} s" if t < 90 else f"{t / 60:.1f} min" if t < 5400 else f"{t / 3600:.1f} h"
        mem = self.memory_bytes / 2**20
        return f"about {when} and {mem:,.0f} MiB" if mem < 2048 else f"about {when} and {mem / 1024:.1f} GiB"


@functools.lru_cache(maxsize=8)
def calibrate(device: str = "cpu", size: int = 1024, probes: int = 256) -> float:
    """Float32 matmul rate of this machine (operations per second): the best of three
    ``(probes x size)^T (probes x size)`` products after a warm-up."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(probes, size, generator=gen).to(dev)
    at, out = a.T.contiguous(), torch.empty(size, size, device=dev)
    best = float("inf")
    for i in range(4):
        synchronize(dev)
        start = time.perf_counter()
        torch.mm(at, a, out=out)
        synchronize(dev)
        if i:  # the first is the warm-up
            best = min(best, time.perf_counter() - start)
    return 2.0 * probes * size * size / max(best, 1e-9)


def estimate(n_a: int, n_b: int, n_probes: int, *, device: str = "cpu", passes: int = 1) -> Cost:
    """Time and memory of ``passes`` engine passes over N_a x N_b units and M probes (float32)."""
    rate = calibrate(str(device))
    seconds = passes * ENGINE_OVER_MATMUL * 2.0 * n_probes * n_a * n_b / rate
    block = _blocked.BLOCK_BYTES_CPU if torch.device(device).type == "cpu" else _blocked.BLOCK_BYTES_GPU
    memory = 2 * 4 * n_probes * (n_a + n_b) + block  # activations and their standardized copy, one block
    return Cost(seconds, int(memory), int(passes), rate)
