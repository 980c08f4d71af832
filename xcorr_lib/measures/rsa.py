"""Representational similarity analysis (RSA, Kriegeskorte et al. 2008).

Each model gives a representational dissimilarity matrix (RDM): the dissimilarity of
every pair of probes in its activation space. RSA is the correlation between the two
RDMs' upper triangles (distinct probe pairs). Memory O(M^2).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.spatial.distance import pdist

from xcorr_lib.common.checks import check_option

from ._common import prepare_pair

RDMMetric = Literal["correlation", "euclidean", "cosine"]
RDMCompare = Literal["spearman", "pearson", "kendall"]
_METRICS: tuple[str, ...] = ("correlation", "euclidean", "cosine")
_COMPARES: tuple[str, ...] = ("spearman", "pearson", "kendall")


def rdm(X: np.ndarray, metric: str, name: str = "X") -> np.ndarray:
    """Upper triangle (M(M-1)/2,) of the RDM of ``X`` (M, N) under ``metric``.

    ``correlation`` is 1 - Pearson r between two probes' activation vectors (over units),
    so every probe must have non-constant activations; ``cosine`` needs nonzero ones.
    """
    check_option("metric", metric, _METRICS)
    if metric == "correlation":
        flat = np.ptp(X, axis=1) <= 1e-12 * max(float(np.max(np.abs(X))), np.finfo(float).tiny)
        if flat.any():
            raise ValueError(f"{name}: {int(flat.sum())} probe(s) (e.g. row {int(np.argmax(flat))}) "
                             "have the same activation in every unit; the correlation "
                             "distance is undefined. Use metric='euclidean'")
    if metric == "cosine" and np.any(np.linalg.norm(X, axis=1) == 0):
        raise ValueError(f"{name}: a probe has all-zero activations; the cosine distance is "
                         "undefined. Use metric='euclidean'")
    return pdist(X, metric)


def rsa(X: Any, Y: Any, metric: RDMMetric = "correlation",
        compare: RDMCompare = "spearman") -> float:
    """Correlation between the representational dissimilarity matrices of X and Y.

    Parameters
    ----------
    X : array-like (M, N1)
    Y : array-like (M, N2)
        Same probes, same order. Constant units are dropped (module policy); features
        are not centered.
    metric : {"correlation", "euclidean", "cosine"}
        Dissimilarity between two probes within one model.
    compare : {"spearman", "pearson", "kendall"}
        Correlation between the two RDMs' upper triangles.

    Returns
    -------
    float in [-1, 1]; 1 for identical inputs.

    Raises
    ------
    ValueError
        Bad option, an RDM that is constant (correlation undefined), or the shared checks.
    """
    check_option("metric", metric, _METRICS)
    check_option("compare", compare, _COMPARES)
    X, Y = prepare_pair(X, Y, center=False)
    dx, dy = rdm(X, metric, "X"), rdm(Y, metric, "Y")
    for d, name in ((dx, "X"), (dy, "Y")):
        if np.ptp(d) <= 1e-12 * max(float(np.max(np.abs(d))), np.finfo(float).tiny):
            raise ValueError(f"the RDM of {name} is constant; its correlation is undefined")
    if compare == "spearman":
        r = stats.spearmanr(dx, dy).statistic
    elif compare == "kendall":
        r = stats.kendalltau(dx, dy).statistic
    else:
        r = stats.pearsonr(dx, dy).statistic
    return float(np.clip(r, -1.0, 1.0))
