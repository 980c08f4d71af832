"""Tests of the score: the engine (xcorr_lib.score.correlation) against the reference formula
(xcorr_lib.score.reference, itself checked against a brute-force double loop of np.corrcoef),
prepare-once against one-shot, plus invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.score.correlation import CorrelationResult, neuron_correlation, prepare, score_prepared
from xcorr_lib.score.reference import constant_units, neuron_correlation_reference
from xcorr_lib.score.select import select_units

SETTINGS = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------- oracle
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0 when either vector is exactly constant (our policy)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def oracle_side(X, lx, Y, ly, variant):
    """Per unit u of X: (S(u), index of v*, gap between best and second-best key)."""
    scores, match, gap = [], [], []
    for u in range(X.shape[1]):
        keys, rhos = [], []
        for v in range(Y.shape[1]):
            r = abs(pearson(X[:, u], Y[:, v]))
            pen = 1.0 / (1.0 + abs(int(lx[u]) - int(ly[v])))
            keys.append(r if variant == "paper" else r * pen)
            rhos.append(r)
        v_star = int(np.argmax(keys))  # first maximum = lowest index
        constant = np.ptp(X[:, u]) == 0
        scores.append(0.0 if constant else rhos[v_star] / (1.0 + abs(int(lx[u]) - int(ly[v_star]))))
        match.append(-1 if constant else v_star)
        rest = np.delete(np.asarray(keys), v_star)
        gap.append(keys[v_star] - (rest.max() if len(rest) else -1.0))
    return np.array(scores), np.array(match), np.array(gap)


def oracle(A, la, B, lb, variant="paper", direction="both", constant="zero"):
    sa, ma, ga = oracle_side(A, la, B, lb, variant)
    const_a = np.ptp(A, axis=0) == 0
    mean_a = sa[~const_a].mean() if constant == "exclude" else sa.mean()
    if direction == "forward":
        return mean_a, (sa, ma, ga), None
    sb, mb, gb = oracle_side(B, lb, A, la, variant)
    const_b = np.ptp(B, axis=0) == 0
    mean_b = sb[~const_b].mean() if constant == "exclude" else sb.mean()
    return 0.5 * (mean_a + mean_b), (sa, ma, ga), (sb, mb, gb)


def make_data(seed, m, layers_a, layers_b, n_const_a=0, n_const_b=0, shared=0.6):
    """Random activations with some shared signal so that correlations are not all small."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(m, 4))
    A = latent @ rng.normal(size=(4, len(layers_a))) * shared + rng.normal(size=(m, len(layers_a)))
    B = latent @ rng.normal(size=(4, len(layers_b))) * shared + rng.normal(size=(m, len(layers_b)))
    A[:, rng.choice(len(layers_a), n_const_a, replace=False)] = 2.5
    B[:, rng.choice(len(layers_b), n_const_b, replace=False)] = 0.0
    return A, np.asarray(layers_a), B, np.asarray(layers_b)


STRUCTURES = {
    "one-layer": ([0] * 23, [0] * 17),
    "many-layers": (list(np.repeat(np.arange(6), 4)), list(np.repeat(np.arange(5), 5))),
    "unequal": ([0] * 30 + [1] * 3 + [2] * 9, [0] * 2 + [1] * 25),
    "unsorted": ([2, 0, 1, 0, 2, 1, 3, 3, 0, 1, 2, 0, 5, 1], [1, 0, 0, 2, 1, 4, 2, 0, 1, 1, 3]),
}


def check_against_oracle(A, la, B, lb, *, variant, direction, constant="zero", **kw):
    res = neuron_correlation(A, la, B, lb, variant=variant, direction=direction, constant=constant, **kw)
    score, (sa, ma, ga), side_b = oracle(A, la, B, lb, variant, direction, constant)
    reference = neuron_correlation_reference(A, la, B, lb, variant, direction, constant)
    assert reference == pytest.approx(score, abs=1e-12)  # the reference is the loop, densely
    assert res.score == pytest.approx(reference, abs=1e-5)
    np.testing.assert_allclose(res.scores_a, sa, atol=1e-5)
    clear = ga > 1e-4  # matches are only defined up to float noise when two keys nearly tie
    np.testing.assert_array_equal(res.match_a[clear], ma[clear])
    if direction == "both":
        sb, mb, gb = side_b
        np.testing.assert_allclose(res.scores_b, sb, atol=1e-5)
        np.testing.assert_array_equal(res.match_b[gb > 1e-4], mb[gb > 1e-4])
    else:
        assert res.scores_b is None and res.match_b is None
    return res


