"""benchmarks/bench_pairs.py's profile split (part 4) on a real cProfile run of a small zoo."""

from __future__ import annotations

import cProfile
import importlib.util
import pstats
import time
from pathlib import Path

import numpy as np
import pytest

from xcorr_lib.score.pairs import pair_matrix

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_pairs", ROOT / "benchmarks" / "bench_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_profile_parts_split_a_real_run(bench, tmp_path):
    models = bench.make_zoo(tmp_path, 5, 120, 60)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    mat = prof.runcall(pair_matrix, models, tile_size=2)
    total = time.perf_counter() - t0
    parts = bench.profile_parts(pstats.Stats(prof).stats, total)
    assert np.isfinite(mat.values).all()
    # every named part was seen, each at most the whole, and they add up to the time measured
    assert set(parts) == {*bench.PROFILE_PARTS.values(), "other (Python, tiles, tables)"}
    named = {k: v for k, v in parts.items() if not k.startswith("other")}
    assert all(0 < v <= total for v in named.values())
    assert sum(parts.values()) == pytest.approx(total)
    assert parts["other (Python, tiles, tables)"] >= 0


def test_profile_parts_counts_builtins_by_own_time_and_functions_by_cumulative(bench):
    stats = {("~", 0, "<built-in method torch.mm>"): (3, 3, 2.0, 2.5, {}),
             ("/x/xcorr_lib/score/_blocked.py", 170, "_row_max"): (3, 3, 0.1, 0.4, {}),
             ("/x/xcorr_lib/score/_blocked.py", 100, "standardize"): (2, 2, 0.05, 0.3, {}),
             ("/x/other.py", 1, "standardize"): (1, 1, 9.0, 9.0, {})}  # same name, another file: not counted
    parts = bench.profile_parts(stats, 4.0)
    assert parts["block products (torch.mm)"] == 2.0
    assert parts["block maxima and argmaxes"] == 0.4
    assert parts["standardizing each model (once per tile)"] == 0.3
    assert parts["other (Python, tiles, tables)"] == pytest.approx(4.0 - 2.7)
