"""Related similarity measures, to set the paper's score beside the field's standards.

All measures are pure functions of two activation matrices over the same probes,
``X: (M probes, N1 units)`` and ``Y: (M, N2)`` (numpy or torch), returning a float:

=====================  =========  ===================================================
measure                range      invariant to (either side unless noted)
=====================  =========  ===================================================
linear_cka             [0, 1]     orthogonal maps, isotropic scaling, shifts
linear_cka_debiased    [-1, 1]    same; unbiased when units outnumber probes (M >= 4)
rbf_cka                [0, 1]     orthogonal maps, shifts, isotropic scaling
svcca                  [0, 1]     invertible linear maps when keep=1.0
pwcca                  [0, 1]     invertible linear maps of Y; permutations/scaling of X
rsa                    [-1, 1]    depends on the RDM metric (euclidean: orthogonal, shifts)
mutual_knn             [0, 1]     orthogonal maps, isotropic scaling (cosine: per-probe scaling)
cknna                  ~[-1, 1]   orthogonal maps, isotropic scaling
=====================  =========  ===================================================

The last two compare neighbourhoods of probes (k = 10 nearest by cosine similarity), as the
Platonic Representation Hypothesis paper (Huh et al. 2024) does; they follow its released
code, keep constant units and run in torch on the inputs' device (:mod:`.neighbours`).

Shared policy (see ``_common``): NaN/Inf, mismatched or too few probes raise ValueError;
constant units are dropped (except by the neighbourhood metrics). Implementations are written here (no extra dependency) and
tested against brute-force oracles and published identities in tests/test_measures.py.

Example
-------
>>> import numpy as np
>>> from xcorr_lib.measures import linear_cka, svcca
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 30))
>>> Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
>>> round(linear_cka(X, 2.5 * X @ Q), 6), round(svcca(X, X @ Q, keep=1.0), 6)
(1.0, 1.0)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from xcorr_lib.score import pairs
from xcorr_lib.score.correlation import neuron_correlation

from .cca import canonical_correlations, pwcca, svcca
from .cka import linear_cka, linear_cka_debiased, rbf_cka
from .neighbours import cknna, mutual_knn, mutual_knn_chance
from .rsa import rdm, rsa

#: Measures of two activation matrices, by name (neuron_correlation also needs layers).
MEASURES: dict[str, Callable[[Any, Any], float]] = {
    "linear_cka": linear_cka,
    "linear_cka_debiased": linear_cka_debiased,
    "rbf_cka": rbf_cka,
    "svcca": svcca,
    "pwcca": pwcca,
    "rsa": rsa,
    "mutual_knn": mutual_knn,
    "cknna": cknna,
}
ALL_MEASURES: tuple[str, ...] = ("neuron_correlation", *MEASURES)
#: Measures whose value changes when the two models swap (PWCCA weights come from the first;
#: CKNNA's unbiased estimator on asymmetric neighbour masks differs in the last digits).
ASYMMETRIC: frozenset[str] = frozenset({"pwcca", "cknna"})


def compare_measures(acts_a: Any, layers_a: Any, acts_b: Any, layers_b: Any,
                     measures: Sequence[str] = ALL_MEASURES, *,
                     correlation_kwargs: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Every requested measure on the same pair of activation matrices.

    Parameters
    ----------
    acts_a : array-like (M, N_a)
        Activations of model A on M probes (numpy or torch).
    layers_a : array-like (N_a,)
        Depth id of each unit of A (only used by ``neuron_correlation``).
    acts_b, layers_b : same for model B, on the same probes in the same order.
    measures : sequence of names
        Any of ``ALL_MEASURES``: ``neuron_correlation`` (the paper's score,
        :func:`xcorr_lib.score.correlation.neuron_correlation`) and the keys of ``MEASURES``.
    correlation_kwargs : mapping, optional
        Keyword arguments for ``neuron_correlation`` (``variant``, ``direction``, ...).

    Returns
    -------
    dict measure name -> value, in the order requested. PWCCA weights come from A.
    """
    unknown = [m for m in measures if m not in ALL_MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {', '.join(ALL_MEASURES)}")
    out: dict[str, float] = {}
    for name in measures:
        if name == "neuron_correlation":
            res = neuron_correlation(acts_a, layers_a, acts_b, layers_b, **dict(correlation_kwargs or {}))
            out[name] = float(res.score)
        else:
            out[name] = float(MEASURES[name](acts_a, acts_b))
    return out


def pair_matrix(models: Mapping[str, Any], measure: str | Callable[[Any, Any], float] = "score",
                **options: Any) -> Any:
    """:func:`xcorr_lib.score.pairs.pair_matrix` with measures by name: ``"score"`` (the
    paper's score), a key of :data:`MEASURES` (e.g. ``"linear_cka"``; PWCCA is computed in
    every cell, row model first) or a callable. Other keyword arguments are passed on."""
    if isinstance(measure, str) and measure != "score":
        if measure not in MEASURES:
            raise ValueError(f"unknown measure {measure!r}; choose from score, {', '.join(MEASURES)}")
        options.setdefault("name", measure)
        options.setdefault("symmetric", measure not in ASYMMETRIC)
        measure = MEASURES[measure]
    return pairs.pair_matrix(models, measure, **options)


__all__ = [
    "ALL_MEASURES", "ASYMMETRIC", "MEASURES", "pair_matrix", "canonical_correlations", "compare_measures", "linear_cka",
    "linear_cka_debiased", "pwcca", "rbf_cka", "rdm", "rsa", "svcca", "mutual_knn", "mutual_knn_chance", "cknna",
]