# ----------------------------------------------------------------------------- oracle tests
@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("variant", ["paper", "original"])
@pytest.mark.parametrize("direction", ["both", "forward"])
@pytest.mark.parametrize("block_size", [None, 4])
def test_matches_brute_force(structure, variant, direction, block_size):
    la, lb = STRUCTURES[structure]
    A, la, B, lb = make_data(len(la) + len(lb), 12, la, lb, n_const_a=1, n_const_b=2)
    res = check_against_oracle(A, la, B, lb, variant=variant, direction=direction, block_size=block_size)
    assert (res.n_constant_a, res.n_constant_b) == (1, 2)


@pytest.mark.parametrize("variant", ["paper", "original"])
@pytest.mark.parametrize("direction", ["both", "forward"])
def test_medium_sizes_uneven_blocks_and_padding(variant, direction):
    """Sizes that are not multiples of the 32-unit strips, layers of all sizes, many blocks."""
    rng = np.random.default_rng(11)
    la = rng.choice(5, 601, p=[0.5, 0.3, 0.1, 0.09, 0.01])
    lb = rng.choice(4, 333, p=[0.1, 0.2, 0.3, 0.4])
    A, la, B, lb = make_data(11, 40, la, lb, n_const_a=3, n_const_b=2)
    reference = neuron_correlation_reference(A, la, B, lb, variant, direction)
    for block_size in (None, 96):
        res = neuron_correlation(A, la, B, lb, variant=variant, direction=direction, block_size=block_size)
        assert res.score == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("variant", ["paper", "original"])
def test_exclude_constant_units_from_mean(variant):
    A, la, B, lb = make_data(3, 10, *STRUCTURES["many-layers"], n_const_a=3, n_const_b=4)
    res = check_against_oracle(A, la, B, lb, variant=variant, direction="both", constant="exclude", block_size=3)
    zero = neuron_correlation(A, la, B, lb, variant=variant)
    assert res.score > zero.score  # the zeros no longer drag the mean down
    assert (res.match_a == -1).sum() == 3 and (res.scores_a[res.match_a == -1] == 0).all()


def test_block_size_one_and_torch_float64_input():
    A, la, B, lb = make_data(5, 8, *STRUCTURES["unsorted"])
    ref = check_against_oracle(A, la, B, lb, variant="original", direction="both", block_size=1)
    res = neuron_correlation(torch.from_numpy(A).requires_grad_(), la, torch.from_numpy(B), torch.from_numpy(lb),
                             variant="original", block_size=1)  # fmt: skip
    assert res.score == ref.score
    np.testing.assert_array_equal(res.match_b, ref.match_b)


def test_variants_differ_as_specified():
    """u in layer 0; v0 in layer 2 with |rho| ~ 0.9, v1 in layer 0 with |rho| ~ 0.6."""
    rng = np.random.default_rng(1)
    u = rng.normal(size=200)
    v0 = u + 0.48 * rng.normal(size=200)
    v1 = -(u + 1.33 * rng.normal(size=200))  # negative correlation counts by |rho|
    A, B = u[:, None], np.stack([v0, v1], axis=1)
    r0, r1 = abs(np.corrcoef(u, v0)[0, 1]), abs(np.corrcoef(u, v1)[0, 1])
    assert r0 > r1 > r0 / 3
    paper = neuron_correlation(A, [0], B, [2, 0], direction="forward")
    orig = neuron_correlation(A, [0], B, [2, 0], variant="original", direction="forward")
    assert paper.match_a[0] == 0 and paper.score == pytest.approx(r0 / 3, abs=1e-6)
    assert orig.match_a[0] == 1 and orig.score == pytest.approx(r1, abs=1e-6)
    assert orig.abs_rho_a[0] == pytest.approx(r1, abs=1e-6)


