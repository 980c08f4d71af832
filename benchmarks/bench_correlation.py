"""Benchmarks of the correlation engine (issue 2 acceptance figures).

(1) speed-up over a per-pair Python loop at the paper's Table-3 size (10 probes,
    100 vs 7008 units, original variant, forward direction). The loop is timed on a
    subset of unit pairs and extrapolated to all pairs (it says so in the table).
(2) engine time / one bare torch matmul of the same shapes (512 probes, 6000 x 6000
    units, both directions, float32). Both are timed alternately, best of --repeats.
(3) peak memory and time for 100,000 x 100,000 units with 64 probes, in a fresh
    subprocess so that its peak resident memory (ru_maxrss) is its own.
(4) a table of every pair of 8 networks (28 pairs, 1,000 probes, 2,000 units in 2 layers
    each, paper variant, both directions): ``neuron_correlation`` per pair (each network
    standardized again for every pair it is in) vs ``score.pairs.pair_table`` (each network
    prepared once). Same numbers, timed alternately, best of --repeats.
(5) shuffled-probe null at the Table-3 size (10 probes, 100 vs 7,008 units in the CNN's
    two layers, original variant, forward): 200 permutations, each one engine pass on the
    prepared blocks; its time beside one ``neuron_correlation`` call (target: under 1 s).
(6) the same null at 1,000 probes x 2,000 vs 2,000 units (paper variant, both directions):
    100 permutations (target: under 30 s), and a 100-resample probe-bootstrap interval.
(7) cost per pair of the neighbourhood metrics (mutual k-NN and CKNNA, k = 10) beside the
    score's (paper variant, both directions) and linear CKA's at the same size, 1,000 probes x
    2,000 vs 2,000 units; timed alternately, best of --repeats.

Usage::

    python benchmarks/bench_correlation.py [--skip-large] [--repeats 5] [--threads N]

Timings depend on the machine and on its load; print the table, don't assert on it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from xcorr_lib.common.devices import resolve_device, synchronize
from xcorr_lib.measures import cknna, linear_cka, mutual_knn
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.engine import prepare, score_prepared
from xcorr_lib.score.inference import probe_interval, shuffled_null
from xcorr_lib.score.pairs import all_pairs, pair_table


def best_time(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def per_pair_loop(A: np.ndarray, la: np.ndarray, B: np.ndarray, lb: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The naive method (original variant, forward): np.corrcoef for every pair (u, v)."""
    scores = np.zeros(len(units))
    for k, u in enumerate(units):
        best = -1.0
        for v in range(B.shape[1]):
            r = np.corrcoef(A[:, u], B[:, v])[0, 1]
            r = 0.0 if np.isnan(r) else abs(r)
            best = max(best, r / (1 + abs(int(la[u]) - int(lb[v]))))
        scores[k] = best
    return scores


def bench_speedup(repeats: int, loop_units: int) -> dict:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(10, 100)), rng.normal(size=(10, 7008))
    la, lb = np.repeat(np.arange(2), 50), np.repeat(np.arange(3), [2336, 2336, 2336])
    units = np.arange(0, 100, 100 // loop_units)[:loop_units]
    t0 = time.perf_counter()
    loop_scores = per_pair_loop(A, la, B, lb, units)
    t_loop = (time.perf_counter() - t0) * 100 / len(units)  # extrapolated to all 100 units
    run = lambda: neuron_correlation(A, la, B, lb, variant="original", direction="forward")  # noqa: E731
    t_engine = best_time(run, repeats)
    assert np.allclose(run().scores_a[units], loop_scores, atol=1e-5), "engine and loop disagree"
    return {"loop_s": t_loop, "engine_s": t_engine, "speedup": t_loop / t_engine,
            "note": f"loop timed on {len(units)}x7008 pairs, x{100 / len(units):g}"}  # fmt: skip


def bench_matmul_ratio(repeats: int, m: int, n: int, block_size: int | None, device: str = "cpu") -> dict:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, n, generator=gen).to(device), torch.randn(m, n, generator=gen).to(device)
    layers = np.zeros(n, dtype=np.int64)
    at, out = a.T.contiguous(), torch.empty(n, n, device=device)
    mm = lambda: torch.mm(at, b, out=out)  # noqa: E731
    engine = lambda: neuron_correlation(a, layers, b, layers, block_size=block_size, device=device)  # noqa: E731
    mm(), engine()
    t_mm, t_engine = [], []
    for _ in range(repeats):  # alternate, so that both see the same machine load
        for fn, acc in ((mm, t_mm), (engine, t_engine)):
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            acc.append(time.perf_counter() - t0)
    return {"matmul_s": min(t_mm), "engine_s": min(t_engine), "ratio": min(t_engine) / min(t_mm)}


