"""Statistics for the audit: intervals over seeds and resamples, rank-correlation tests,
(the analytic null of the max-of-many correlation lives in :mod:`xcorr_lib.score.null`).

- :func:`bootstrap_ci`: percentile bootstrap, seeded, for any statistic of paired samples;
- :func:`permutation_test_rank`: permutation p-value of a Spearman or Kendall correlation
  (exact over all n! pairings when n is small), through ``scipy.stats.permutation_test``;
- :func:`t_interval` and :func:`summarize`: mean and Student-t interval over seeds;
- :func:`percentile_interval`, :func:`normal_interval`: intervals from replicates already drawn;
  :func:`permutation_p`: the p-value of a statistic against its permutation draws.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from xcorr_lib.common.checks import check_option

RankMethod = Literal["spearman", "kendall"]
Alternative = Literal["two-sided", "greater", "less"]
_RANK_METHODS = ("spearman", "kendall")
_ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at ``level``.

    ``n`` is the sample size; ``n_invalid`` counts bootstrap replicates whose statistic was
    undefined (NaN, e.g. a rank correlation of a resample with one distinct value), which
    are left out of the percentiles.
    """

    estimate: float
    low: float
    high: float
    level: float
    n: int
    method: str
    n_invalid: int = 0


@dataclass(frozen=True)
class PermutationResult:
    """Rank correlation, its permutation p-value and how many pairings were used."""

    statistic: float
    pvalue: float
    n_resamples: int
    exact: bool


def _vector(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _check_level(level: float) -> None:
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level}")


def rank_correlation(x: Any, y: Any, method: RankMethod = "spearman") -> float:
    """Spearman rho or Kendall tau-b of two paired 1-d samples; NaN if one is constant.

    Computed in numpy (tens of microseconds, so bootstraps can call it thousands of times):
    Spearman as the Pearson correlation of average ranks, Kendall tau-b over all pairs
    (scipy's ``kendalltau`` above 2,000 points); both equal scipy's values (tested).
    """
    check_option("method", method, _RANK_METHODS)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    if method == "spearman":
        return _pearson(average_ranks(x), average_ranks(y))
    if len(x) > 2000:
        return float(stats.kendalltau(x, y).statistic)
    iu = np.triu_indices(len(x), 1)
    dx, dy = np.sign(x[:, None] - x[None, :])[iu], np.sign(y[:, None] - y[None, :])[iu]
    return float(np.dot(dx, dy) / np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy)))


def average_ranks(values: Any) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (scipy's ``rankdata``, without its overhead)."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="mergesort")
    ends = np.append(np.flatnonzero(v[order][1:] != v[order][:-1]) + 1, len(v))
    starts = np.concatenate(([0], ends[:-1]))
    ranks = np.empty(len(v))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.clip(np.dot(a, b) / den, -1.0, 1.0)) if den > 0 else float("nan")