@pytest.mark.parametrize("block_size", [1, 2, None])
def test_ties_go_to_lowest_index(block_size):
    """+-1 balanced units give z entries +-0.5: every dot product is exact, ties are exact."""
    base = np.array([[1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=float).T  # (4, 3)
    B = base[:, [1, 2, 0, 2, 0, 1]]  # base unit 0 sits at b-columns 2 and 4
    A = np.stack([base[:, 0], -base[:, 0]], axis=1)
    res = neuron_correlation(A, [0, 0], B, [0, 1, 1, 1, 0, 0], block_size=block_size)
    np.testing.assert_array_equal(res.match_a, [2, 2])
    res = neuron_correlation(A, [0, 0], B, [0, 1, 1, 1, 0, 0], variant="original", block_size=block_size)
    np.testing.assert_array_equal(res.match_a, [4, 4])  # same layer wins under the penalised argmax
    assert res.match_b[2] == 0 and res.match_b[4] == 0  # a tie between A's units 0 and 1


def test_near_constant_and_tiny_scale_units():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    A = np.column_stack([x[:, 0], 1000.0 + 1e-6 * x[:, 1], 1e-9 * x[:, 2]]).astype(np.float32)
    res = neuron_correlation(A, [0, 0, 0], x, [0, 0, 0], direction="forward")
    assert res.n_constant_a == 1 and res.match_a[1] == -1  # float noise on a big offset = constant
    np.testing.assert_allclose(res.scores_a[[0, 2]], 1.0, atol=1e-5)  # tiny scale still correlates
    np.testing.assert_array_equal(res.match_a[[0, 2]], [0, 2])


def test_layer_breakdown_adds_up():
    A, la, B, lb = make_data(4, 9, *STRUCTURES["unequal"], n_const_a=2)
    res = neuron_correlation(A, la, B, lb, variant="original")
    df = res.layer_breakdown
    assert list(df.columns[:5]) == ["side", "layer_u", "layer_match", "n_units", "mean_score"]
    for side, scores in (("a->b", res.scores_a), ("b->a", res.scores_b)):
        part = df[df.side == side]
        assert part.n_units.sum() == len(scores)
        assert (part.n_units * part.mean_score).sum() / part.n_units.sum() == pytest.approx(scores.mean())
    part = df[df.side == "a->b"]
    assert part[part.layer_match.isna()].n_units.sum() == 2  # the constant units' rows
    excl = neuron_correlation(A, la, B, lb, variant="original", constant="exclude").layer_breakdown
    assert excl[excl.side == "a->b"].n_units.sum() == len(la) - 2
    assert "score=" in repr(res) and "layer_u" in res.summary()


# ----------------------------------------------------------------------------- properties
layer_lists = st.lists(st.integers(0, 3), min_size=1, max_size=12)


@st.composite
def problems(draw, min_probes=3):
    m = draw(st.integers(min_probes, 16))
    la, lb = draw(layer_lists), draw(layer_lists)
    seed = draw(st.integers(0, 2**31 - 1))
    A, la, B, lb = make_data(seed, m, la, lb, shared=draw(st.floats(0, 3)))
    return A, la, B, lb


opts = st.sampled_from([("paper", "both"), ("paper", "forward"), ("original", "both"), ("original", "forward")])


@SETTINGS
@given(problems(), opts, st.booleans(), st.integers(1, 5))
def test_score_in_unit_interval(problem, opt, with_constant, block_size):
    A, la, B, lb = problem
    if with_constant:
        A[:, 0] = 7.0
    res = neuron_correlation(A, la, B, lb, variant=opt[0], direction=opt[1], block_size=block_size)
    assert 0.0 <= res.score <= 1.0
    assert np.all((res.scores_a >= 0) & (res.scores_a <= 1))
    assert np.all(res.scores_a <= res.abs_rho_a + 1e-12)


@SETTINGS
@given(problems(min_probes=6), opts)
def test_identical_networks_score_one(problem, opt):
    A, la, _, _ = problem
    res = neuron_correlation(A, la, A.copy(), la, variant=opt[0], direction=opt[1])
    assert res.score == pytest.approx(1.0, abs=1e-5)


@SETTINGS
@given(problems(), opts, st.integers(0, 2**31 - 1))
def test_invariant_to_unit_permutation(problem, opt, seed):
    A, la, B, lb = problem
    rng = np.random.default_rng(seed)
    pa, pb = rng.permutation(len(la)), rng.permutation(len(lb))
    r1 = neuron_correlation(A, la, B, lb, variant=opt[0], direction=opt[1])
    r2 = neuron_correlation(A[:, pa], la[pa], B[:, pb], lb[pb], variant=opt[0], direction=opt[1])
    assert r2.score == pytest.approx(r1.score, abs=1e-6)
    np.testing.assert_allclose(r2.scores_a, r1.scores_a[pa], atol=1e-6)


@SETTINGS
@given(problems(), opts, st.integers(0, 2**31 - 1))
def test_invariant_to_per_unit_affine_maps(problem, opt, seed):
    A, la, B, lb = problem
    rng = np.random.default_rng(seed)

    def affine(X):
        scale = rng.uniform(0.2, 5.0, X.shape[1]) * rng.choice([-1.0, 1.0], X.shape[1])  # sign flips too
        return X * scale + rng.uniform(-5.0, 5.0, X.shape[1])

    r1 = neuron_correlation(A, la, B, lb, variant=opt[0], direction=opt[1])
    r2 = neuron_correlation(affine(A), la, affine(B), lb, variant=opt[0], direction=opt[1])
    assert r2.score == pytest.approx(r1.score, abs=1e-5)
    np.testing.assert_allclose(r2.scores_a, r1.scores_a, atol=1e-5)


@SETTINGS
@given(problems(), st.sampled_from(["paper", "original"]))
def test_both_directions_symmetric(problem, variant):
    A, la, B, lb = problem
    ab = neuron_correlation(A, la, B, lb, variant=variant)
    ba = neuron_correlation(B, lb, A, la, variant=variant)
    assert ab.score == pytest.approx(ba.score, abs=1e-6)
    np.testing.assert_allclose(ab.scores_a, ba.scores_b, atol=1e-6)
    np.testing.assert_allclose(ab.scores_b, ba.scores_a, atol=1e-6)


@SETTINGS
@given(problems(), opts, st.integers(1, 6))
def test_float32_matches_float64(problem, opt, block_size):
    A, la, B, lb = problem
    r32 = neuron_correlation(A, la, B, lb, variant=opt[0], direction=opt[1], block_size=block_size)
    r64 = neuron_correlation(A, la, B, lb, variant=opt[0], direction=opt[1], dtype=torch.float64)
    assert r32.score == pytest.approx(r64.score, abs=1e-5)
    np.testing.assert_allclose(r32.scores_a, r64.scores_a, atol=1e-5)


# ----------------------------------------------------------------------------- errors
GOOD = make_data(0, 6, [0, 1, 1], [0, 0])


def call(**changes):
    A, la, B, lb = GOOD
    args = {"acts_a": A, "layers_a": la, "acts_b": B, "layers_b": lb} | changes
    return neuron_correlation(**args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"acts_b": GOOD[2][:5]}, "6 probes .* acts_b has 5"),
        ({"acts_a": GOOD[0][:2], "acts_b": GOOD[2][:2]}, "at least 3 probes"),
        ({"acts_a": np.zeros((6, 0)), "layers_a": np.zeros(0, dtype=int)}, "acts_a has no units"),
        ({"layers_b": [0, 0, 0]}, "layers_b has 3 entries but acts_b has 2"),
        ({"acts_a": GOOD[0][:, 0]}, "acts_a must be 2-D"),
        ({"acts_b": GOOD[2][None]}, "acts_b must be 2-D"),
        ({"layers_a": np.array([[0, 1, 1]])}, "layers_a must be 1-D"),
        ({"layers_a": np.array([0.0, 1.0, 1.0])}, "layers_a must hold integer"),
        ({"acts_a": np.ones((6, 3), dtype=bool)}, "must hold real numbers"),
        ({"variant": "pape"}, "unknown variant 'pape'; valid: 'paper', 'original'"),
        ({"direction": "backward"}, "unknown direction 'backward'"),
        ({"constant": "nan"}, "unknown constant 'nan'"),
        ({"dtype": torch.float16}, "unknown dtype"),
        ({"block_size": 0}, "block_size must be a positive integer"),
    ],
)
def test_validation_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        call(**changes)


