"""Neighbourhood alignment: mutual k-nearest-neighbour overlap and CKNNA.

The Platonic Representation Hypothesis (Huh, Cheung, Wang, Isola, ICML 2024, section 2 and
appendix A) asks "do better models align more?" of many vision and language models with these
two metrics. Both compare, for every probe, which other probes lie closest to it in the two
representations; neither needs the units of the two models to correspond.

Definitions (those of the paper's released code, ``metrics.py`` and ``measure_alignment.py``
of github.com/minyoungg/platonic-rep, checked against numbers it computes in the tests):

- **similarity**: the inner product ``K = X X^T`` (no centering). With ``normalize=True`` (the
  default, as the released pipeline's ``compute_score``) each probe's row is first scaled to
  unit length, so ``K`` holds cosine similarities; a probe whose row is all zeros stays zero
  (similarity 0 with every probe). The pipeline also clamps each feature matrix at the 95%
  quantile of ``|x|`` before that (``prepare_features``); that is preprocessing of stored
  features, not part of the metric, and is left to the caller.
- **neighbours** of probe i: the k probes j != i with the largest ``K_ij`` (itself excluded);
  ties go to the lower probe index (the released code's unstable argsort leaves them to the
  sort; continuous activations have none).
- **mutual_knn**: ``mean_i |N_X(i) & N_Y(i)| / k``. 1 when both sides order every probe's
  neighbours alike (e.g. ``Y = c X Q`` with c > 0 and Q orthogonal); for two unrelated
  representations the neighbour sets are near independent uniform k-subsets of the other
  M - 1 probes, whose expected overlap is ``k / (M - 1)``: the metric's chance level.
- **cknna** (centered kernel nearest-neighbour alignment): CKA computed with the unbiased HSIC
  estimator (Song et al. 2012) on kernels restricted to mutual neighbours,
  ``HSIC_u(m * K, m * L)`` with ``m_ij = 1`` when j is among i's k neighbours in both X and Y,
  normalised by ``sqrt(HSIC_u(m_X * K, m_X * K) HSIC_u(m_Y * L, m_Y * L)) + eps`` (``m_X``: i's
  neighbours in X alone). ``m`` is not symmetric, and the released code's estimator uses
  ``sum(K~ * L~^T)``, i.e. ``tr(K~ L~)``; so does this one. The paper's text writes the
  normalisation without ``eps`` (1e-6 in the code); ``eps`` is a parameter, 1e-6 by default.
  The released code checks ``topk < 2`` before filling ``topk=None`` in (so None fails there);
  here k is always given and must be at least 2.

Both are computed in blocks of probes: at most ``block`` x M similarities exist at once (float32
unless the inputs are float64; 1,024 x 10,000 is 40 MB), and the neighbour lists (M x k) are
all that is kept. The computation runs on the inputs' device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from xcorr_lib.score.reference import CONSTANT_RTOL

__all__ = ["knn_indices", "mutual_knn", "cknna", "mutual_knn_chance"]

#: Probes per block of similarities (block x M values at a time).
BLOCK = 1024


def _as_features(A: Any, name: str) -> torch.Tensor:
    """``A`` as a 2-d floating tensor (float32, or float64 as given), finite; one-line errors."""
    t = A.detach() if isinstance(A, torch.Tensor) else torch.as_tensor(np.asarray(A))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (M probes, N units), got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise ValueError(f"{name} has no units (shape {tuple(t.shape)})")
    t = t if t.dtype == torch.float64 else t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains {int((~torch.isfinite(t)).sum())} NaN or Inf values")
    return t


def _check_pair(X: Any, Y: Any, k: int, min_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_features(X, "X"), _as_features(Y, "Y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y must have the same number of probes (rows): {x.shape[0]} != {y.shape[0]}")
    m = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < min_k:
        raise ValueError(f"k must be an integer >= {min_k}, got {k!r}")
    if k >= m:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} probes, got {m}")
    for t, name in ((x, "X"), (y, "Y")):  # the project's constant-unit rule, in torch
        if bool((t.std(dim=0, unbiased=False) <= CONSTANT_RTOL * t.abs().max(dim=0).values).all()):
            raise ValueError(f"all {t.shape[1]} units of {name} are constant over the probes: every probe "
                             "looks alike, so its neighbours are undefined")
    return x, y.to(x.device)


def knn_indices(X: torch.Tensor, k: int, *, normalize: bool = True, block: int = BLOCK,
                values: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Each probe's k nearest neighbours by inner product (cosine with ``normalize``), itself excluded.

    Parameters
    ----------
    X : tensor (M, N), finite.
    k : neighbours per probe, 1 <= k < M.
    normalize : scale each row to unit length first.
    block : probes per block of similarities.
    values : also return the similarities ``K[i, idx[i]]``.

    Returns
    -------
    idx : int64 tensor (M, k), most similar first; ties to the lower probe index.
    sims : tensor (M, k) (with ``values=True``).
    """
    x = torch.nn.functional.normalize(X, dim=1) if normalize else X
    m = x.shape[0]
    idx = torch.empty((m, k), dtype=torch.int64, device=x.device)
    sims = torch.empty((m, k), dtype=x.dtype, device=x.device)
    for s in range(0, m, block):
        e = min(s + block, m)
        sim = x[s:e] @ x.T  # (b, M)
        rows = torch.arange(e - s, device=x.device)
        sim[rows, rows + s] = -math.inf  # itself excluded
        kth = torch.topk(sim, k, dim=1).values[:, -1:]  # (b, 1): the k-th largest similarity
        above = sim > kth
        tied = sim == kth  # of these, the lowest indices fill the k places left by `above`
        chosen = above | (tied & (tied.cumsum(dim=1) <= k - above.sum(dim=1, keepdim=True)))
        found = chosen.nonzero()[:, 1].reshape(e - s, k)  # ascending probe index
        best = sim.gather(1, found)
        order = torch.sort(best, dim=1, descending=True, stable=True).indices
        idx[s:e], sims[s:e] = found.gather(1, order), best.gather(1, order)
    return (idx, sims) if values else idx


