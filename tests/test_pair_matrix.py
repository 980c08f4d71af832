"""pair_matrix: the all-pairs engine, in-process and on a real Dask LocalCluster (2 worker processes)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.measures import ASYMMETRIC, MEASURES, linear_cka
from xcorr_lib.measures import pair_matrix as named_pair_matrix
from xcorr_lib.score.pairs import all_pairs, as_matrix, pair_matrix, pair_table


def zoo(k: int = 6, seed: int = 0, m: int = 40) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """k small two-layer 'networks' with shared structure (so scores differ from pair to pair)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(m, 12))
    out = {}
    for i in range(k):
        h1 = base @ rng.normal(size=(12, 9)) + 0.5 * rng.normal(size=(m, 9))
        h2 = np.maximum(h1 @ rng.normal(size=(9, 7)), 0)
        h2[:, 0] = 0.0  # a dead unit
        out[f"net{i}"] = (np.concatenate([h1, h2], 1).astype(np.float32), np.r_[np.zeros(9, int), np.ones(7, int)])
    return out


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            distributed.Client(lc) as c:
        yield c


@pytest.mark.parametrize("variant,direction", [("paper", "both"), ("original", "forward"), ("original", "both")])
def test_in_process_equals_the_pair_table(variant: str, direction: str) -> None:
    models = zoo()
    mat = pair_matrix(models, variant=variant, direction=direction, tile_size=4)
    names = list(models)
    pairs = all_pairs(names) if direction == "both" else [(a, b) for a in names for b in names if a != b]
    ref = as_matrix(pair_table(models, pairs, variant=variant, direction=direction), names, symmetric=direction == "both")
    off = ~np.eye(len(names), dtype=bool)
    assert np.array_equal(mat.values[off], ref.values[off])
    assert list(mat.index) == list(mat.columns) == names
    assert mat.attrs["tiles_total"] == (3 if direction == "both" else 4) and mat.attrs["tiles_reused"] == 0
    if direction == "forward":
        assert not np.allclose(mat.values, mat.values.T)


def test_dask_cluster_gives_exactly_the_in_process_matrix(client, tmp_path: Path) -> None:
    models = zoo(7)
    files = {}
    for n, (acts, layers) in models.items():  # the same activations as memory-mapped .npy files
        np.save(tmp_path / f"{n}.npy", acts)
        files[n] = (tmp_path / f"{n}.npy", layers)
    for measure in ("score", "linear_cka", "pwcca"):
        here = named_pair_matrix(models, measure, tile_size=3)
        there = named_pair_matrix(files, measure, tile_size=3, scheduler=client)
        assert np.array_equal(here.values, there.values), measure
    forward = pair_matrix(models, variant="original", direction="forward", tile_size=2)
    assert np.array_equal(forward.values, pair_matrix(models, variant="original", direction="forward", tile_size=2,
                                                      scheduler=client).values)


def slow_cka(x, y) -> float:
    time.sleep(0.15)
    return linear_cka(x, y)


def test_a_worker_closed_while_tiles_are_pending_changes_nothing(client, tmp_path: Path) -> None:
    models = zoo(8)
    expected = pair_matrix(models, slow_cka, tile_size=2, name="cka")
    result: dict[str, pd.DataFrame] = {}
    run = threading.Thread(target=lambda: result.update(m=pair_matrix(models, slow_cka, tile_size=2, name="cka",
                                                                      scheduler=client, workdir=tmp_path)))
    run.start()
    deadline = time.time() + 60
    while not list(tmp_path.rglob("tile-*.json")) and time.time() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.rglob("tile-*.json")), "no tile finished"
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)  # the worker process dies mid-task; its tasks go elsewhere (the nanny restarts it)
    run.join(timeout=120)
    assert not run.is_alive()
    assert len(list(tmp_path.rglob("tile-*.json"))) == 10
    assert np.array_equal(result["m"].values, expected.values)
    assert result["m"].attrs["tiles_computed"] == 10


