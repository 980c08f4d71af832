"""One-to-one matching of units, beside the paper's semi-matching.

The paper matches every unit u of A to its most correlated unit of B (a *semi*-matching:
many units of A may pick the same v). Li et al. (2016, "Convergent learning") put a
one-to-one (bipartite) matching beside it: each unit of B is used at most once, and the
assignment maximises the total match weight. Here the weight of (u, v) is |rho(u, v)|
(``variant="paper"``: the depth penalty is applied after matching, as the paper's text) or
|rho(u, v)| / (1 + |layer(u) - layer(v)|) (``"original"``: the penalty inside the choice), and
the assignment is scipy's ``linear_sum_assignment`` (Hungarian-type, exact).

With unequal widths every unit of the smaller network is matched; the larger network's
units left without a partner get match -1 and are left out of its side's mean. Constant
units take no part in the assignment (rho = 0 with everything) and follow the
``constant`` policy of the score. The N_a x N_b matrix of |rho| is built in full, so the
product of the widths is bounded (:data:`MAX_CELLS`); select units first for larger layers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["MAX_CELLS", "abs_rho_matrix", "one_to_one"]

#: Largest N_a x N_b handled (float64: 800 MB for the matrix; the assignment is O(N^3)).
MAX_CELLS = 10**8


def abs_rho_matrix(za: torch.Tensor, zb: torch.Tensor) -> np.ndarray:
    """|Pearson rho| (N_a, N_b), float64, from unit-norm centred columns ``za`` (M, N_a),
    ``zb`` (M, N_b) (zero columns for constant units give 0)."""
    if za.shape[1] * zb.shape[1] > MAX_CELLS:
        raise ValueError(f"matching='one-to-one' builds the full {za.shape[1]} x {zb.shape[1]} matrix of "
                         f"correlations (limit {MAX_CELLS:,} cells); select fewer units per layer first "
                         "(xcorr_lib.score.select.select_units)")
    rho = (za.to(torch.float64).T @ zb.to(torch.float64)).abs_().clamp_(0.0, 1.0)
    return rho.cpu().numpy()


def one_to_one(abs_rho: np.ndarray, const_a: np.ndarray, const_b: np.ndarray,
               weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
               ) -> tuple[tuple[None, np.ndarray, np.ndarray], tuple[None, np.ndarray, np.ndarray]]:
    """The maximum-weight one-to-one matching between the non-constant units of A and B.

    Parameters
    ----------
    abs_rho : (N_a, N_b) |rho|; const_a (N_a,), const_b (N_b,) bool: constant units.
    weight : ``weight(rows, cols) -> (len(rows), len(cols))`` factor on |rho| inside the choice
        (the depth penalty for ``variant="original"``); None: 1.

    Returns
    -------
    For each side, ``(None, match, abs_rho_of_match)`` as the semi-matching's search returns
    it: ``match`` (N,) int64 index of the partner (-1: constant or unmatched), and |rho| with it.
    """
    rows, cols = np.flatnonzero(~const_a), np.flatnonzero(~const_b)
    match_a, match_b = np.full(len(const_a), -1, np.int64), np.full(len(const_b), -1, np.int64)
    rho_a, rho_b = np.zeros(len(const_a)), np.zeros(len(const_b))
    if len(rows) and len(cols):
        w = abs_rho[np.ix_(rows, cols)]
        if weight is not None:
            w = w * weight(rows, cols)
        r, c = linear_sum_assignment(w, maximize=True)
        ua, vb = rows[r], cols[c]
        match_a[ua], match_b[vb] = vb, ua
        rho_a[ua] = rho_b[vb] = abs_rho[ua, vb]
    return (None, match_a, rho_a), (None, match_b, rho_b)