def _rss_now_mib() -> float:
    """Current resident memory (Linux /proc), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def large_case(n: int, m: int, block_size: int | None, device: str = "cpu") -> dict:
    """Runs in the subprocess: n x n units, m probes, both directions."""
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(m, 16, generator=gen)
    a = torch.randn(m, n, generator=gen).addmm_(latent, torch.randn(16, n, generator=gen))  # shared signal
    b = torch.randn(m, n, generator=gen).addmm_(latent, torch.randn(16, n, generator=gen))
    layers = np.repeat(np.arange(4), n // 4 + 1)[:n]
    rss_before = _rss_now_mib()
    t0, cpu0 = time.perf_counter(), time.process_time()
    res = neuron_correlation(a, layers, b, layers, block_size=block_size, device=device, progress=True)
    synchronize(device)
    out = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0, "score": res.score,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "rss_before_mib": rss_before, "inputs_mib": 2 * a.numel() * 4 / 2**20}  # fmt: skip
    if device.startswith("cuda"):
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def bench_pair_table(repeats: int, n_models: int = 8, m: int = 1000, n: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    acts = {f"net{k}": (torch.from_numpy(rng.normal(size=(m, n)).astype(np.float32)), np.repeat([0, 1], n // 2))
            for k in range(n_models)}
    pairs = all_pairs(list(acts))

    def per_pair() -> list[float]:
        return [neuron_correlation(*acts[a], *acts[b]).score for a, b in pairs]

    def prepared() -> list[float]:
        return pair_table(acts, pairs)["value"].tolist()

    if per_pair() != prepared():
        raise AssertionError("pair_table and neuron_correlation disagree")
    t_pair, t_prep = [], []
    for _ in range(repeats):  # alternate, so load changes hit both alike
        t_pair.append(best_time(per_pair, 1))
        t_prep.append(best_time(prepared, 1))
    return {"per_pair_s": min(t_pair), "prepared_s": min(t_prep), "pairs": len(pairs), "ratio": min(t_pair) / min(t_prep)}


def bench_null(repeats: int, m: int, n_a: int, layers_b: np.ndarray, n_null: int, n_boot: int = 0,
               **options: str) -> dict:
    """Shuffled null (and optionally the probe interval) vs one score of the same pair."""
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(m, 8, generator=gen)
    a = torch.randn(m, n_a, generator=gen).addmm_(latent, torch.randn(8, n_a, generator=gen))
    b = torch.randn(m, len(layers_b), generator=gen).addmm_(latent, torch.randn(8, len(layers_b), generator=gen))
    layers_a = np.zeros(n_a, dtype=np.int64)
    t_score = best_time(lambda: neuron_correlation(a, layers_a, b, layers_b, **options), repeats)
    pa, pb = prepare(a, layers_a), prepare(b, layers_b)
    score = score_prepared(pa, pb, **options).score  # as neuron_correlation(null=...): blocks prepared once
    t_null = best_time(lambda: shuffled_null(pa, pb, score, n_null=n_null, **options), max(1, repeats // 2))
    out = {"score_s": t_score, "null_s": t_null, "ratio": t_null / t_score, "per_draw": t_null / n_null / t_score}
    if n_boot:
        out["boot_s"] = best_time(lambda: probe_interval(pa, pb, score, n_boot=n_boot, **options), 1)
    return out


def bench_measures(repeats: int, m: int = 1000, n: int = 2000, device: str = "cpu") -> dict:
    """Seconds per pair of the score, linear CKA, mutual k-NN and CKNNA on the same activations
    (two 2-layer networks sharing an 8-d latent), timed alternately, best of ``repeats``."""
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(m, 8, generator=gen)
    a = torch.randn(m, n, generator=gen).addmm_(latent, torch.randn(8, n, generator=gen))
    b = torch.randn(m, n, generator=gen).addmm_(latent, torch.randn(8, n, generator=gen))
    layers = np.repeat([0, 1], n // 2)
    on = a.to(device), b.to(device)
    calls = {"score": lambda: neuron_correlation(a, layers, b, layers, device=device).score,
             "linear_cka": lambda: linear_cka(a, b),
             "mutual_knn": lambda: (mutual_knn(*on), synchronize(device)),
             "cknna": lambda: (cknna(*on), synchronize(device))}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            times[name].append(best_time(fn, 1))
    return {name: min(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--block-size", type=int, default=None, help="engine block size (default: the engine's)")
    parser.add_argument("--loop-units", type=int, default=5, help="units of the 100 on which the per-pair loop is timed")
    parser.add_argument("--ratio-units", type=int, default=6000, help="units per side of the matmul-ratio case")
    parser.add_argument("--skip-large", action="store_true", help="skip the 100k x 100k case")
    parser.add_argument("--parts", default="1,2,3,4,5,6,7", help="which benchmarks to run, e.g. 2 or 1,2,4 (default all)")
    parser.add_argument("--large-units", type=int, default=100_000)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--_large-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._large_child:
        print(json.dumps(large_case(args.large_units, 64, args.block_size, args.device)))
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {where}, block_size={args.block_size or 'default'}, load average {load:.1f}")
    rows = []
    parts = {int(p) for p in args.parts.split(",")} - ({3} if args.skip_large else set())
    if 1 in parts:
        s = bench_speedup(args.repeats, args.loop_units)
        rows.append(("(1) speed-up vs per-pair loop, 10 x (100 vs 7008)", f"{s['speedup']:,.0f}x",
                    f"loop {s['loop_s']:.1f} s ({s['note']}), engine {s['engine_s'] * 1e3:.1f} ms"))  # fmt: skip
    if 2 in parts:
        r = bench_matmul_ratio(args.repeats, 512, args.ratio_units, args.block_size, args.device)
        rows.append((f"(2) engine / bare matmul, 512 x ({args.ratio_units} vs {args.ratio_units}), both", f"{r['ratio']:.2f}",
                    f"engine {r['engine_s']:.3f} s, matmul {r['matmul_s']:.3f} s"))  # fmt: skip
    if 3 in parts:
        cmd = [sys.executable, __file__, "--_large-child", "--large-units", str(args.large_units), "--device", args.device]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--block-size", str(args.block_size)] if args.block_size else []
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        rows.append((f"(3) {args.large_units:,} x {args.large_units:,} units, 64 probes, both", f"{out['peak_rss_mib']:,.0f} MiB peak RSS",
                     f"{out['seconds']:.0f} s wall, {out['cpu_seconds']:.0f} s CPU"
                     + (f", {out['peak_gpu_mib']:,.0f} MiB peak GPU" if "peak_gpu_mib" in out else "") + f"; RSS before the call {out['rss_before_mib']:.0f} MiB (inputs {out['inputs_mib']:.0f} MiB)"))  # fmt: skip
    if 4 in parts:
        t = bench_pair_table(args.repeats)
        rows.append((f"(4) 8-network pair table ({t['pairs']} pairs, 1000 x 2000 units), per pair / prepared once",
                     f"{t['ratio']:.2f}x", f"per pair {t['per_pair_s']:.2f} s, prepared once {t['prepared_s']:.2f} s"))
    if 5 in parts:
        t = bench_null(args.repeats, 10, 100, np.repeat([0, 1], [5408, 1600]), 200, variant="original",
                       direction="forward")
        rows.append(("(5) shuffled null, 200 draws, 10 x (100 vs 7008), null / one score", f"{t['ratio']:.0f}x",
                     f"null {t['null_s']:.2f} s (target < 1 s), one score {t['score_s'] * 1e3:.1f} ms, "
                     f"a draw = {t['per_draw']:.2f} score"))
    if 6 in parts:
        t = bench_null(args.repeats, 1000, 2000, np.zeros(2000, dtype=np.int64), 100, n_boot=100)
        rows.append(("(6) shuffled null, 100 draws, 1000 x (2000 vs 2000), both, null / one score", f"{t['ratio']:.0f}x",
                     f"null {t['null_s']:.1f} s (target < 30 s), one score {t['score_s']:.3f} s, a draw = "
                     f"{t['per_draw']:.2f} score; probe interval, 100 resamples {t['boot_s']:.1f} s"))
    if 7 in parts:
        t = bench_measures(args.repeats, device=args.device)
        rows.append(("(7) one pair, 1000 x (2000 vs 2000): mutual k-NN / score, CKNNA / score (k = 10)",
                     f"{t['mutual_knn'] / t['score']:.2f}x, {t['cknna'] / t['score']:.2f}x",
                     f"score {t['score']:.3f} s, mutual k-NN {t['mutual_knn']:.3f} s, CKNNA {t['cknna']:.3f} s, "
                     f"linear CKA {t['linear_cka']:.3f} s"))
    width = max(len(r[0]) for r in rows)
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>18}  {detail}")


if __name__ == "__main__":
    main()
