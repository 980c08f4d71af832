"""Tests of xcorr_lib.measures against brute-force oracles and published identities."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from xcorr_lib.measures import (ALL_MEASURES, MEASURES, canonical_correlations, compare_measures,
                                linear_cka, linear_cka_debiased, pwcca, rbf_cka, rsa, svcca)

SEEDS = [0, 1, 2]


def rand(seed: int, m: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(m, n))


def orthogonal(seed: int, n: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed + 100).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def related(seed: int, m: int = 60, n1: int = 12, n2: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Two partly related representations of the same probes."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(m, 5))
    return (z @ rng.normal(size=(5, n1)) + 0.5 * rng.normal(size=(m, n1)),
            z @ rng.normal(size=(5, n2)) + 0.5 * rng.normal(size=(m, n2)))


# ---------- oracles written from the definitions ----------

def center_matrix(m: int) -> np.ndarray:
    return np.eye(m) - np.ones((m, m)) / m


def oracle_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Gram form on raw (uncentered) features: HSIC = tr(K H L H)."""
    H = center_matrix(X.shape[0])
    K, L = X @ X.T, Y @ Y.T
    hsic = lambda A, B: np.trace(A @ H @ B @ H)  # noqa: E731
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def oracle_hsic_u(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) U-statistic: average of h over all 4-subsets of distinct indices."""
    n = K.shape[0]
    total, count = 0.0, 0
    for quad in itertools.combinations(range(n), 4):
        h = 0.0
        for t, u, v, w in itertools.permutations(quad):
            h += K[t, u] * L[t, u] + K[t, u] * L[v, w] - 2 * K[t, u] * L[t, v]
        total += h / 24
        count += 1
    return total / count


def oracle_debiased(X: np.ndarray, Y: np.ndarray) -> float:
    K, L = X @ X.T, Y @ Y.T
    return oracle_hsic_u(K, L) / np.sqrt(oracle_hsic_u(K, K) * oracle_hsic_u(L, L))


def oracle_rbf_cka(X: np.ndarray, Y: np.ndarray, sigma: float) -> float:
    def gram(A: np.ndarray) -> np.ndarray:
        m = A.shape[0]
        d2 = np.array([[np.sum((A[i] - A[j]) ** 2) for j in range(m)] for i in range(m)])
        med = np.median(d2[np.triu_indices(m, 1)])
        return np.exp(-d2 / (2 * sigma**2 * med))
    H = center_matrix(X.shape[0])
    K, L = gram(X), gram(Y)
    hsic = lambda A, B: np.trace(A @ H @ B @ H)  # noqa: E731
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def oracle_cca(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Classic CCA: rho^2 are the eigenvalues of Sxx^-1 Sxy Syy^-1 Syx."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    sxx, syy, sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    ev = np.linalg.eigvals(np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T))
    return np.sort(np.sqrt(np.clip(ev.real, 0, 1)))[::-1][: min(X.shape[1], Y.shape[1])]


def oracle_rsa(X: np.ndarray, Y: np.ndarray) -> float:
    m = X.shape[0]
    iu = np.triu_indices(m, 1)
    dx, dy = (1 - np.corrcoef(X))[iu], (1 - np.corrcoef(Y))[iu]
    rx, ry = stats.rankdata(dx), stats.rankdata(dy)
    return float(np.corrcoef(rx, ry)[0, 1])


# ---------- linear CKA ----------

@pytest.mark.parametrize("shape", [(20, 100), (200, 10)])  # Gram path, feature path
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_cka_matches_gram_oracle(shape: tuple[int, int], seed: int) -> None:
    X = rand(seed, *shape) + 3.0
    Y = np.tanh(X[:, : shape[1] // 2] @ rand(seed + 7, shape[1] // 2, 8)) + rand(seed + 9, shape[0], 8)
    assert linear_cka(X, Y) == pytest.approx(oracle_linear_cka(X, Y), abs=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_cka_invariances(seed: int) -> None:
    X, Y = related(seed)
    base = linear_cka(X, Y)
    Q = orthogonal(seed, X.shape[1])
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X @ Q * -3.7, Y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(X + 5.0, Y - 2.0) == pytest.approx(base, abs=1e-10)
    assert linear_cka(X, Y @ orthogonal(seed + 1, Y.shape[1]) * 0.01) == pytest.approx(base, abs=1e-10)
    # ... but not invariant to a general invertible map (so the tests above can fail)
    A = np.diag(np.geomspace(1, 100, X.shape[1]))
    assert abs(linear_cka(X @ A, Y) - base) > 1e-3


# ---------- debiased linear CKA ----------

@pytest.mark.parametrize("m", [0, 1, 2, 3])
def test_debiased_needs_four_probes(m: int) -> None:
    with pytest.raises(ValueError, match="at least 4 probes"):
        linear_cka_debiased(np.ones((m, 3)) * np.arange(3), np.ones((m, 2)))


@pytest.mark.parametrize("seed", SEEDS)
def test_debiased_matches_song_u_statistic(seed: int) -> None:
    X, Y = rand(seed, 7, 4), rand(seed + 1, 7, 3)
    Y[:, 0] += X[:, 1]
    assert linear_cka_debiased(X, Y) == pytest.approx(oracle_debiased(X, Y), abs=1e-10)
    assert np.isfinite(linear_cka_debiased(X[:4], Y[:4]))


@pytest.mark.parametrize("shape", [(15, 80), (300, 6)])
def test_debiased_paths_agree_and_are_invariant(shape: tuple[int, int]) -> None:
    X, Y = rand(3, *shape), rand(4, *shape)
    Y[:, :3] += X[:, :3]
    v = linear_cka_debiased(X, Y)
    assert linear_cka_debiased(X, X) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka_debiased(2 * X @ orthogonal(0, shape[1]) + 1, Y) == pytest.approx(v, abs=1e-9)


def test_debiased_removes_the_many_units_bias() -> None:
    X, Y = rand(0, 20, 500), rand(1, 20, 500)  # independent, units >> probes
    assert linear_cka(X, Y) > 0.5
    assert abs(linear_cka_debiased(X, Y)) < 0.1


# ---------- RBF CKA ----------

@pytest.mark.parametrize("sigma", [0.3, 0.8, 2.0])
def test_rbf_cka_matches_oracle(sigma: float) -> None:
    X, Y = related(5, m=25)
    assert rbf_cka(X, Y, sigma) == pytest.approx(oracle_rbf_cka(X, Y, sigma), abs=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_rbf_cka_identities(seed: int) -> None:
    X, Y = related(seed)
    base = rbf_cka(X, Y)
    assert rbf_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert rbf_cka(4.0 * X @ orthogonal(seed, X.shape[1]) + 1.0, Y) == pytest.approx(base, abs=1e-10)
    with pytest.raises(ValueError, match="sigma"):
        rbf_cka(X, Y, sigma=0.0)


def test_rbf_cka_zero_median_distance() -> None:
    X = np.zeros((6, 2))
    X[0, 0] = 1.0  # five identical probes
    with pytest.raises(ValueError, match="median"):
        rbf_cka(X, rand(0, 6, 3))


# ---------- SVCCA / PWCCA ----------

@pytest.mark.parametrize("seed", SEEDS)
def test_canonical_correlations_match_classic_cca(seed: int) -> None:
    X, Y = related(seed, m=80, n1=6, n2=4)
    np.testing.assert_allclose(canonical_correlations(X, Y), oracle_cca(X, Y), atol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_svcca_pwcca_identical_and_invertible_maps(seed: int) -> None:
    X, Y = related(seed, m=80)
    A = rand(seed + 3, X.shape[1], X.shape[1]) + 3 * np.eye(X.shape[1])  # invertible
    B = rand(seed + 4, Y.shape[1], Y.shape[1]) + 3 * np.eye(Y.shape[1])
    for keep in (0.99, 1.0, 5):
        assert svcca(X, X, keep=keep) == pytest.approx(1.0, abs=1e-10)
    assert pwcca(X, X) == pytest.approx(1.0, abs=1e-10)
    full = svcca(X, Y, keep=1.0)
    assert svcca(X @ A + 2, Y @ B, keep=1.0) == pytest.approx(full, abs=1e-9)
    pw = pwcca(X, Y)
    assert pwcca(X, Y @ B - 1) == pytest.approx(pw, abs=1e-9)
    perm = np.random.default_rng(seed).permutation(X.shape[1])
    assert pwcca(-2.0 * X[:, perm], Y) == pytest.approx(pw, abs=1e-9)
    assert 0.0 <= pw <= 1.0 and 0.0 <= full <= 1.0


def test_svcca_keep_counts_and_validation() -> None:
    X, Y = related(0, m=80)
    assert svcca(X, Y, keep=2) == pytest.approx(np.mean(canonical_correlations(X, Y, keep=2)))
    assert canonical_correlations(X, Y, keep=2).shape == (2,)
    for bad in (0, -1, 0.0, 1.5, True):
        with pytest.raises(ValueError, match="keep"):
            svcca(X, Y, keep=bad)


def test_cca_warns_when_units_outnumber_probes() -> None:
    X, Y = rand(0, 10, 50), rand(1, 10, 50)  # independent, but both span all 9 centered dims
    with pytest.warns(UserWarning, match="by construction"):
        assert svcca(X, Y, keep=1.0) == pytest.approx(1.0)
    with pytest.warns(UserWarning, match="by construction"):
        pwcca(X, Y)


# ---------- RSA ----------

@pytest.mark.parametrize("seed", SEEDS)
def test_rsa_matches_oracle_and_identity(seed: int) -> None:
    X, Y = related(seed, m=30)
    assert rsa(X, Y) == pytest.approx(oracle_rsa(X, Y), abs=1e-10)
    assert rsa(X, X) == pytest.approx(1.0, abs=1e-12)
    assert rsa(X, X, metric="euclidean", compare="pearson") == pytest.approx(1.0, abs=1e-12)
    assert rsa(X, X @ orthogonal(seed, X.shape[1]) + 3, metric="euclidean") == pytest.approx(1.0, abs=1e-12)


def test_rsa_options_and_undefined_cases() -> None:
    X, Y = related(0, m=20)
    with pytest.raises(ValueError, match="'manhattan'.*'correlation'"):
        rsa(X, Y, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compare"):
        rsa(X, Y, compare="cosine")  # type: ignore[arg-type]
    Xbad = X.copy()
    Xbad[3] = 1.0  # one probe with the same activation everywhere
    with pytest.raises(ValueError, match="row 3"):
        rsa(Xbad, Y)
    assert -1.0 <= rsa(X, Y, compare="kendall") <= 1.0


# ---------- shared input policy ----------

TWO_ARG = sorted(MEASURES)
#: Measures that drop constant units (the neighbourhood ones keep them, as their released code).
DROP_CONSTANT = [m for m in TWO_ARG if m not in ("mutual_knn", "cknna")]


@pytest.mark.parametrize("name", TWO_ARG)
def test_input_errors(name: str) -> None:
    f = MEASURES[name]
    X, Y = related(0, m=20)
    with pytest.raises(ValueError, match="same number of probes"):
        f(X, Y[:-1])
    with pytest.raises(ValueError, match="at least"):
        f(X[:2], Y[:2])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        f(Xn, Y)
    Xi = X.copy()
    Xi[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        f(X, Xi)
    with pytest.raises(ValueError, match="2-d"):
        f(X[:, 0], Y)
    with pytest.raises(ValueError, match="constant"):
        f(np.ones_like(X), Y)


@pytest.mark.parametrize("name", DROP_CONSTANT)
def test_constant_units_are_dropped(name: str) -> None:
    f = MEASURES[name]
    X, Y = related(1, m=40)
    padded = np.hstack([X, np.zeros((40, 3)), np.full((40, 1), 7.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert f(padded, Y) == pytest.approx(f(X, Y), abs=1e-12)


@pytest.mark.parametrize("name", TWO_ARG)
def test_torch_input_equals_numpy(name: str) -> None:
    X, Y = related(2, m=40)
    f = MEASURES[name]
    tx, ty = torch.from_numpy(X).float(), torch.from_numpy(Y).float()
    assert f(tx, ty) == pytest.approx(f(X.astype(np.float32), Y.astype(np.float32)), abs=1e-12)


# ---------- hypothesis properties ----------

matrix = arrays(np.float64, st.tuples(st.integers(5, 12), st.integers(1, 6)),
                elements=st.floats(-100, 100, allow_nan=False, width=32))


def _usable(A: np.ndarray) -> bool:
    return bool(np.any(np.ptp(A, axis=0) > 1e-6 * max(1.0, np.abs(A).max())))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix, st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_property_symmetry_and_range(X: np.ndarray, n2: int, seed: int) -> None:
    assume(_usable(X))
    Y = np.random.default_rng(seed).normal(size=(X.shape[0], n2))
    c = linear_cka(X, Y)
    assert 0.0 <= c <= 1.0
    assert linear_cka(Y, X) == pytest.approx(c, abs=1e-9)
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = svcca(X, Y, keep=1.0)
        assert 0.0 <= s <= 1.0 and svcca(Y, X, keep=1.0) == pytest.approx(s, abs=1e-9)
        assert 0.0 <= pwcca(X, Y) <= 1.0
    try:  # a side with zero unbiased self-HSIC (e.g. one unit, one odd probe) is undefined
        d = linear_cka_debiased(X, Y)
    except ValueError as err:
        assert "self-HSIC" in str(err)
    else:
        assert -1.0 <= d <= 1.0


# ---------- compare_measures ----------

def test_compare_measures_rejects_unknown_names() -> None:
    X, Y = related(0)
    with pytest.raises(ValueError, match="cka_typo"):
        compare_measures(X, np.zeros(12), Y, np.zeros(9), measures=["linear_cka", "cka_typo"])


def test_compare_measures_equals_direct_calls() -> None:
    X, Y = related(3, m=50)
    out = compare_measures(X, np.zeros(12), Y, np.zeros(9), measures=TWO_ARG)
    assert list(out) == TWO_ARG
    for name in TWO_ARG:
        assert out[name] == pytest.approx(MEASURES[name](X, Y), abs=1e-12)


def test_compare_measures_includes_neuron_correlation() -> None:
    correlation = pytest.importorskip("xcorr_lib.score.correlation")
    X, Y = related(4, m=50)
    la, lb = np.repeat([0, 1], 6), np.zeros(9, dtype=int)
    out = compare_measures(X, la, Y, lb, measures=ALL_MEASURES)
    assert set(out) == set(ALL_MEASURES)
    assert out["neuron_correlation"] == pytest.approx(
        correlation.neuron_correlation(X, la, Y, lb).score)