def mutual_knn(X: Any, Y: Any, k: int = 10, *, normalize: bool = True, block: int = BLOCK) -> float:
    """Mutual k-nearest-neighbour alignment of two representations of the same probes.

    Parameters
    ----------
    X : array-like (M, N1); Y : array-like (M, N2), the same probes in the same order
        (numpy or torch; computed on X's device).
    k : neighbours per probe (the Platonic Representation paper: 10); 1 <= k < M.
    normalize : cosine similarity (rows scaled to unit length), as the released pipeline.

    Returns
    -------
    float in [0, 1]: the mean over probes of the fraction of its k neighbours shared by X and Y.
    Chance level for unrelated representations: :func:`mutual_knn_chance` = k / (M - 1).

    Raises
    ------
    ValueError : different M, k >= M or k < 1, NaN/Inf, not 2-d.
    """
    x, y = _check_pair(X, Y, k, 1)
    nx = knn_indices(x, k, normalize=normalize, block=block)
    ny = knn_indices(y, k, normalize=normalize, block=block)
    shared = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for s in range(0, x.shape[0], block):
        a, b = nx[s:s + block], ny[s:s + block]
        shared[s:s + block] = (a[:, :, None] == b[:, None, :]).any(dim=2).sum(dim=1).double()
    return float(shared.mean() / k)


def mutual_knn_chance(n_probes: int, k: int = 10) -> float:
    """Expected :func:`mutual_knn` of two representations whose neighbour sets are independent
    uniform k-subsets of the other ``n_probes - 1`` probes: ``k / (n_probes - 1)``."""
    if k < 1 or k >= n_probes:
        raise ValueError(f"need 1 <= k < n_probes, got k={k}, n_probes={n_probes}")
    return k / (n_probes - 1)


