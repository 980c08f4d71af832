"""CCA-family measures: SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).

Canonical correlation analysis finds directions in the span of X's units and in the span
of Y's units (both M-vectors over the probes) that are maximally correlated. With
orthonormal bases Qx, Qy of the two centered column spaces, the canonical correlations
are the singular values of Qx^T Qy (the cosines of the principal angles).

Degenerate regime: centered activations live in an (M - 1)-dimensional space. When the
two kept subspaces have dimensions kx + ky > M - 1 they must intersect, and at least
kx + ky - (M - 1) canonical correlations equal 1 whatever the networks are. This happens
whenever units outnumber probes; a warning says so.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._common import prepare_pair


def _basis(X: np.ndarray, keep: float | int | None) -> np.ndarray:
    """Orthonormal basis (M, k) of the leading singular directions of centered X.

    keep: None -> the numerical rank; float in (0, 1] -> fewest directions explaining that
    fraction of the variance; int >= 1 -> that many directions (at most the rank).
    """
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    tol = s[0] * max(X.shape) * np.finfo(float).eps
    rank = int(np.sum(s > tol))
    if keep is None:
        k = rank
    elif isinstance(keep, (int, np.integer)):
        k = min(int(keep), rank)
    else:
        var = s[:rank] ** 2
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, float(keep) - 1e-12) + 1)
        k = min(k, rank)
    return U[:, :k]


def _check_keep(keep: float | int) -> float | int:
    if isinstance(keep, bool):
        raise ValueError(f"keep must be a float in (0, 1] or an int >= 1, got {keep!r}")
    if isinstance(keep, (int, np.integer)):
        if keep < 1:
            raise ValueError(f"keep as a number of directions must be >= 1, got {keep}")
        return int(keep)
    keep = float(keep)
    if not (0.0 < keep <= 1.0):
        raise ValueError(f"keep as a variance fraction must be in (0, 1], got {keep}")
    return keep


def _warn_degenerate(kx: int, ky: int, m: int) -> None:
    if kx + ky > m - 1:
        warnings.warn(f"CCA on {kx} + {ky} directions with only {m} probes: at least "
                      f"{kx + ky - (m - 1)} canonical correlations are 1 by construction; "
                      "use more probes or keep fewer directions", UserWarning, stacklevel=3)


def canonical_correlations(X: Any, Y: Any, keep: float | int | None = None) -> np.ndarray:
    """Canonical correlations between two activation matrices, in decreasing order.

    Parameters
    ----------
    X : array-like (M, N1)
    Y : array-like (M, N2)
        Same probes, same order. Constant units are dropped; units are centered.
    keep : None, float in (0, 1] or int >= 1
        Reduce each side first to its leading singular directions (SVCCA's step):
        None keeps the full numerical rank.

    Returns
    -------
    ndarray (min(kx, ky),) of values in [0, 1].
    """
    keep = None if keep is None else _check_keep(keep)
    X, Y = prepare_pair(X, Y)
    Qx, Qy = _basis(X, keep), _basis(Y, keep)
    _warn_degenerate(Qx.shape[1], Qy.shape[1], X.shape[0])
    rho = np.linalg.svd(Qx.T @ Qy, compute_uv=False)
    return np.clip(rho, 0.0, 1.0)


def svcca(X: Any, Y: Any, keep: float | int = 0.99) -> float:
    """SVCCA: SVD of each side, then the mean canonical correlation (Raghu et al. 2017).

    Parameters
    ----------
    X : array-like (M, N1)
    Y : array-like (M, N2)
        Same probes, same order.
    keep : float in (0, 1] or int >= 1
        A float keeps the fewest singular directions explaining that fraction of each
        side's variance (default 99%); an int keeps that many directions. Note ``1``
        (one direction) differs from ``1.0`` (all directions).

    Returns
    -------
    float in [0, 1]. With ``keep=1.0`` it is invariant to any invertible linear map of X
    or Y; with less it depends on the spectrum that decides which directions survive.
    """
    return float(np.mean(canonical_correlations(X, Y, keep=keep)))


def pwcca(X: Any, Y: Any) -> float:
    """Projection-weighted CCA (Morcos et al. 2018).

    Canonical correlations rho_i are averaged with weights alpha_i proportional to how
    much of X's units the i-th canonical variate h_i (an M-vector in X's span) accounts
    for: alpha_i = sum_j |<h_i, x_j>| over X's units x_j, normalized to sum to 1. So
    directions that carry much of X count more than noise directions.

    Parameters
    ----------
    X : array-like (M, N1)
        The side whose units define the weights.
    Y : array-like (M, N2)
        Same probes, same order.

    Returns
    -------
    float in [0, 1]. Not symmetric. Invariant to invertible linear maps of Y, to
    permutations, sign flips and isotropic scaling of X's units (not to general maps of X).
    """
    X, Y = prepare_pair(X, Y)
    Qx, Qy = _basis(X, None), _basis(Y, None)
    _warn_degenerate(Qx.shape[1], Qy.shape[1], X.shape[0])
    U, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    c = rho.shape[0]
    H = Qx @ U[:, :c]  # (M, c) canonical variates of X, orthonormal columns
    alpha = np.abs(H.T @ X).sum(axis=1)  # (c,)
    if alpha.sum() <= 0.0:
        raise ValueError("PWCCA is undefined: the canonical variates carry none of X")
    return float(np.clip(np.sum(alpha / alpha.sum() * np.clip(rho, 0.0, 1.0)), 0.0, 1.0))
