"""Tests of xcorr_lib.common.stats: oracles by enumeration, Monte Carlo and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.score.null import abs_corr_cdf, expected_max_abs_corr
from xcorr_lib.common.stats import (bootstrap_ci,
                             permutation_test_rank, rank_correlation, summarize, t_interval)


# ---------- expected max |r| ----------

def mc_max_abs_corr(M: int, K: int, reps: int, seed: int) -> tuple[float, float]:
    """Monte Carlo mean and standard error of max_k |r_k| for independent Gaussians."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(reps, M, 1))
    B = rng.normal(size=(reps, M, K))
    a = a - a.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    r = (a * B).sum(1) / np.sqrt((a**2).sum(1) * (B**2).sum(1))
    m = np.abs(r).max(1)
    return float(m.mean()), float(m.std(ddof=1) / math.sqrt(reps))


@pytest.mark.parametrize(("M", "K"), [(10, 1), (10, 100), (30, 300), (5, 2000)])
def test_expected_max_abs_corr_matches_monte_carlo(M: int, K: int) -> None:
    mean, se = mc_max_abs_corr(M, K, reps=3000 if K < 1000 else 500, seed=M * 1000 + K)
    assert expected_max_abs_corr(M, K) == pytest.approx(mean, abs=4 * se + 1e-3)


@pytest.mark.parametrize("M", [3, 4, 10, 57, 1000])
def test_expected_abs_corr_closed_form_for_one_candidate(M: int) -> None:
    # E|r| = Gamma((M-1)/2) / (sqrt(pi) Gamma(M/2)) under independence
    exact = math.exp(special.gammaln((M - 1) / 2) - special.gammaln(M / 2)) / math.sqrt(math.pi)
    assert expected_max_abs_corr(M, 1) == pytest.approx(exact, rel=1e-7)


@pytest.mark.parametrize("M", [3, 10, 100])
def test_abs_corr_cdf_equals_student_t_form(M: int) -> None:
    t = np.linspace(0, 0.99, 50)
    tstat = t * np.sqrt((M - 2) / (1 - t**2))
    np.testing.assert_allclose(abs_corr_cdf(t, M), 1 - 2 * stats.t.sf(tstat, M - 2), atol=1e-12)
    assert abs_corr_cdf(1.0, M) == pytest.approx(1.0)


def test_expected_max_abs_corr_shape_and_errors() -> None:
    ks = [1, 10, 100, 1000, 10000]
    vals = [expected_max_abs_corr(10, k) for k in ks]
    assert all(a < b for a, b in zip(vals, vals[1:]))  # more candidates, larger max
    assert vals[-1] > 0.9  # the paper's regime: 10 probes, thousands of units
    assert expected_max_abs_corr(1000, 1000) < 0.15
    for bad in [(2, 10), (10, 0), (10.5, 3)]:
        with pytest.raises(ValueError, match="must be an integer"):
            expected_max_abs_corr(*bad)  # type: ignore[arg-type]


# ---------- bootstrap ----------

def test_bootstrap_contains_truth_and_is_seeded() -> None:
    x = np.random.default_rng(0).normal(loc=1.0, size=200)
    iv = bootstrap_ci(np.mean, x, n_boot=2000, seed=3)
    assert iv.low < 1.0 < iv.high
    assert iv.estimate == pytest.approx(x.mean())
    assert bootstrap_ci(np.mean, x, n_boot=2000, seed=3) == iv
    assert bootstrap_ci(np.mean, x, n_boot=2000, seed=4) != iv
    wide = bootstrap_ci(np.mean, x, n_boot=2000, seed=3, level=0.99)
    assert wide.high - wide.low > iv.high - iv.low


def test_bootstrap_coverage_of_the_mean() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(120):
        x = rng.normal(size=60)
        iv = bootstrap_ci(np.mean, x, n_boot=400, seed=i)
        covered += iv.low < 0.0 < iv.high
    assert 0.85 <= covered / 120 <= 1.0


def test_bootstrap_paired_rank_correlation_and_invalid_replicates() -> None:
    x = np.arange(6.0)
    y = np.array([0.1, 1.3, 1.9, 3.2, 3.9, 5.5])
    iv = bootstrap_ci(rank_correlation, x, y, n_boot=500, seed=0)
    assert iv.estimate == pytest.approx(1.0)
    assert iv.low <= iv.estimate <= iv.high
    # with 4 pairs, about 4/256 of resamples repeat one pair only: no rank correlation
    small = bootstrap_ci(rank_correlation, x[:4], -y[:4], n_boot=2000, seed=0)
    assert 0 < small.n_invalid < 200
    assert small.estimate == pytest.approx(-1.0) and small.high <= 1.0


def test_bootstrap_errors() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        bootstrap_ci(rank_correlation, np.arange(5.0), np.arange(4.0))
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_ci(np.mean, [1.0])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci(np.mean, [1.0, np.nan])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(np.mean, [1.0, 2.0], level=95)


# ---------- permutation test ----------

def enumerate_pvalue(x: np.ndarray, y: np.ndarray, method: str) -> float:
    t0 = rank_correlation(x, y, method)  # type: ignore[arg-type]
    null = np.array([rank_correlation(x, np.array(p), method)  # type: ignore[arg-type]
                     for p in itertools.permutations(y)])
    greater = np.mean(null >= t0 - 1e-12)
    less = np.mean(null <= t0 + 1e-12)
    return min(1.0, 2 * min(greater, less))


