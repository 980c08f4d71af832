"""One-to-one matching (score.matching) against brute force, and the chance-corrected score."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib import neuron_correlation
from xcorr_lib.score import matching
from xcorr_lib.score.null import null_score


def brute_force(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray, variant: str) -> float:
    """Best injective assignment of the smaller side by enumeration; mean S over its pairs."""
    rho = np.abs(np.corrcoef(a.T, b.T)[: a.shape[1], a.shape[1]:])
    pen = 1.0 / (1.0 + np.abs(la[:, None] - lb[None, :]))
    w = rho * pen if variant == "original" else rho
    flip = a.shape[1] > b.shape[1]
    w, s = (w.T, (rho * pen).T) if flip else (w, rho * pen)
    best, best_s = -1.0, None
    for cols in itertools.permutations(range(w.shape[1]), w.shape[0]):
        total = w[np.arange(w.shape[0]), cols].sum()
        if total > best + 1e-12:
            best, best_s = total, s[np.arange(w.shape[0]), cols].mean()
    return float(best_s)


@settings(max_examples=40, deadline=None)
@given(n_a=st.integers(1, 5), n_b=st.integers(1, 5), m=st.integers(6, 20), variant=st.sampled_from(["paper", "original"]),
       direction=st.sampled_from(["both", "forward"]), seed=st.integers(0, 10_000))
def test_one_to_one_equals_brute_force(n_a, n_b, m, variant, direction, seed) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, n_a)), rng.standard_normal((m, n_b))
    la, lb = rng.integers(0, 3, n_a), rng.integers(0, 3, n_b)
    res = neuron_correlation(a, la, b, lb, variant=variant, direction=direction, matching="one-to-one", dtype="float64")
    assert res.score == pytest.approx(brute_force(a, la, b, lb, variant), abs=1e-9)
    assert (res.match_a >= 0).sum() == min(n_a, n_b)
    if res.match_b is not None:  # one assignment serves both sides
        matched = np.flatnonzero(res.match_a >= 0)
        assert np.array_equal(res.match_b[res.match_a[matched]], matched)


def test_permuted_copy_scores_one_and_semi_agrees() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 12))
    perm = rng.permutation(12)
    for m in ("semi", "one-to-one"):
        res = neuron_correlation(a, np.zeros(12, int), a[:, perm], np.zeros(12, int), matching=m)
        assert res.score == pytest.approx(1.0, abs=1e-6)
        assert np.array_equal(res.match_a, np.argsort(perm))


def test_one_to_one_uses_each_partner_once_where_semi_repeats() -> None:
    rng = np.random.default_rng(1)
    b = rng.standard_normal((40, 3))
    a = np.column_stack([b[:, 0], b[:, 0] + 0.1 * rng.standard_normal(40), b[:, 1]])  # two copies of b0
    semi = neuron_correlation(a, [0, 0, 0], b, [0, 0, 0], direction="forward")
    one = neuron_correlation(a, [0, 0, 0], b, [0, 0, 0], direction="forward", matching="one-to-one")
    assert list(semi.match_a[:2]) == [0, 0] and len(set(one.match_a)) == 3
    assert one.score < semi.score


def test_original_variant_one_to_one_never_exceeds_semi() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = rng.standard_normal((30, 6)), rng.standard_normal((30, 9))
        la, lb = rng.integers(0, 3, 6), rng.integers(0, 3, 9)
        kw = dict(variant="original", direction="forward")
        assert (neuron_correlation(a, la, b, lb, matching="one-to-one", **kw).score
                <= neuron_correlation(a, la, b, lb, **kw).score + 1e-9)


def test_constant_and_unmatched_units() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((30, 4))
    a[:, 2] = 1.5  # a constant unit
    b = rng.standard_normal((30, 7))
    res = neuron_correlation(a, [0] * 4, b, [0] * 7, matching="one-to-one")
    assert res.match_a[2] == -1 and res.scores_a[2] == 0 and res.n_constant_a == 1
    assert (res.match_b >= 0).sum() == 3  # three non-constant units of A to match
    excl = neuron_correlation(a, [0] * 4, b, [0] * 7, matching="one-to-one", constant="exclude")
    assert excl.score > res.score
    assert res.layer_breakdown["n_units"].sum() == 4 + 7


def test_matrix_too_large_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(matching, "MAX_CELLS", 10)
    with pytest.raises(ValueError, match="select fewer units"):
        neuron_correlation(np.random.rand(10, 4), [0] * 4, np.random.rand(10, 4), [0] * 4, matching="one-to-one")
    with pytest.raises(ValueError, match="matching"):
        neuron_correlation(np.random.rand(10, 4), [0] * 4, np.random.rand(10, 4), [0] * 4, matching="hungarian")


def test_chance_level_and_chance_corrected_score() -> None:
    rng = np.random.default_rng(4)
    la, lb = np.repeat([0, 1], [20, 10]), np.repeat([0, 1, 2], [8, 8, 8])
    res = neuron_correlation(rng.standard_normal((25, 30)), la, rng.standard_normal((25, 24)), lb, variant="original")
    assert res.chance_level == pytest.approx(null_score(la, lb, 25, variant="original")[0])
    assert res.chance_corrected == pytest.approx(res.score - res.chance_level)
    assert abs(res.chance_corrected) < 0.05  # unrelated units score their chance level
    one = neuron_correlation(rng.standard_normal((25, 30)), la, rng.standard_normal((25, 24)), lb, matching="one-to-one")
    assert 0 < one.chance_level < res.chance_level + 0.2 and abs(one.chance_corrected) < 0.05
    mc, se = null_score(la, lb, 25, matching="one-to-one", n_repeats=5)
    assert se > 0 and abs(mc - one.chance_level) < 0.05
    assert "independent-unit level" in res.summary()
