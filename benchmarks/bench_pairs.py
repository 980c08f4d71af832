"""Benchmarks of the all-pairs engine (``score.pairs.pair_matrix``) on synthetic zoos.

K models, each N units in two layers, on M probes (default 100 x 2,000 x 1,000; several
zoo sizes in one run with ``--models 40,100``; ``--quick`` 12 x 500 x 300, under a minute),
stored as ``.npy`` files; the paper's score, paper variant, both directions, every pair and
the diagonal (K (K + 1) / 2 pairs). For every zoo size:

(1) ``pair_matrix`` in-process (each model prepared once per tile) vs
    ``neuron_correlation`` called per pair; the same numbers.
(2) ``pair_matrix`` in-process, in a fresh subprocess over memory-mapped files, vs the sum
    of the bare matmuls it cannot avoid (one standardized ``z_a.T @ z_b`` per pair, timed
    the same way, inputs in memory). Target <= 1.3. Beside it, the subprocess's peak
    resident memory against the size of all activations.
(3) ``pair_matrix`` on a Dask LocalCluster (2 single-threaded worker processes) vs
    in-process on the same 2 cores (cluster started before timing; its start-up time is
    shown beside). Target <= 1.25.
(4) where ``pair_matrix``'s time goes: one more run in a fresh subprocess under cProfile,
    its time split into the block products (``torch.mm``), the block maxima and argmaxes,
    the standardization, reading the ``.npy`` files and the rest (Python, tables).

Usage::

    python benchmarks/bench_pairs.py [--quick] [--models K[,K...] --units N --probes M] [--tile-size T]

Timings depend on the machine and on its load; print the table, don't assert on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from xcorr_lib.common.devices import resolve_device, synchronize
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.pairs import pair_matrix


def make_zoo(folder: Path, k: int, n: int, m: int, seed: int = 0) -> dict[str, tuple[Path, np.ndarray]]:
    """K models as .npy files: a shared latent, per-model mixing, two layers of n/2 units."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(m, 64)).astype(np.float32)
    for i in range(k):
        acts = latent @ rng.normal(size=(64, n)).astype(np.float32) + rng.normal(size=(m, n)).astype(np.float32)
        np.maximum(acts[:, n // 2:], 0, out=acts[:, n // 2:])
        np.save(folder / f"model{i:03d}.npy", acts)
    return zoo_models(folder)


def zoo_models(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """{name: (.npy file, layer ids)} of the zoo :func:`make_zoo` wrote to ``folder`` (two layers
    of half the units each)."""
    files = sorted(Path(folder).glob("model*.npy"))
    n = np.load(files[0], mmap_mode="r").shape[1]
    layers = np.repeat([0, 1], [n // 2, n - n // 2])
    return {f.stem: (f, layers) for f in files}


def warm_up(models: dict, device: str) -> None:
    """One small pair matrix: torch's first calls are slow, so nothing timed pays for them."""
    pair_matrix(dict(list(models.items())[:2]), device=device)


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def per_pair(models: dict, device: str = "cpu") -> np.ndarray:
    names = list(models)
    loaded = {n: (np.load(p), lay) for n, (p, lay) in models.items()}
    mat = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j in range(i, len(names)):
            b = names[j]
            mat[i, j] = mat[j, i] = neuron_correlation(loaded[a][0], loaded[a][1], loaded[b][0], loaded[b][1],
                                                       device=device).score
    return mat


def bare_matmuls(models: dict, device: str = "cpu") -> float:
    """Sum over pairs of one standardized (M, Na).T @ (M, Nb) product (inputs ready beforehand, on ``device``)."""
    z = {}
    for n, (p, _) in models.items():
        x = torch.from_numpy(np.load(p)).to(device)
        z[n] = (x - x.mean(0)) / x.std(0)
    names, total = list(models), 0.0
    for i, a in enumerate(names):
        for b in names[i:]:
            synchronize(device)
            t0 = time.perf_counter()
            (z[a].T @ z[b]).abs_()
            synchronize(device)
            total += time.perf_counter() - t0
    return total


#: cProfile entries (file suffix, function name) -> part of pair_matrix's time; their cumulative
#: times are disjoint (none calls another), the rest is Python and table bookkeeping.
PROFILE_PARTS = {
    ("~", "<built-in method torch.mm>"): "block products (torch.mm)",
    ("_blocked.py", "_row_max"): "block maxima and argmaxes",
    ("_blocked.py", "_col_max"): "block maxima and argmaxes",
    ("_blocked.py", "_merge"): "block maxima and argmaxes",
    ("~", "<method 'abs_' of 'torch._C.TensorBase' objects>"): "block maxima and argmaxes",
    ("_blocked.py", "standardize"): "standardizing each model (once per tile)",
    ("tiles.py", "_materialize"): "reading the .npy files (once per tile)",
}


def profile_parts(stats: dict, total: float) -> dict[str, float]:
    """Seconds per part of :data:`PROFILE_PARTS` from ``pstats.Stats(...).stats``, plus ``other``."""
    parts: dict[str, float] = {}
    for (filename, _, func), (_, _, tottime, cumtime, _) in stats.items():
        for (suffix, name), part in PROFILE_PARTS.items():
            if func == name and filename.endswith(suffix):
                parts[part] = parts.get(part, 0.0) + (tottime if suffix == "~" else cumtime)
    parts["other (Python, tiles, tables)"] = total - sum(parts.values())
    return parts


def child(folder: str, tile_size: int, device: str, profile: bool) -> dict:
    """Run in a fresh process: ``pair_matrix`` over the memory-mapped zoo in ``folder``, timed
    (saved to ``folder/matrix.npy``), with this process's peak RSS; or, with ``profile``, under
    cProfile, its time split by :func:`profile_parts`."""
    models = zoo_models(Path(folder))
    warm_up(models, device)
    before = _rss_mib()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        seconds, _ = timed(lambda: prof.runcall(pair_matrix, models, tile_size=tile_size, device=device))
        return {"seconds": seconds, "parts": profile_parts(pstats.Stats(prof).stats, seconds)}
    seconds, mat = timed(lambda: pair_matrix(models, tile_size=tile_size, device=device))
    np.save(Path(folder) / "matrix.npy", mat.values)
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_mib": before,
            "inputs_mib": sum(f.stat().st_size for f, _ in models.values()) / 2**20, "seconds": seconds,
            "threads": torch.get_num_threads()}


#: The environment this script started with: a Dask LocalCluster sets OMP_NUM_THREADS=1 (and
#: MKL_, OPENBLAS_) in its parent's environment and leaves it there, which would make every
#: later child single-threaded.
START_ENV = dict(os.environ)


CASE_WIDTH = 58  # the case column of the printed rows


def run_child(folder: Path, tile_size: int, device: str, profile: bool = False) -> dict:
    """:func:`child` in a fresh process, with this script's starting environment and torch's threads."""
    cmd = [sys.executable, __file__, "--_child", str(folder), "--tile-size", str(tile_size), "--device", device,
           "--_threads", str(torch.get_num_threads())]
    out = subprocess.run(cmd + (["--_profile"] if profile else []), check=True, capture_output=True, text=True,
                         env=START_ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def zoo_rows(folder: Path, k: int, n: int, m: int, parts: set[int], tile_size: int,
             device: str) -> Iterator[tuple[str, str, str]]:
    """The rows of one zoo size (``k`` models of ``n`` units on ``m`` probes, written to ``folder``),
    each yielded as soon as it is measured."""
    models = make_zoo(folder, k, n, m)
    tag = f"{k} models,"
    timing = run_child(folder, tile_size, device)  # (2): timed in a fresh process, matrix saved
    warm_up(models, device)  # here too, before (1)-(3) time anything
    t_matrix, mat = timing["seconds"], np.load(folder / "matrix.npy")
    if 1 in parts:
        t_pair, ref = timed(lambda: per_pair(models, device))
        if not np.allclose(mat, ref, atol=1e-6):
            raise AssertionError("pair_matrix and neuron_correlation per pair disagree")
        yield (f"(1) {tag} per pair / pair_matrix", f"{t_pair / t_matrix:.2f}x",
               f"per pair {t_pair:.1f} s, pair_matrix {t_matrix:.1f} s")
    if 2 in parts:
        t_mm = bare_matmuls(models, device)
        yield (f"(2) {tag} pair_matrix / sum of bare matmuls", f"{t_matrix / t_mm:.2f}",
               f"pair_matrix {t_matrix:.1f} s ({timing['threads']} threads), matmuls {t_mm:.1f} s "
               f"({torch.get_num_threads()} threads), {k * (k + 1) // 2} pairs; "
               f"peak RSS {timing['peak_rss_mib']:,.0f} MiB (activations {timing['inputs_mib']:,.0f} MiB "
               f"on disk, RSS before the call {timing['rss_before_mib']:.0f} MiB)")
    if 3 in parts:
        from distributed import Client, LocalCluster

        t_start, cluster = timed(lambda: LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
        with cluster, Client(cluster) as client:
            t_dask, dmat = timed(lambda: pair_matrix(models, tile_size=tile_size, scheduler=client))
        if not np.array_equal(dmat.values, mat):
            raise AssertionError("Dask and in-process matrices differ")
        yield (f"(3) {tag} Dask LocalCluster, 2 workers / in-process", f"{t_dask / t_matrix:.2f}",
               f"Dask {t_dask:.1f} s (+ {t_start:.1f} s cluster start), in-process {t_matrix:.1f} s; identical")
    if 4 in parts:
        prof = run_child(folder, tile_size, device, profile=True)
        shares = sorted(prof["parts"].items(), key=lambda kv: -kv[1])
        yield (f"(4) {tag} pair_matrix's time by part (cProfile)",
               f"{shares[0][1] / prof['seconds']:.0%} {shares[0][0].split(' (')[0]}",
               "; ".join(f"{name} {sec:.1f} s ({sec / prof['seconds']:.1%})" for name, sec in shares)
               + f"; {prof['seconds']:.1f} s in all under the profiler")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12 models x 500 units x 300 probes")
    parser.add_argument("--models", default="100", help="zoo sizes, comma-separated (e.g. 40,100)")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--tile-size", type=int, default=8)
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto (Dask part 3 stays on CPU workers)")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    if args._child:
        if args._threads:
            torch.set_num_threads(args._threads)
        print(json.dumps(child(args._child, args.tile_size, device, args._profile)))
        return
    sizes = [12] if args.quick else [int(k) for k in args.models.split(",")]
    n, m = (500, 300) if args.quick else (args.units, args.probes)
    parts = {int(p) for p in args.parts.split(",")}
    where = torch.cuda.get_device_name() if device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {where}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{', '.join(map(str, sizes))} models x {n} units x {m} probes, tile size {args.tile_size}", flush=True)
    for k in sizes:  # each row printed as soon as it is measured: a stopped run keeps what it finished
        with tempfile.TemporaryDirectory() as tmp:
            for name, value, detail in zoo_rows(Path(tmp), k, n, m, parts, args.tile_size, device):
                print(f"{name:<{CASE_WIDTH}}  {value:>18}  {detail}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
