"""Input checks and preprocessing shared by every measure.

Policy (the same for all measures in :mod:`xcorr_lib.measures`):

- inputs are ``(M probes, N units)`` matrices, numpy arrays or torch tensors (any device,
  any float dtype); they are copied to float64 numpy;
- both matrices must have the same number of probes ``M`` and at least the measure's
  minimum number of probes;
- NaN or Inf anywhere raises :class:`ValueError`;
- **constant units are dropped**: a unit whose activation does not vary over the probes
  (a dead ReLU, a saturated unit) carries no information about the probes. Linear and RBF
  CKA are unchanged by dropping it, CCA would be singular with it, and RSA's correlation
  distance would be shifted by it. A matrix with no varying unit left raises ValueError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xcorr_lib.score.reference import constant_units

#: Fewest probes any measure accepts (RSA needs three pairs of probes, CCA a 2-d space).
MIN_PROBES = 3


def as_matrix(A: Any, name: str) -> np.ndarray:
    """Return ``A`` as a float64 numpy matrix ``(M, N)``; ValueError if not 2-d or not finite."""
    if hasattr(A, "detach"):  # torch tensor, without importing torch
        A = A.detach().cpu().double().numpy()
    arr = np.array(A, dtype=np.float64, copy=True)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (M probes, N units), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no units (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or Inf values")
    return arr


def constant_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask ``(N,)`` of units that do not vary over the probes: the project's one rule,
    :func:`xcorr_lib.score.reference.constant_units` (std <= 1e-6 * max |a_u|, zeros included)."""
    return constant_units(X)


def drop_constant(X: np.ndarray, name: str) -> np.ndarray:
    """Remove constant units; ValueError when none vary."""
    const = constant_columns(X)
    if const.all():
        raise ValueError(f"all {X.shape[1]} units of {name} are constant over the probes; "
                         "the similarity is undefined")
    return X[:, ~const] if const.any() else X


def prepare_pair(X: Any, Y: Any, *, min_probes: int = MIN_PROBES,
                 center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of activation matrices and apply the shared policy.

    Parameters
    ----------
    X, Y : array-like, shapes (M, N1) and (M, N2)
        Activations of two models on the same M probes.
    min_probes : int
        Smallest M accepted.
    center : bool
        Subtract each unit's mean over the probes, then divide each matrix by its
        Frobenius norm (all measures here are invariant to isotropic scaling; this keeps
        products of Gram matrices far from overflow).

    Returns
    -------
    (X, Y) : float64 arrays with constant units removed.
    """
    X = as_matrix(X, "X")
    Y = as_matrix(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same number of probes (rows): "
                         f"{X.shape[0]} != {Y.shape[0]}")
    if X.shape[0] < min_probes:
        raise ValueError(f"need at least {min_probes} probes, got {X.shape[0]}")
    X = drop_constant(X, "X")
    Y = drop_constant(Y, "Y")
    if center:
        X = X - X.mean(axis=0, keepdims=True)
        Y = Y - Y.mean(axis=0, keepdims=True)
        X /= np.linalg.norm(X)
        Y /= np.linalg.norm(Y)
    return X, Y