@pytest.mark.parametrize("method", ["spearman", "kendall"])
@pytest.mark.parametrize("seed", [0, 1])
def test_permutation_exact_matches_enumeration(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=6)
    y = x + rng.normal(size=6)
    res = permutation_test_rank(x, y, method)  # type: ignore[arg-type]
    assert res.exact and res.n_resamples == 720
    assert res.statistic == pytest.approx(rank_correlation(x, y, method))  # type: ignore[arg-type]
    assert res.pvalue == pytest.approx(enumerate_pvalue(x, y, method), abs=1e-12)


def test_permutation_sanity() -> None:
    x = np.arange(5.0)
    perfect = permutation_test_rank(x, 2 * x + 1)
    assert perfect.pvalue == pytest.approx(2 / 120)  # only the two monotone orders are as extreme
    assert permutation_test_rank(x, 2 * x, alternative="greater").pvalue == pytest.approx(1 / 120)
    rng = np.random.default_rng(0)
    big = rng.normal(size=40)
    strong = permutation_test_rank(big, big + 0.3 * rng.normal(size=40), n_resamples=999)
    assert not strong.exact and strong.pvalue <= 0.002
    null = permutation_test_rank(big, rng.normal(size=40), n_resamples=999, seed=1)
    assert null.pvalue > 0.01
    with pytest.raises(ValueError, match="constant"):
        permutation_test_rank(x, np.ones(5))
    with pytest.raises(ValueError, match="'pearson'"):
        permutation_test_rank(x, x, "pearson")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 3"):
        permutation_test_rank([1.0, 2.0], [2.0, 1.0])


# ---------- t-interval and summaries ----------

def test_t_interval_formula() -> None:
    v = np.array([0.81, 0.84, 0.79, 0.88, 0.83])
    iv = t_interval(v, level=0.9)
    half = stats.t.ppf(0.95, 4) * v.std(ddof=1) / math.sqrt(5)
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((v.mean(), v.mean() - half, v.mean() + half))
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])


def test_summarize_groups() -> None:
    df = pd.DataFrame({"net": ["a", "a", "a", "b", "b"], "value": [1.0, 2.0, 3.0, 5.0, 5.0]})
    out = summarize(df, ["net"]).set_index("net")
    assert out.loc["a", "mean"] == pytest.approx(2.0) and out.loc["a", "n"] == 3
    assert out.loc["b", "ci_low"] == out.loc["b", "ci_high"] == pytest.approx(5.0)


# ----------------------------------------------------------------------------- null_score
@pytest.mark.parametrize("variant", ["paper", "original"])
@pytest.mark.parametrize("direction", ["both", "forward"])
@pytest.mark.parametrize("sizes", [([30, 20], [50, 10, 5]), ([12] * 4, [80])])
def test_null_score_matches_a_20_repeat_simulation(variant, direction, sizes) -> None:
    from xcorr_lib import null_score

    la = np.repeat(np.arange(len(sizes[0])), sizes[0])
    lb = np.repeat(np.arange(len(sizes[1])), sizes[1])
    exact, se0 = null_score(la, lb, 10, variant=variant, direction=direction)
    mc, se = null_score(la, lb, 10, variant=variant, direction=direction, method="monte-carlo", n_repeats=20, seed=1)
    assert se0 == 0.0 and se > 0
    assert abs(exact - mc) < 3 * se + 1e-4, (exact, mc, se)


def test_null_score_of_table_3_is_the_published_level() -> None:
    from xcorr_lib import null_score

    cnn = np.repeat([0, 1], [5408, 1600])
    got = [null_score(np.repeat(np.arange(len(w)), w), cnn, 10, variant="original", direction="forward")[0]
           for w in ([100], [60, 40], [40, 60], [50, 50], [20] * 5)]
    np.testing.assert_allclose(got, [0.925, 0.913, 0.909, 0.912, 0.559], atol=2e-3)
    assert got[4] < (1 + 1 + 1 / 2 + 1 / 3 + 1 / 4) / 5  # Net5's depth caps it
    with pytest.raises(ValueError, match="n_probes"):
        null_score([0], [0], 2)
    with pytest.raises(ValueError, match="unknown method"):
        null_score([0], [0], 5, method="guess")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=3, max_size=40))
def test_rank_correlations_equal_scipys_with_ties(pairs) -> None:
    from scipy import stats as sps

    x, y = (np.array(v, dtype=float) for v in zip(*pairs))
    for method, ref in (("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
        ours = rank_correlation(x, y, method)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            assert np.isnan(ours)
        else:
            assert ours == pytest.approx(float(ref(x, y).statistic), abs=1e-12)


def test_partial_rank_correlation_removes_a_shared_cause() -> None:
    from xcorr_lib.common.stats import partial_rank_correlation

    rng = np.random.default_rng(0)
    z = rng.normal(size=400)
    x, y = z + 0.3 * rng.normal(size=400), z + 0.3 * rng.normal(size=400)
    assert rank_correlation(x, y) > 0.8
    assert abs(partial_rank_correlation(x, y, z)) < 0.15
    w = rng.normal(size=400)  # a direct link survives partialling out an unrelated covariate
    assert partial_rank_correlation(x, x + 0.1 * w, w) > 0.8
    with pytest.raises(ValueError, match="same length"):
        partial_rank_correlation(x, y, z[:10])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=30))
def test_average_ranks_equal_scipys(values) -> None:
    from xcorr_lib.common.stats import average_ranks

    assert np.array_equal(average_ranks(values), stats.rankdata(values))
