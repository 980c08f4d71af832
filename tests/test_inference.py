"""Nulls and the probe interval (xcorr_lib.score.inference) against brute force and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from xcorr_lib import neuron_correlation, null_score
from xcorr_lib.score.engine import prepare, score_prepared
from xcorr_lib.score.inference import probe_interval, shuffle_orders, shuffled_null
from xcorr_lib.score.reference import neuron_correlation_reference


def network(rng: np.random.Generator, latent: np.ndarray, n_units: int, noise: float) -> np.ndarray:
    """Units that move together: a few latent signals mixed, plus independent noise. (M, n_units)."""
    return latent @ rng.standard_normal((latent.shape[1], n_units)) + noise * rng.standard_normal((len(latent), n_units))


@pytest.mark.parametrize("variant,direction", [("original", "forward"), ("paper", "both")])
def test_shuffled_null_equals_a_brute_force_loop(variant, direction) -> None:
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((15, 2))
    a, b = network(rng, latent, 9, 0.5), network(rng, latent, 7, 0.5)
    la, lb = np.repeat([0, 1], [5, 4]), np.repeat([0, 1, 2], [3, 2, 2])
    res = neuron_correlation(a, la, b, lb, variant=variant, direction=direction, null="shuffle", n_null=30, seed=4)
    brute = [neuron_correlation_reference(a, la, b[order], lb, variant=variant, direction=direction)
             for order in shuffle_orders(15, 30, seed=4)]
    null = res.nulls["shuffle"]
    np.testing.assert_allclose(null.draws, brute, atol=1e-5)
    assert null.mean == pytest.approx(np.mean(brute), abs=1e-5) and null.sd == pytest.approx(np.std(brute, ddof=1), abs=1e-5)
    assert null.p_value == pytest.approx((1 + np.sum(np.asarray(brute) >= res.score - 1e-9)) / 31)
    assert res.null_used == "shuffle" and res.chance_corrected == pytest.approx(res.score - null.mean)
    again = neuron_correlation(a, la, b, lb, variant=variant, direction=direction, null="shuffle", n_null=30, seed=4)
    np.testing.assert_array_equal(again.nulls["shuffle"].draws, null.draws)  # same seed, same draws


def test_permuted_prepared_blocks_equal_preparing_permuted_activations() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((12, 40)), rng.standard_normal((12, 33))
    la, lb = np.repeat([0, 1], 20), np.repeat([0, 1, 2], 11)
    pa, pb = prepare(a, la), prepare(b, lb)
    score_prepared(pa, pb, variant="original")  # fills the caches that get permuted
    order = rng.permutation(12)
    fast = score_prepared(pa, pb.permuted_probes(order), variant="original")
    slow = score_prepared(pa, prepare(b[order], lb), variant="original")
    np.testing.assert_allclose(fast.scores_a, slow.scores_a, atol=1e-6)
    np.testing.assert_array_equal(fast.match_a, slow.match_a)
    with pytest.raises(ValueError, match="permutation of range"):
        pb.permuted_probes(np.zeros(12, dtype=int))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(5, 25), method=st.sampled_from(["normal", "percentile"]))
def test_interval_is_ordered_and_the_normal_one_contains_the_score(seed, m, method) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((m, 2))
    a, b = network(rng, latent, 6, 1.0), network(rng, latent, 5, 1.0)
    res = neuron_correlation(a, np.zeros(6, int), b, np.zeros(5, int), interval=True, n_boot=30, seed=seed,
                             interval_method=method)
    band = res.interval
    assert band.low <= band.high and band.n == m and band.level == 0.95
    if method == "normal":
        assert band.low <= res.score <= band.high
    assert not res.nulls and res.chance_level == res.independent_unit_level


def test_every_null_at_once_and_the_first_is_the_chance_level() -> None:
    rng = np.random.default_rng(2)
    latent = rng.standard_normal((30, 3))
    a, b = network(rng, latent, 10, 0.3), network(rng, latent, 8, 0.3)
    la, lb = np.zeros(10, int), np.zeros(8, int)
    twins = [rng.standard_normal((30, 8)) for _ in range(3)]
    res = neuron_correlation(a, la, b, lb, null=["untrained", "shuffle", "analytic"], twins=twins, n_null=50)
    assert list(res.nulls) == ["untrained", "shuffle", "analytic"] and res.null_used == "untrained"
    expected = [neuron_correlation(a, la, t, lb).score for t in twins]
    np.testing.assert_allclose(res.nulls["untrained"].draws, expected)
    assert res.chance_level == pytest.approx(np.mean(expected))
    assert res.nulls["analytic"].mean == pytest.approx(null_score(la, lb, 30)[0]) and res.nulls["analytic"].p_value is None
    assert res.nulls["shuffle"].p_value == pytest.approx(1 / 51)  # shared signal: no permutation reaches the score
    text = res.summary()
    assert "null shuffle" in text and "score - untrained null" in text


@pytest.mark.parametrize("kwargs,message", [
    (dict(null="bootstrap"), "unknown null 'bootstrap'"),
    (dict(null="untrained"), "needs twins"),
    (dict(twins=[np.zeros((10, 4))]), "does not ask for 'untrained'"),
    (dict(null="untrained", twins=[np.ones((9, 4))]), r"twins\[0\] has shape \(9, 4\)"),
    (dict(null="shuffle", n_null=0), "n_null must be a positive integer"),
    (dict(interval=True, interval_method="bca"), "unknown interval method"),
    (dict(interval=True, level=1.5), "level must be in"),
])
def test_bad_options_are_one_clear_error(kwargs, message) -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match=message):
        neuron_correlation(rng.standard_normal((10, 5)), np.zeros(5, int), rng.standard_normal((10, 4)),
                           np.zeros(4, int), **kwargs)


# ----------------------------------------------------------------------------- calibration
def test_shuffled_p_value_is_uniform_when_networks_share_nothing() -> None:
    """Two networks with correlated units of their own but independent of each other: the permutation
    p-value is uniform on {1/(n+1), ..., 1}; spread over each step with a seeded U it is Uniform(0, 1)."""
    rng, n_null, p = np.random.default_rng(5), 49, []
    for i in range(200):
        a, b = network(rng, rng.standard_normal((20, 2)), 8, 0.5), network(rng, rng.standard_normal((20, 2)), 8, 0.5)
        pa, pb = prepare(a, np.zeros(8, int)), prepare(b, np.zeros(8, int))
        p.append(shuffled_null(pa, pb, score_prepared(pa, pb).score, n_null=n_null, seed=i).p_value)
    p = np.asarray(p)
    smooth = p - rng.uniform(size=len(p)) / (n_null + 1)
    assert stats.kstest(smooth, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(p <= 0.05) <= 0.10


def test_probe_interval_covers_the_expected_score_at_about_the_nominal_rate() -> None:
    """Two fixed networks sharing 3 latent signals; the population value is the expected score over
    probe sets of this size (2,000 fresh sets). The normal interval covers it in 90-98% of 200 probe
    sets; the percentile interval, shifted up by repeated probes, clearly less often."""
    rng, m, n, k = np.random.default_rng(1), 30, 12, 3
    w_a, w_b, depth = rng.standard_normal((k, n)), rng.standard_normal((k, n)), np.zeros(n, int)

    def probe_set() -> tuple:
        latent = rng.standard_normal((m, k))
        return (prepare(latent @ w_a + rng.standard_normal((m, n)), depth),
                prepare(latent @ w_b + rng.standard_normal((m, n)), depth))

    expected = np.mean([score_prepared(*probe_set()).score for _ in range(2000)])
    covered = {"normal": [], "percentile": []}
    for i in range(200):
        pa, pb = probe_set()
        score = score_prepared(pa, pb).score
        for method in ("normal",) + (("percentile",) if i < 60 else ()):
            band = probe_interval(pa, pb, score, n_boot=100, seed=i, method=method)
            covered[method].append(band.low <= expected <= band.high)
    assert 0.90 <= np.mean(covered["normal"]) <= 0.98
    assert np.mean(covered["percentile"]) < np.mean(covered["normal"]) - 0.1