def _hsic_unbiased_sparse(rows: torch.Tensor, cols: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                          m: int) -> torch.Tensor:
    """Song et al.'s unbiased HSIC of two M x M matrices A, B with the same sparsity pattern
    (entries ``(rows, cols)``, values ``a`` and ``b``, no diagonal entries)::

        [sum(A * B^T) + sum(A) sum(B) / ((m-1)(m-2)) - 2 sum(A B) / (m-2)] / (m (m-3))

    with ``sum(A B) = colsum(A) . rowsum(B)`` and ``sum(A * B^T) = sum_ij A_ij B_ji``."""
    key = rows * m + cols
    key_t = cols * m + rows  # where B_ji sits among the entries
    order = torch.argsort(key)
    sorted_key = key[order]
    pos = torch.searchsorted(sorted_key, key_t).clamp(max=len(key) - 1)
    found = sorted_key[pos] == key_t
    b_t = torch.where(found, b[order][pos], torch.zeros_like(b))
    trace = (a * b_t).sum()
    col_a = torch.zeros(m, dtype=a.dtype, device=a.device).index_add_(0, cols, a)
    row_b = torch.zeros(m, dtype=b.dtype, device=b.device).index_add_(0, rows, b)
    hsic = trace + a.sum() * b.sum() / ((m - 1) * (m - 2)) - 2.0 * (col_a * row_b).sum() / (m - 2)
    return hsic / (m * (m - 3))


def cknna(X: Any, Y: Any, k: int = 10, *, normalize: bool = True, eps: float = 1e-6,
          block: int = BLOCK) -> float:
    """CKNNA: CKA (unbiased HSIC) on the kernels restricted to mutual k-nearest neighbours.

    Parameters
    ----------
    X : array-like (M, N1); Y : array-like (M, N2), the same probes in the same order.
    k : neighbours per probe, 2 <= k < M; M >= 4 (the estimator divides by M - 3).
    normalize : cosine similarity (rows scaled to unit length), as the released pipeline.
    eps : added to the normalising square root, as the released code (1e-6).

    Returns
    -------
    float; near 1 for representations with the same neighbourhoods and kernels, near 0 for
    unrelated ones (it can be slightly negative: the estimator is unbiased).

    Raises
    ------
    ValueError : different M, M < 4, k >= M or k < 2, NaN/Inf, not 2-d; a side whose own
        restricted HSIC is negative (the released code returns NaN there).
    """
    x, y = _check_pair(X, Y, k, 2)
    m = x.shape[0]
    if m < 4:
        raise ValueError(f"CKNNA needs at least 4 probes (the unbiased estimator divides by M - 3), got {m}")
    ix, kx = knn_indices(x, k, normalize=normalize, block=block, values=True)
    iy, ly = knn_indices(y, k, normalize=normalize, block=block, values=True)
    rows = torch.arange(m, device=x.device).repeat_interleave(k)
    dt = torch.float64
    h_xx = _hsic_unbiased_sparse(rows, ix.reshape(-1), kx.reshape(-1).to(dt), kx.reshape(-1).to(dt), m)
    h_yy = _hsic_unbiased_sparse(rows, iy.reshape(-1), ly.reshape(-1).to(dt), ly.reshape(-1).to(dt), m)
    both = (ix[:, :, None] == iy[:, None, :])  # (M, k, k): X's j-th neighbour is Y's l-th
    where_x = both.any(dim=2)  # X's neighbours that Y shares
    l_at = torch.where(both, ly[:, None, :].expand(-1, k, -1), torch.zeros((), dtype=ly.dtype,
                       device=ly.device)).sum(dim=2)  # L_ij at those positions
    h_xy = _hsic_unbiased_sparse(rows[where_x.reshape(-1)], ix[where_x], kx[where_x].to(dt), l_at[where_x].to(dt), m)
    norm = h_xx * h_yy
    if float(norm) < 0:  # the released code returns NaN here
        raise ValueError(f"CKNNA is undefined: a side's restricted unbiased HSIC is negative (X {float(h_xx):.3g}, "
                         f"Y {float(h_yy):.3g}); use more probes or a larger k")
    return float(h_xy / (torch.sqrt(norm) + eps))