def bootstrap_ci(statistic: Callable[..., float], *samples: Any, n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    Parameters
    ----------
    statistic : callable
        Takes the samples (1-d arrays of equal length n) and returns a float.
    *samples : array-like (n,)
        Paired samples: one resample draws n indices with replacement and applies them to
        every sample together.
    n_boot : int
        Number of bootstrap replicates.
    level : float
        Coverage of the interval, e.g. 0.95.
    seed : int
        Seed of ``numpy.random.default_rng``; same seed, same interval.

    Returns
    -------
    Interval with ``estimate = statistic(*samples)``.

    Raises
    ------
    ValueError
        No samples, unequal lengths, n < 2, a NaN estimate, or fewer than half of the
        replicates defined.
    """
    _check_level(level)
    if not samples:
        raise ValueError("bootstrap_ci needs at least one sample")
    arrs = [_vector(s, f"sample {i}") for i, s in enumerate(samples)]
    n = arrs[0].shape[0]
    if any(a.shape[0] != n for a in arrs):
        raise ValueError(f"samples must have equal lengths, got {[a.shape[0] for a in arrs]}")
    if n < 2:
        raise ValueError(f"bootstrap needs at least 2 observations, got {n}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    estimate = float(statistic(*arrs))
    if not np.isfinite(estimate):
        raise ValueError("the statistic is undefined (NaN) on the full sample")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reps = np.array([statistic(*(a[i] for a in arrs)) for i in idx], dtype=float)
    ok = np.isfinite(reps)
    if ok.sum() < n_boot / 2:
        raise ValueError(f"only {int(ok.sum())} of {n_boot} bootstrap replicates are defined; "
                         "the sample is too small or too degenerate for a bootstrap interval")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps[ok], [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), level, n, "percentile bootstrap",
                    int(n_boot - ok.sum()))


def permutation_test_rank(x: Any, y: Any, method: RankMethod = "spearman", *,
                          alternative: Alternative = "two-sided", n_resamples: int = 9999,
                          seed: int = 0) -> PermutationResult:
    """Permutation test of no association between paired samples x and y.

    The null distribution comes from re-pairing x with permutations of y; when n! is at
    most ``n_resamples`` every permutation is used (exact test), otherwise a seeded
    random sample of them.

    Parameters
    ----------
    x, y : array-like (n,)
        Paired observations, n >= 3, neither constant.
    method : {"spearman", "kendall"}
    alternative : {"two-sided", "greater", "less"}
    n_resamples : int
    seed : int

    Returns
    -------
    PermutationResult(statistic, pvalue, n_resamples, exact).
    """
    check_option("method", method, _RANK_METHODS)
    check_option("alternative", alternative, _ALTERNATIVES)
    x, y = _vector(x, "x"), _vector(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 3:
        raise ValueError(f"a rank-correlation test needs at least 3 pairs, got {x.shape[0]}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("x or y is constant; its rank correlation is undefined")
    # one sample (y) permuted against fixed x: n! distinct pairings, scored in batches
    n = x.shape[0]
    res = stats.permutation_test(
        (y,), _batched_rank_statistic(x, method), permutation_type="pairings", vectorized=True,
        n_resamples=n_resamples, alternative=alternative, batch=max(1, int(2e7 // (n * n))),
        random_state=np.random.default_rng(seed))
    exact = math.factorial(x.shape[0]) <= n_resamples
    n_used = math.factorial(x.shape[0]) if exact else n_resamples
    return PermutationResult(float(res.statistic), float(res.pvalue), n_used, exact)


def _batched_rank_statistic(x: np.ndarray, method: str) -> Callable[..., np.ndarray]:
    """Rank correlation of fixed x with every row of a batch of re-orderings of y.

    Spearman: Pearson correlation of average ranks. Kendall tau-b: sum over pairs i<j of
    sign(x_i - x_j) sign(y_i - y_j), divided by sqrt(untied pairs of x * untied pairs of y)
    (both counts are the same for every re-ordering). Equal to scipy's spearmanr and
    kendalltau (tau-b) on each row.
    """
    if method == "spearman":
        rx = stats.rankdata(x)
        rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())

        def spearman(b: np.ndarray, axis: int = -1) -> np.ndarray:
            rb = stats.rankdata(np.moveaxis(b, axis, -1), axis=-1)
            rb = rb - rb.mean(axis=-1, keepdims=True)
            return (rb @ rx) / np.linalg.norm(rb, axis=-1)
        return spearman
    sx = np.sign(x[:, None] - x[None, :])
    px = np.count_nonzero(np.triu(sx, 1))

    def kendall(b: np.ndarray, axis: int = -1) -> np.ndarray:
        b = np.moveaxis(b, axis, -1)
        sb = np.sign(b[..., :, None] - b[..., None, :])
        py = np.count_nonzero(np.triu(sb[(0,) * (sb.ndim - 2)], 1))
        return 0.5 * np.einsum("...ij,ij->...", sb, sx) / np.sqrt(px * py)
    return kendall


def t_interval(values: Any, level: float = 0.95) -> Interval:
    """Mean and Student-t interval ``mean +- t_{n-1} * sd / sqrt(n)`` (e.g. over seeds).

    Raises ValueError for fewer than 2 values or NaN/Inf.
    """
    _check_level(level)
    v = _vector(values, "values")
    n = v.shape[0]
    if n < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {n}")
    mean = float(v.mean())
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, level, n, "t")


def summarize(df: pd.DataFrame, by: Sequence[str], value: str = "value",
              level: float = 0.95) -> pd.DataFrame:
    """Mean, sd and t-interval of ``df[value]`` within each group of ``by`` columns.

    Returns a DataFrame with the ``by`` columns and ``n, mean, sd, ci_low, ci_high``.
    """
    rows = []
    for key, grp in df.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        iv = t_interval(grp[value].to_numpy(), level)
        rows.append({**dict(zip(by, key)), "n": iv.n, "mean": iv.estimate,
                     "sd": float(grp[value].std(ddof=1)), "ci_low": iv.low, "ci_high": iv.high})
    return pd.DataFrame(rows)


def cluster_resamples(clusters: Any, n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """``n_boot`` index arrays of a two-stage cluster bootstrap: draw clusters with replacement,
    then within every drawn cluster its members with replacement (seeded)."""
    labels = np.asarray(clusters)
    groups = [np.flatnonzero(labels == c) for c in dict.fromkeys(labels.tolist())]
    if len(groups) < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {len(groups)}")
    rng = np.random.default_rng(seed)
    return [np.concatenate([rng.choice(groups[g], size=len(groups[g])) for g in rng.integers(0, len(groups), len(groups))])
            for _ in range(n_boot)]


def _defined_replicates(replicates: Any, at_least: float = 0) -> tuple[np.ndarray, int]:
    """The finite replicates and how many were left out; ValueError when fewer than half (and
    than ``at_least``) are defined."""
    reps = np.asarray(replicates, dtype=float)
    ok = np.isfinite(reps)
    if ok.sum() < max(at_least, len(reps) / 2):
        raise ValueError(f"only {int(ok.sum())} of {len(reps)} bootstrap replicates are defined")
    return reps[ok], int(len(reps) - ok.sum())


def percentile_interval(estimate: float, replicates: Any, level: float, n: int, method: str) -> Interval:
    """Percentile interval from bootstrap replicates (undefined ones left out and counted)."""
    reps, n_invalid = _defined_replicates(replicates)
    low, high = np.quantile(reps, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(float(estimate), float(low), float(high), level, n, method, n_invalid)


def normal_interval(estimate: float, replicates: Any, level: float, n: int, method: str) -> Interval:
    """``estimate +- z * sd(replicates)``: the interval centred on the estimate itself.

    For a statistic whose bootstrap replicates are biased relative to the estimate (the best
    |rho| among many candidates rises when a resample repeats a probe), the percentile
    interval inherits that bias; this one keeps only the replicates' spread."""
    reps, n_invalid = _defined_replicates(replicates, at_least=2)
    half = float(stats.norm.ppf(0.5 + level / 2.0) * reps.std(ddof=1))
    return Interval(float(estimate), float(estimate) - half, float(estimate) + half, level, n, method, n_invalid)


def permutation_p(observed: float, null_draws: Any) -> float:
    """One-sided permutation p-value ``(1 + #{null >= observed}) / (1 + n)`` (never 0)."""
    draws = np.asarray(null_draws, dtype=float)
    return float((1 + np.count_nonzero(draws >= observed)) / (1 + len(draws)))


def cluster_bootstrap_ci(statistic: Callable[..., float], clusters: Any, *samples: Any, n_boot: int = 2000,
                         level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile interval of ``statistic(*samples)`` resampling clusters, then members within them.

    For observations that are not independent (several seeds of one network): draw the
    clusters (networks) with replacement, then within every drawn cluster its members (seeds)
    with replacement. ``Interval.n`` is the number of clusters, the independent units.
    """
    _check_level(level)
    labels = np.asarray(clusters)
    arrs = [_vector(s, f"sample {i}") for i, s in enumerate(samples)]
    if not arrs or any(len(a) != len(labels) for a in arrs):
        raise ValueError("clusters and every sample need the same length")
    resamples = cluster_resamples(labels, n_boot, seed)
    estimate = float(statistic(*arrs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reps = [statistic(*(a[idx] for a in arrs)) for idx in resamples]
    return percentile_interval(estimate, reps, level, len(set(labels.tolist())), "cluster bootstrap")


def cluster_permutation_p(statistic: Callable[[np.ndarray, np.ndarray], float], clusters: Any, x: Any, y: Any,
                          *, n_resamples: int = 9999, seed: int = 0) -> tuple[float, int]:
    """Two-sided permutation p-value that permutes whole clusters: y of cluster c is paired with
    the x of cluster pi(c), member by member (clusters must have equal sizes). Exact over all
    k! permutations when that is at most ``n_resamples``. Returns (p, permutations used)."""
    labels = np.asarray(clusters)
    x, y = _vector(x, "x"), _vector(y, "y")
    names = list(dict.fromkeys(labels.tolist()))
    groups = [np.flatnonzero(labels == c) for c in names]
    if len({len(g) for g in groups}) != 1:
        raise ValueError("cluster permutation needs clusters of equal size")
    observed = abs(statistic(x, y))
    if math.factorial(len(groups)) <= n_resamples:
        perms = list(itertools.permutations(range(len(groups))))
    else:
        rng = np.random.default_rng(seed)
        perms = [tuple(rng.permutation(len(groups))) for _ in range(n_resamples)]
    hits = 0
    for perm in perms:
        order = np.concatenate([groups[k] for k in perm])
        stat = statistic(x[np.concatenate(groups)], y[order])
        hits += bool(np.isfinite(stat) and abs(stat) >= observed - 1e-12)
    exact = math.factorial(len(groups)) <= n_resamples
    return (hits / len(perms) if exact else (hits + 1) / (len(perms) + 1)), len(perms)


def partial_rank_correlation(x: Any, y: Any, covariates: Any) -> float:
    """Spearman correlation of x and y with ``covariates`` partialled out (rank-based).

    Ranks of x, y and of each covariate column; the ranks of x and of y are each
    regressed (least squares, with an intercept) on the covariates' ranks and the result is
    the Pearson correlation of the two residuals. ``covariates``: (n,) or (n, k). NaN when
    a residual is constant (x or y explained entirely by the covariates).
    """
    x, y = _vector(x, "x"), _vector(y, "y")
    z = np.asarray(covariates, dtype=float)
    z = z.reshape(len(z), -1) if z.ndim else z.reshape(1, 1)
    if len(y) != len(x) or len(z) != len(x) or not np.isfinite(z).all():
        raise ValueError("x, y and covariates need the same length and finite values")
    design = np.column_stack([np.ones(len(x)), *(average_ranks(c) for c in z.T)])
    ranks = np.column_stack([average_ranks(x), average_ranks(y)])
    resid = (ranks - design @ np.linalg.lstsq(design, ranks, rcond=None)[0]).T
    scale = [np.sqrt(np.sum(r**2)) for r in resid]
    if min(scale) <= 1e-12 * len(x):
        return float("nan")
    return float(np.dot(resid[0], resid[1]) / (scale[0] * scale[1]))
