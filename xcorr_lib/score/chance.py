"""Chance levels of the score, analytically (no engine, no data): the math behind :mod:`.null`.

For independent Gaussian units over M probes: the distribution of one |Pearson r|
(:func:`abs_corr_cdf`), the expected best of K candidates (:func:`expected_max_abs_corr`),
the score without depth penalty (:func:`chance_score`) and in any depth structure and
variant (:func:`analytic_null_score`). :func:`xcorr_lib.score.null.null_score` is the public
entry point (analytic or Monte Carlo); ``CorrelationResult.chance_level`` uses this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, stats

from xcorr_lib.common.checks import check_option

__all__ = ["abs_corr_cdf", "expected_max_abs_corr", "chance_score", "analytic_null_score"]


def abs_corr_cdf(t: Any, M: int) -> np.ndarray:
    """P(|r| <= t) for the Pearson r of M independent Gaussian pairs.

    Under independence r^2 ~ Beta(1/2, (M-2)/2) (equivalently r sqrt((M-2)/(1-r^2)) ~ t
    with M-2 degrees of freedom; the density of r is proportional to (1-r^2)^((M-4)/2)).
    """
    _check_m(M)
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    return stats.beta.cdf(t**2, 0.5, (M - 2) / 2.0)


def _check_m(M: int) -> None:
    if int(M) != M or M < 3:
        raise ValueError(f"M (number of probes) must be an integer >= 3, got {M!r}")


def expected_max_abs_corr(M: int, K: int) -> float:
    """E[max_k |r_k|] over K independent candidates, each r_k a Pearson r over M probes.

    This is what the paper's per-unit score max_v |rho(a_u, a_v)| is expected to be when
    the unit u is unrelated to all K candidate units v (independent Gaussian activations):
    ``E = integral_0^1 (1 - F(t)^K) dt`` with F the CDF of |r| (:func:`abs_corr_cdf`).
    Real units are correlated with each other and not Gaussian, so this is the value for
    K *effective* candidates.

    Parameters
    ----------
    M : int >= 3
        Number of probes.
    K : int >= 1
        Number of candidate units.

    Returns
    -------
    float in (0, 1). E.g. M=10 probes: 0.27 for K=1, 0.88 for K=1000, 0.93 for K=7008.
    """
    _check_m(M)
    if int(K) != K or K < 1:
        raise ValueError(f"K (number of candidates) must be an integer >= 1, got {K!r}")
    b = (M - 2) / 2.0

    def survival(t: float) -> float:  # 1 - F(t)^K, accurate when F^K is near 1
        logf = stats.beta.logcdf(t * t, 0.5, b)
        return float(-np.expm1(K * logf))

    # break points where F^K crosses 1%, 50% and 99%: the integrand's steep part
    qs = [0.01, 0.5, 0.99]
    pts = [math.sqrt(stats.beta.isf(-math.expm1(math.log(q) / K), 0.5, b)) for q in qs]
    val, _ = integrate.quad(survival, 0.0, 1.0, points=sorted(set(pts)), limit=200,
                            epsabs=1e-10, epsrel=1e-8)
    return float(val)


def chance_score(n_probes: int, n_a: int, n_b: int, direction: str = "both") -> float:
    """Expected score of unrelated units with no depth penalty (every unit at one depth).

    ``E_max(M, N_b)`` for ``direction="forward"`` (each of A's units picks among N_b), the mean
    of ``E_max(M, N_b)`` and ``E_max(M, N_a)`` for ``"both"`` (:func:`expected_max_abs_corr`).
    Counts below 1 are treated as 1.
    """
    check_option("direction", direction, ("both", "forward"))
    fwd = expected_max_abs_corr(n_probes, max(int(n_b), 1))
    if direction == "forward":
        return fwd
    return 0.5 * (fwd + expected_max_abs_corr(n_probes, max(int(n_a), 1)))


def _log_cdf(t: np.ndarray, M: int) -> np.ndarray:
    """log P(|r| <= t), elementwise, 0 for t >= 1."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    return np.where(t >= 1.0, 0.0, stats.beta.logcdf(t * t, 0.5, (M - 2) / 2.0))


def _side_expectation(layers_u: np.ndarray, layers_v: np.ndarray, M: int, variant: str) -> float:
    """E[mean over u of S(u; U -> V)] for independent Gaussian units (analytic, see null_score)."""
    lu, nu = np.unique(layers_u, return_counts=True)
    lv, nv = np.unique(layers_v, return_counts=True)
    K = int(nv.sum())
    e_max = expected_max_abs_corr(M, K) if variant == "paper" else None
    out = []
    for l in lu:
        w = 1.0 / (1.0 + np.abs(l - lv))  # penalty towards each layer of V
        if variant == "paper":  # argmax uniform over V's units, independent of the max's value
            out.append(e_max * float((nv * w).sum()) / K)
            continue
        def survival(t: float) -> float:  # P(max_v |r_v| w_v > t)
            return float(-np.expm1(np.sum(nv * _log_cdf(t / w, M))))
        val, _ = integrate.quad(survival, 0.0, float(w.max()), points=sorted(set(w.tolist())), limit=400,
                                epsabs=1e-10, epsrel=1e-8)
        out.append(val)
    return float(np.dot(out, nu) / nu.sum())


def analytic_null_score(layers_a: np.ndarray, layers_b: np.ndarray, n_probes: int, variant: str,
                        direction: str) -> float:
    """Expected semi-matching score of independent Gaussian units (exact; see ``null_score``)."""
    fwd = _side_expectation(layers_a, layers_b, int(n_probes), variant)
    return fwd if direction == "forward" else 0.5 * (fwd + _side_expectation(layers_b, layers_a, int(n_probes), variant))
