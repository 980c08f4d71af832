"""Centered kernel alignment (CKA): linear, debiased linear and RBF.

CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited")
compares two representations of the same M probes through their probe-by-probe Gram
matrices K = X X^T and L = Y Y^T, centered by H = I - 11^T/M::

    HSIC(K, L) = <HKH, HLH>_F        CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

For linear kernels on centered features, <HKH, HLH> = ||Y^T X||_F^2, so the same number is
computed from M x M Gram matrices or from N x N feature products, whichever is cheaper.
Linear CKA is invariant to orthogonal transforms and isotropic scaling of either side and
to shifting every unit by a constant; it is not invariant to general invertible maps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import pdist, squareform

from ._common import prepare_pair


def _gram_is_cheaper(m: int, n1: int, n2: int) -> bool:
    """True when M x M Gram matrices cost fewer flops than N x N feature products."""
    return m * m * (n1 + n2) < m * (n1 * n2 + n1 * n1 + n2 * n2)


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA between two activation matrices of the same probes.

    Parameters
    ----------
    X : array-like (M, N1)
        Activations of model A: M probes (rows), N1 units (columns). numpy or torch.
    Y : array-like (M, N2)
        Activations of model B on the same probes, in the same order.

    Returns
    -------
    float in [0, 1]; 1 when Y = X Q c (+ shift) for an orthogonal Q and scalar c != 0.

    Raises
    ------
    ValueError
        Different M, M < 3, NaN/Inf, or no non-constant unit on one side. Constant units
        are dropped (they do not change linear CKA).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(linear_cka(X, 3.0 * X + 1.0), 6)
    1.0
    """
    X, Y = prepare_pair(X, Y)
    m, n1 = X.shape
    n2 = Y.shape[1]
    if _gram_is_cheaper(m, n1, n2):
        K, L = X @ X.T, Y @ Y.T  # (M, M); centered features -> already centered Grams
        hsic, nx, ny = float(np.sum(K * L)), np.linalg.norm(K), np.linalg.norm(L)
    else:
        hsic = float(np.linalg.norm(Y.T @ X) ** 2)  # ||Y^T X||_F^2
        nx, ny = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    return float(np.clip(hsic / (nx * ny), 0.0, 1.0))


def _hsic_unbiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased HSIC estimator (Song et al. 2012) for linear kernels, times n(n-3).

    With K~, L~ the Gram matrices with zeroed diagonals, the estimator is
    [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)). On centered
    features K1 = 0, so 1'K~1 = -sum(k), K~1 = -k with k the squared row norms, and
    everything follows from ||Y^T X||_F^2 (or <K, L>) and k, l.
    """
    n = X.shape[0]
    k = np.einsum("ij,ij->i", X, X)  # diag of K, (M,)
    ell = np.einsum("ij,ij->i", Y, Y)
    if _gram_is_cheaper(n, X.shape[1], Y.shape[1]):
        tr_kl = float(np.sum((X @ X.T) * (Y @ Y.T)))
    else:
        tr_kl = float(np.linalg.norm(Y.T @ X) ** 2)
    kl = float(k @ ell)
    return (tr_kl - kl) + k.sum() * ell.sum() / ((n - 1) * (n - 2)) - 2.0 * kl / (n - 2)


def linear_cka_debiased(X: Any, Y: Any) -> float:
    """Debiased linear CKA: CKA built from the unbiased HSIC estimator.

    The plain (biased) HSIC makes CKA drift towards 1 when units outnumber probes; the
    unbiased U-statistic of Song et al. (2012), as used by Nguyen et al. (2021), removes
    that bias. The value can be slightly negative for unrelated representations.

    Parameters
    ----------
    X : array-like (M, N1)
    Y : array-like (M, N2)
        Same probes, same order. M must be at least 4 (the estimator divides by M - 3).

    Returns
    -------
    float in [-1, 1].

    Raises
    ------
    ValueError
        M <= 3 (the estimator is undefined: the classic NaN of tiny batches), different
        M, NaN/Inf, all units constant, or a side whose unbiased self-HSIC is zero.
    """
    X, Y = prepare_pair(X, Y, min_probes=4)
    hxy = _hsic_unbiased(X, Y)
    hxx = _hsic_unbiased(X, X)
    hyy = _hsic_unbiased(Y, Y)
    eps = 1e-12
    if hxx <= eps or hyy <= eps:
        raise ValueError("debiased CKA is undefined: the unbiased self-HSIC of X or Y is "
                         f"zero (X: {hxx:.3g}, Y: {hyy:.3g}); use more probes")
    return float(np.clip(hxy / np.sqrt(hxx * hyy), -1.0, 1.0))


def _rbf_gram(X: np.ndarray, sigma: float, name: str) -> np.ndarray:
    """Centered RBF Gram matrix with bandwidth sigma * sqrt(median squared distance)."""
    d2 = pdist(X, "sqeuclidean")  # (M(M-1)/2,) off-diagonal pairs only
    med = float(np.median(d2))
    if med <= 0.0:
        raise ValueError(f"median pairwise distance of {name} is zero (more than half of the "
                         "probe pairs are identical); the RBF bandwidth is undefined")
    K = np.exp(-squareform(d2) / (2.0 * sigma**2 * med))
    row = K.mean(axis=0)
    return K - row[:, None] - row[None, :] + row.mean()  # H K H


def rbf_cka(X: Any, Y: Any, sigma: float = 0.8) -> float:
    """CKA with Gaussian (RBF) kernels.

    Parameters
    ----------
    X : array-like (M, N1)
    Y : array-like (M, N2)
        Same probes, same order.
    sigma : float
        Bandwidth as a fraction of the median pairwise Euclidean distance between probes
        (Kornblith et al. 2019 use 0.2 to 0.8); each side gets its own median. Unlike
        Kornblith's reference code the median is taken over distinct pairs only (the
        zero diagonal is left out).

    Returns
    -------
    float in [0, 1]. Memory O(M^2).

    Raises
    ------
    ValueError
        sigma <= 0, a zero median distance, or the shared input checks.
    """
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    X, Y = prepare_pair(X, Y)
    Kc, Lc = _rbf_gram(X, sigma, "X"), _rbf_gram(Y, sigma, "Y")
    denom = np.linalg.norm(Kc) * np.linalg.norm(Lc)
    if denom <= 0.0:
        raise ValueError("RBF CKA is undefined: a centered RBF Gram matrix is zero")
    return float(np.clip(np.sum(Kc * Lc) / denom, 0.0, 1.0))
