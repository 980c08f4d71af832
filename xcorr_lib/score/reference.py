"""The score's formula as one plain, dense numpy function: the oracle of the tests.

Read this first. :func:`neuron_correlation_reference` builds the whole N_a x N_b matrix of
Pearson correlations, so it is only for small inputs; :func:`~xcorr_lib.score.correlation.neuron_correlation`
computes the same number blockwise in torch (float32 by default), thousands of times
faster, and the tests hold the two together. Also here: what a *constant* unit is
(:func:`constant_units`), the one rule every measure of the project applies.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONSTANT_RTOL", "constant_units", "neuron_correlation_reference"]

#: A unit is constant when std(a_u) <= CONSTANT_RTOL * max_m |a_u(m)| (exact zeros too).
CONSTANT_RTOL = 1e-6


def constant_units(acts: np.ndarray) -> np.ndarray:
    """(N,) bool: units of ``acts`` (M, N) that do not vary over the probes (dead ReLUs, ...)."""
    x = np.asarray(acts, dtype=np.float64)
    return x.std(axis=0) <= CONSTANT_RTOL * np.abs(x).max(axis=0)


def neuron_correlation_reference(acts_a, layers_a, acts_b, layers_b, variant="paper",
                                 direction="both", constant="zero") -> float:
    """Corr(A, B) of the paper's section 3.2, densely: acts (M, N_a) and (M, N_b), layers (N_a,), (N_b,).

    For every unit u of A: rho(u, v) = Pearson correlation over the M probes with every unit v
    of B; penalty(u, v) = 1 / (1 + |layer(u) - layer(v)|); the match v* maximises |rho|
    (``variant="paper"``) or |rho| * penalty (``"original"``, the authors' code); the unit's
    score is S(u) = |rho(u, v*)| * penalty(u, v*). Corr(A -> B) is the mean of S over A's units,
    a constant unit counting as 0 (``constant="zero"``), left out (``"exclude"``) or as -1
    (``"minus-one"``, also when every candidate is constant: the original ImageNet scripts);
    ``direction="both"`` averages A -> B and B -> A. Ties go to the lowest index of v.
    """
    def one_side(x, lx, y, ly):
        xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
        xn = np.where(constant_units(x), np.inf, np.linalg.norm(xc, axis=0))  # constant: rho = 0
        yn = np.where(constant_units(y), np.inf, np.linalg.norm(yc, axis=0))
        rho = np.clip(np.abs((xc / xn).T @ (yc / yn)), 0.0, 1.0)       # (N_x, N_y) |Pearson|
        penalty = 1.0 / (1.0 + np.abs(lx[:, None] - ly[None, :]))     # (N_x, N_y)
        v_star = np.argmax(rho * penalty if variant == "original" else rho, axis=1)
        rows = np.arange(len(lx))
        s = rho[rows, v_star] * penalty[rows, v_star]                   # S(u), (N_x,)
        if constant == "minus-one":  # the original ImageNet loop: undefined correlations keep -1
            s = np.where(constant_units(x) | constant_units(y).all(), -1.0, s)
        return s[~constant_units(x)].mean() if constant == "exclude" else s.mean()

    a, b = np.asarray(acts_a, dtype=np.float64), np.asarray(acts_b, dtype=np.float64)
    la, lb = np.asarray(layers_a, dtype=np.float64), np.asarray(layers_b, dtype=np.float64)
    forward = one_side(a, la, b, lb)
    return float(forward if direction == "forward" else 0.5 * (forward + one_side(b, lb, a, la)))
