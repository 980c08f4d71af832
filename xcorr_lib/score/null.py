"""What unrelated units score: the chance level of the paper's score, in one place.

The paper's per-unit score takes the best |Pearson rho| of a unit over K candidate units.
With M probes that maximum is large by chance alone (10 probes, 7,008 candidates: 0.93).
For independent Gaussian units:

- :func:`abs_corr_cdf`: P(|r| <= t) of one Pearson r over M probes;
- :func:`expected_max_abs_corr`: E[max over K candidates of |r|];
- :func:`chance_score`: the score of two sets of unrelated units without depth penalty
  (``direction="both"`` averages the two sides);
- :func:`null_score`: the same in any exact setting (depth structure, unit counts, probes,
  variant, direction): analytic, or Monte Carlo with its standard error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xcorr_lib.common.checks import check_option
from xcorr_lib.score.chance import abs_corr_cdf, analytic_null_score, chance_score, expected_max_abs_corr
from xcorr_lib.score.correlation import MATCHINGS, neuron_correlation

__all__ = ["abs_corr_cdf", "expected_max_abs_corr", "chance_score", "null_score"]


def null_score(layers_a: Any, layers_b: Any, n_probes: int, *, variant: str = "paper", direction: str = "both",
               constant: str = "zero", method: str = "analytic", n_repeats: int = 20,
               seed: int = 0, matching: str = "semi") -> tuple[float, float]:
    """Expected score of unrelated units in an exact setting, and its standard error.

    Parameters
    ----------
    layers_a, layers_b : array-like of int (N_a,), (N_b,)
        The depth id of every unit, as for :func:`~xcorr_lib.score.correlation.neuron_correlation` (e.g.
        ``np.repeat([0, 1], [5408, 1600])`` for the paper's CNN).
    n_probes : int >= 3
    variant, direction, constant : as the score. The units are independent Gaussians, so
        none is constant and the three constant policies give the same number.
    method : ``"analytic"`` (default): exact for both variants. ``"paper"``: v* is uniform
        over B's units and independent of the max, so E[S(u)] = E_max(M, N_b) x mean_v
        penalty(u, v); ``"original"``: S(u) is the weighted max itself, E = integral of
        1 - prod_l F(t / w_l)^(n_l) dt. ``"monte-carlo"``: the mean of ``n_repeats`` seeded
        simulations (independent Gaussian activations scored by the engine).
    matching : ``"semi"`` (the paper's) or ``"one-to-one"`` (Hungarian assignment), whose
        null has no closed form here: it is always computed by Monte Carlo.

    Returns
    -------
    (mean, se): se = 0.0 for the analytic value, std / sqrt(n_repeats) for Monte Carlo.
    """
    check_option("variant", variant, ("paper", "original"))
    check_option("direction", direction, ("both", "forward"))
    check_option("constant", constant, ("zero", "exclude", "minus-one"))
    check_option("method", method, ("analytic", "monte-carlo"))
    check_option("matching", matching, MATCHINGS)
    la, lb = np.asarray(layers_a, dtype=np.int64), np.asarray(layers_b, dtype=np.int64)
    if la.ndim != 1 or lb.ndim != 1 or not len(la) or not len(lb):
        raise ValueError(f"layers_a and layers_b must be non-empty 1-d depth ids, got shapes {la.shape}, {lb.shape}")
    if int(n_probes) != n_probes or n_probes < 3:
        raise ValueError(f"n_probes must be an integer >= 3, got {n_probes!r}")
    if method == "analytic" and matching == "semi":
        return analytic_null_score(la, lb, int(n_probes), variant, direction), 0.0
    rng = np.random.default_rng(seed)
    scores = [neuron_correlation(rng.standard_normal((n_probes, len(la)), dtype=np.float32), la,
                                 rng.standard_normal((n_probes, len(lb)), dtype=np.float32), lb,
                                 variant=variant, direction=direction, constant=constant,  # type: ignore[arg-type]
                                 matching=matching).score
              for _ in range(int(n_repeats))]
    return float(np.mean(scores)), float(np.std(scores, ddof=1) / math.sqrt(len(scores)))