def test_nan_inf_errors_say_how_many_and_where():
    A, la, B, lb = GOOD
    B = B.copy()
    B[0, 0], B[1, 1], B[2, 0] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"acts_b contains 1 NaN and 2 Inf values \(of 12\)"):
        neuron_correlation(A, la, B, lb)
    with pytest.raises(ValueError, match=r"acts_a contains 0 NaN and 1 Inf values \(of 18\)"):
        neuron_correlation(np.where(np.arange(18).reshape(6, 3) == 7, np.inf, A), la, B, lb, variant="original")


def test_all_constant_with_exclude_is_an_error():
    A, la, B, lb = GOOD
    with pytest.raises(ValueError, match="all 3 units of acts_a are constant"):
        neuron_correlation(np.ones_like(A), la, B, lb, constant="exclude")
    assert neuron_correlation(np.ones_like(A), la, B, lb).score == 0.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_but_unavailable():
    with pytest.raises(ValueError, match="CUDA is not available"):
        call(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    A, la, B, lb = make_data(9, 32, *STRUCTURES["unsorted"], n_const_a=1)
    for variant in ("paper", "original"):
        cpu = neuron_correlation(A, la, B, lb, variant=variant, dtype=torch.float64)
        gpu = neuron_correlation(A, la, B, lb, variant=variant, device="cuda", block_size=3)
        assert gpu.score == pytest.approx(cpu.score, abs=1e-5)
        np.testing.assert_allclose(gpu.scores_b, cpu.scores_b, atol=1e-5)


# ----------------------------------------------------------------------------- select_units
def test_select_units_layers_and_seeded_subsets():
    acts = np.arange(5 * 12, dtype=float).reshape(5, 12)
    layers = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    sub, lay, idx = select_units(acts, layers, keep_layers=[2, 0], per_layer=2, seed=7)
    assert isinstance(sub, np.ndarray) and sub.shape == (5, 4)
    np.testing.assert_array_equal(sub, acts[:, idx])
    np.testing.assert_array_equal(lay, layers[idx])
    assert list(np.bincount(lay, minlength=3)) == [2, 0, 2] and np.all(np.diff(idx) > 0)
    again = select_units(acts, layers, keep_layers=[0, 2], per_layer=2, seed=7)[2]
    np.testing.assert_array_equal(again, idx)  # same seed, same units
    seen = {tuple(select_units(acts, layers, per_layer=2, seed=s)[2]) for s in range(10)}
    assert len(seen) > 1  # the seed matters
    # a layer smaller than per_layer is kept whole
    _, lay, idx = select_units(torch.from_numpy(acts), layers, per_layer=4, seed=0)
    assert list(np.bincount(lay)) == [4, 3, 4]
    whole = select_units(torch.from_numpy(acts), layers)
    assert isinstance(whole[0], torch.Tensor) and whole[0].shape == (5, 12)


def test_select_units_errors():
    acts, layers = np.zeros((4, 3)), np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"keep_layers \[5\] not present; available layers: \[0, 1\]"):
        select_units(acts, layers, keep_layers=[1, 5])
    with pytest.raises(ValueError, match="per_layer must be a positive integer"):
        select_units(acts, layers, per_layer=0)
    with pytest.raises(ValueError, match="layers has 2 entries"):
        select_units(acts, layers[:2])


