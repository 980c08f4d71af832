"""Mutual k-NN and CKNNA (xcorr_lib.measures.neighbours) against dense numpy oracles written from
their definitions (the Platonic Representation paper's released computation: inner-product
kernels, itself excluded, M x M masks, Song et al.'s unbiased HSIC in its trace form), their
invariances, hypothesis properties, blocking, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcorr_lib.measures import ASYMMETRIC, MEASURES, cknna, mutual_knn, mutual_knn_chance
from xcorr_lib.measures.neighbours import knn_indices


# ---------- dense oracles ----------

def unit_rows(X: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norm, 1e-12)


def oracle_masks(K: np.ndarray, k: int) -> np.ndarray:
    """M x M 0/1: row i marks i's k largest K_ij, j != i, ties to the lower j."""
    S = K.astype(np.float64).copy()
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    mask = np.zeros_like(S)
    np.put_along_axis(mask, idx, 1.0, axis=1)
    return mask


def oracle_mutual_knn(X: np.ndarray, Y: np.ndarray, k: int, normalize: bool = True) -> float:
    X, Y = (unit_rows(X), unit_rows(Y)) if normalize else (X, Y)
    mx, my = oracle_masks(X @ X.T, k), oracle_masks(Y @ Y.T, k)
    return float(((mx * my).sum(axis=1) / k).mean())


def oracle_hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    m = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    value = np.sum(Kt * Lt.T) + Kt.sum() * Lt.sum() / ((m - 1) * (m - 2)) - 2.0 * np.sum(Kt @ Lt) / (m - 2)
    return float(value / (m * (m - 3)))


def oracle_cknna(X: np.ndarray, Y: np.ndarray, k: int, normalize: bool = True, eps: float = 1e-6) -> float:
    X, Y = (unit_rows(X), unit_rows(Y)) if normalize else (X, Y)
    K, L = X @ X.T, Y @ Y.T
    mx, my = oracle_masks(K, k), oracle_masks(L, k)
    kl = oracle_hsic_unbiased(mx * my * K, mx * my * L)
    return kl / (np.sqrt(oracle_hsic_unbiased(mx * K, mx * K) * oracle_hsic_unbiased(my * L, my * L)) + eps)


def related(seed: int, m: int = 80, n1: int = 12, n2: int = 9, noise: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(m, 5))
    return (z @ rng.normal(size=(5, n1)) + noise * rng.normal(size=(m, n1)),
            z @ rng.normal(size=(5, n2)) + noise * rng.normal(size=(m, n2)))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed,k", [(0, 1), (1, 5), (2, 10), (3, 40)])
def test_both_equal_their_dense_oracles(seed: int, k: int, normalize: bool) -> None:
    X, Y = related(seed, m=60)
    assert mutual_knn(X, Y, k, normalize=normalize) == pytest.approx(oracle_mutual_knn(X, Y, k, normalize), abs=1e-12)
    if k >= 2:
        assert cknna(X, Y, k, normalize=normalize) == pytest.approx(oracle_cknna(X, Y, k, normalize), abs=1e-9)


def test_ties_go_to_the_lower_probe_index_in_every_block() -> None:
    rng = np.random.default_rng(4)
    X = rng.integers(0, 2, size=(40, 3)).astype(np.float64)  # many repeated rows: ties everywhere
    X[0] = 0.0  # a probe with an all-zero row: similarity 0 with everything
    Y = rng.integers(0, 3, size=(40, 2)).astype(np.float64)
    for block in (1, 7, 1024):
        assert mutual_knn(X, Y, 6, block=block) == pytest.approx(oracle_mutual_knn(X, Y, 6), abs=1e-12)
        assert cknna(X, Y, 6, block=block) == pytest.approx(oracle_cknna(X, Y, 6), abs=1e-9)
    idx = knn_indices(torch.as_tensor(unit_rows(X)), 6, normalize=False, block=5)
    assert np.array_equal(np.sort(idx.numpy(), axis=1), np.sort(np.argsort(
        -np.where(np.eye(40, dtype=bool), -np.inf, unit_rows(X) @ unit_rows(X).T), axis=1, kind="stable")[:, :6], axis=1))


# ---------- invariances ----------