class FailsAfter:
    """A measure that raises on its n-th call (an interrupted run), else linear CKA."""

    def __init__(self, n: int | None) -> None:
        self.n, self.calls = n, 0

    def __call__(self, x, y) -> float:
        self.calls += 1
        if self.n is not None and self.calls >= self.n:
            raise RuntimeError("interrupted")
        return linear_cka(x, y)


def test_an_interrupted_run_resumes_and_computes_only_missing_tiles(tmp_path: Path) -> None:
    models = zoo(6)  # 3 blocks of 2: 6 tiles; tiles (0,0) and (0,1) take 3 + 4 calls
    with pytest.raises(RuntimeError, match="interrupted"):
        pair_matrix(models, FailsAfter(10), tile_size=2, name="cka", workdir=tmp_path)
    assert len(list(tmp_path.rglob("tile-*.json"))) == 2
    again = FailsAfter(None)
    resumed = pair_matrix(models, again, tile_size=2, name="cka", workdir=tmp_path)
    assert (resumed.attrs["tiles_reused"], resumed.attrs["tiles_computed"]) == (2, 4)
    assert again.calls == 21 - 7
    assert np.array_equal(resumed.values, pair_matrix(models, linear_cka, tile_size=2).values)
    other = pair_matrix({**models, "net0": (models["net0"][0] + 1e-3, models["net0"][1])}, linear_cka, tile_size=2,
                        name="cka", workdir=tmp_path)  # other activations: another key, nothing reused
    assert other.attrs["tiles_reused"] == 0 and other.attrs["key"] != resumed.attrs["key"]


@pytest.mark.parametrize("measure", ["score", *MEASURES])
def test_each_measure_is_symmetric_where_it_should_be_with_one_on_the_diagonal(measure: str) -> None:
    models = zoo(4, m=60)  # each net has one dead unit: the score is 1 with itself only when it is left out
    options = {"constant": "exclude"} if measure == "score" else {}
    mat = named_pair_matrix(models, measure, tile_size=3, **options)
    if measure == "score":
        np.testing.assert_allclose(np.diag(pair_matrix(models, constant="zero").values), 15 / 16, atol=1e-6)
    assert np.all(np.isfinite(mat.values))
    np.testing.assert_allclose(np.diag(mat.values), 1.0, atol=1e-3 if measure == "cknna" else 1e-5)  # cknna: 1 - eps/HSIC
    if measure in ASYMMETRIC:
        assert not np.allclose(mat.values, mat.values.T, rtol=0, atol=1e-12)
    else:
        assert np.array_equal(mat.values, mat.values.T)


def test_errors_are_clear(tmp_path: Path) -> None:
    models = zoo(3)
    with pytest.raises(ValueError, match="unknown measure 'cka'"):
        named_pair_matrix(models, "cka")
    with pytest.raises(ValueError, match="xcorr_lib.measures.pair_matrix"):
        pair_matrix(models, "linear_cka")
    with pytest.raises(ValueError, match="same probes"):
        pair_matrix({**models, "short": (models["net0"][0][:10], models["net0"][1])})
    with pytest.raises(ValueError, match="layer ids"):
        pair_matrix({"a": (models["net0"][0], [0, 1])})
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        pair_matrix({"a": (tmp_path / "nope.npy", [0])})
    with pytest.raises(ValueError, match="scheduler must be"):
        pair_matrix(models, scheduler="spark")
    with pytest.raises(ValueError, match="variant"):
        pair_matrix(models, variant="max")


@settings(max_examples=15, deadline=None)
@given(tile_size=st.integers(1, 6), order=st.permutations(list(range(5))))
def test_tiling_and_model_order_do_not_change_any_cell(tile_size: int, order: list[int]) -> None:
    models = ZOO5
    names = [list(models)[i] for i in order]
    mat = pair_matrix({n: models[n] for n in names}, variant="original", direction="forward", tile_size=tile_size)
    assert np.array_equal(mat.loc[list(models), list(models)].values, BASE5.values)


ZOO5 = zoo(5, seed=3)
BASE5 = pair_matrix(ZOO5, variant="original", direction="forward", tile_size=5)