def test_result_is_frozen_dataclass():
    res = call()
    assert isinstance(res, CorrelationResult) and isinstance(res.layer_breakdown, pd.DataFrame)
    with pytest.raises(AttributeError):
        res.score = 0.5  # type: ignore[misc]


# ----------------------------------------------------------------------------- prepare once
@pytest.mark.parametrize("variant", ["paper", "original"])
@pytest.mark.parametrize("direction", ["both", "forward"])
@pytest.mark.parametrize("constant", ["zero", "exclude"])
def test_prepared_equals_one_shot_bit_for_bit(variant, direction, constant):
    A, la, B, lb = make_data(5, 30, [0] * 40 + [1] * 25 + [2] * 7, [0] * 33 + [1] * 50, n_const_a=2, n_const_b=1)
    pa, pb = prepare(A, la), prepare(B, lb)
    for _ in range(2):  # the second call reuses the cached standardization
        got = score_prepared(pa, pb, variant=variant, direction=direction, constant=constant)
        want = neuron_correlation(A, la, B, lb, variant=variant, direction=direction, constant=constant)
        assert got.score == want.score
        for field in ("scores_a", "match_a", "abs_rho_a", "scores_b", "match_b", "abs_rho_b"):
            g, w = getattr(got, field), getattr(want, field)
            assert (g is None and w is None) or np.array_equal(g, w), field


def test_prepared_caches_one_standardization_per_layout():
    A, la, B, lb = make_data(6, 20, [0] * 10 + [1] * 5, [0] * 12)
    pa, pb = prepare(A, la), prepare(B, lb)
    score_prepared(pa, pb, variant="paper")
    score_prepared(pa, pb, variant="paper", direction="forward")
    assert len(pa._cache) == 1
    score_prepared(pa, pb, variant="original")  # grouped by layer: a second layout
    assert len(pa._cache) == 2 and "n_probes=20" in repr(pa)