def test_mutual_knn_invariances_and_levels() -> None:
    X, Y = related(5, m=100)
    rng = np.random.default_rng(5)
    Q1, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    Q2, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    base = mutual_knn(X, Y)
    for x, y in ((3.0 * X, Y), (X, 0.01 * Y), (X @ Q1, Y), (X, Y @ Q2), (2.0 * X @ Q1, 5.0 * Y @ Q2)):
        assert mutual_knn(x, y) == base and mutual_knn(x, y, normalize=False) == mutual_knn(X, Y, normalize=False)
    scales = rng.uniform(0.1, 10.0, size=(100, 1))  # cosine: each probe's own scale does not matter
    assert mutual_knn(scales * X, Y) == base
    assert mutual_knn(X, X) == 1.0 and mutual_knn(X, 2.0 * X @ Q1) == 1.0
    assert 0.0 <= base <= 1.0 and base > 3 * mutual_knn_chance(100)


def test_unrelated_representations_sit_at_k_over_m_minus_one() -> None:
    """Independent Gaussian representations: each probe's two neighbour sets are independent draws,
    so the overlap averages k / (M - 1) (10 / 199 here); the mean of 20 pairs is within 0.005."""
    m, k = 200, 10
    values = [mutual_knn(*[np.random.default_rng([s, side]).normal(size=(m, 50)) for side in (0, 1)], k)
              for s in range(20)]
    assert np.mean(values) == pytest.approx(mutual_knn_chance(m, k), abs=0.005)


def test_cknna_invariances_and_levels() -> None:
    X, Y = related(6, m=100)
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    base = cknna(X, Y)
    assert cknna(4.0 * X @ Q, Y) == pytest.approx(base, abs=1e-12)
    assert cknna(X, X) == pytest.approx(1.0, abs=1e-3)  # 1 - eps / HSIC: the released code's eps
    assert cknna(X, X, eps=0.0) == pytest.approx(1.0, abs=1e-12)
    unrelated = cknna(X, np.random.default_rng(7).normal(size=(100, 9)))
    assert abs(unrelated) < 0.2 < base
    assert "cknna" in ASYMMETRIC and cknna(Y, X) == pytest.approx(base, abs=0.05)


# ---------- properties ----------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(8, 40), st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**31 - 1), st.data())
def test_properties(m: int, n1: int, n2: int, seed: int, data) -> None:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(m, n1)), rng.normal(size=(m, n2))
    k = data.draw(st.integers(2, m - 1))
    value = mutual_knn(X, Y, k)
    assert 0.0 <= value <= 1.0 and value == mutual_knn(Y, X, k)
    perm = rng.permutation(m)  # relabelling the probes alike changes nothing (no ties: 2+ units, Gaussian)
    assert mutual_knn(X[perm], Y[perm], k) == pytest.approx(value, abs=1e-12)
    assert mutual_knn(X, Y, k, block=3) == value
    if m >= 4:
        assert cknna(X, Y, k, block=3) == pytest.approx(oracle_cknna(X, Y, k), abs=1e-9)


def test_torch_inputs_stay_on_their_device_and_match_numpy() -> None:
    X, Y = related(8)
    tx, ty = torch.from_numpy(X).float(), torch.from_numpy(Y).float()
    assert mutual_knn(tx, ty) == mutual_knn(X.astype(np.float32), Y.astype(np.float32))
    assert cknna(tx, ty) == pytest.approx(cknna(X.astype(np.float32), Y.astype(np.float32)), abs=1e-12)
    assert MEASURES["mutual_knn"] is mutual_knn and MEASURES["cknna"] is cknna


# ---------- errors ----------

@pytest.mark.parametrize("call,message", [
    (lambda X, Y: mutual_knn(X, Y, k=80), r"k=80 neighbours need at least k \+ 1 = 81 probes, got 80"),
    (lambda X, Y: mutual_knn(X, Y, k=0), "k must be an integer >= 1"),
    (lambda X, Y: cknna(X, Y, k=1), "k must be an integer >= 2"),
    (lambda X, Y: cknna(X[:3], Y[:3], k=2), "at least 4 probes"),
    (lambda X, Y: mutual_knn(X, Y[:-1]), "same number of probes"),
    (lambda X, Y: mutual_knn(np.where(X > 2, np.nan, X), Y), "NaN or Inf"),
    (lambda X, Y: cknna(X, np.ones_like(Y)), "units of Y are constant"),
    (lambda X, Y: mutual_knn(X[:, 0], Y), "2-d"),
])
def test_errors_are_one_line(call, message) -> None:
    X, Y = related(9)
    with pytest.raises(ValueError, match=message) as err:
        call(X, Y)
    assert "\n" not in str(err.value)