def test_prepared_errors_name_the_inputs():
    A, la, B, lb = make_data(7, 20, [0] * 10, [0] * 12)
    with pytest.raises(ValueError, match="Net1 has 20 probes .* but CNN has 19"):
        score_prepared(prepare(A, la, name="Net1"), prepare(B[:19], lb, name="CNN"))
    with pytest.raises(ValueError, match="prepare both alike"):
        score_prepared(prepare(A, la), prepare(B, lb, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown variant 'pap'"):
        score_prepared(prepare(A, la), prepare(B, lb), variant="pap")
    with pytest.raises(ValueError, match="layers of Net1 has 9 entries but Net1 has 10 units"):
        prepare(A, la[:9], name="Net1")


@SETTINGS
@given(seed=st.integers(0, 10_000), m=st.integers(3, 25), scale=st.floats(1e-3, 1e3))
def test_constant_unit_rule_is_relative_to_the_unit(seed, m, scale):
    """Dead and saturated units are constant at any scale; a unit that varies is not."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 4)) * scale
    x[:, 1] = 0.0
    x[:, 2] = 3.0 * scale
    x[:, 3] = 3.0 * scale + x[:, 0] * 1e-9  # below the rule's 1e-6 relative spread
    assert constant_units(x).tolist() == [False, True, True, True]
    res = neuron_correlation(x, np.zeros(4, int), rng.normal(size=(m, 3)), np.zeros(3, int))
    assert res.n_constant_a == 3


# ----------------------------------------------------------------------------- the original ImageNet loop
def original_imagenet_loop(A: np.ndarray, B: np.ndarray) -> float:
    """A literal replay of ``get_correlation`` of the authors' ResNet/DenseNet scripts (one stage,
    depth 0, both directions): torch.corrcoef per pair, ``max_corr = -1`` to start, and the
    NaN test that is never true (``np.abs`` returns a new numpy scalar; ``nan > x`` is False)."""
    def side(X: np.ndarray, Y: np.ndarray) -> float:
        scores = []
        for u in range(X.shape[1]):
            max_corr = -1
            for v in range(Y.shape[1]):
                pair = torch.stack([torch.as_tensor(X[:, u]), torch.as_tensor(Y[:, v])])
                corr = np.abs(torch.corrcoef(pair)[0, 1].numpy())
                if corr is np.nan:  # as the original: never true
                    corr = 0
                if corr > max_corr:
                    max_corr = corr
            scores.append(max_corr)
        return float(np.mean(scores))
    return 0.5 * (side(A, B) + side(B, A))


@pytest.mark.parametrize("case", ["some-dead", "all-dead-b", "none-dead"])
def test_constant_policies_against_a_replay_of_the_original_loop(case):
    rng = np.random.default_rng(4)
    A, B = rng.random((10, 12)), rng.random((10, 9))
    A[:, :4] = 0.0 if case != "none-dead" else A[:, :4]  # dead after ReLU: zero on every image
    B[:, [1, 5]] = 0.0 if case == "some-dead" else B[:, [1, 5]]
    if case == "all-dead-b":
        B[:] = 0.0
    la, lb = np.zeros(12, int), np.zeros(9, int)
    with np.errstate(invalid="ignore", divide="ignore"):
        replay = original_imagenet_loop(A, B)
    minus_one = neuron_correlation(A, la, B, lb, constant="minus-one")
    assert minus_one.score == pytest.approx(replay, abs=1e-6)
    assert minus_one.score == pytest.approx(neuron_correlation_reference(A, la, B, lb, constant="minus-one"), abs=1e-6)
    # the other policies: what the loop would give with dead units at 0, or left out
    dead_a, dead_b = constant_units(A), constant_units(B)
    if case == "all-dead-b":
        dead_a = np.ones_like(dead_a)  # no candidate correlation is defined for any unit of A
    live = lambda s, dead: s[~dead] if (~dead).any() else s  # noqa: E731
    zero = neuron_correlation(A, la, B, lb, constant="zero")
    side_a = np.where(minus_one.scores_a < 0, 0.0, minus_one.scores_a)
    side_b = np.where(minus_one.scores_b < 0, 0.0, minus_one.scores_b)
    assert zero.score == pytest.approx(0.5 * (side_a.mean() + side_b.mean()), abs=1e-6)
    if case != "all-dead-b":
        exclude = neuron_correlation(A, la, B, lb, constant="exclude")
        assert exclude.score == pytest.approx(0.5 * (live(side_a, dead_a).mean() + live(side_b, dead_b).mean()), abs=1e-6)
    assert (minus_one.n_constant_a, minus_one.scores_a.min()) == (4 if case != "none-dead" else 0,
                                                                 -1.0 if case != "none-dead" else minus_one.scores_a.min())
