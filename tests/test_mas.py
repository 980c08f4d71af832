"""Tests for Model Alignment Search (xcorr_lib.measures.mas) and linear stitching (xcorr_lib.measures.stitching).

The constructed case: a small MLP ``A`` trained briefly on scikit-learn's 8x8 digits, the
aligned layer a linear bottleneck (module "2", 32 units) that feeds another linear layer.
``B = rotated copy``: B's bottleneck weights are ``R @ W`` (bias ``R @ b``) and the next
layer's weights ``W' @ R^T`` for a random orthogonal ``R``, so B computes exactly A's
function with a rotated hidden code. ``U`` is the same architecture left untrained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from torch import nn

from xcorr_lib.measures.mas import (MASResult, iia, make_pairs, mas_pair, random_orthogonal, swap_subspace,
                                    train_mas)
from xcorr_lib.nets.hooks import frozen, layer_output, replace_output
from xcorr_lib.studies.alignment_search import CONTROL_COLUMNS, pair_iia, untrained_control, untrained_copy
from xcorr_lib.measures.stitching import stitch

LAYER = "2"
D = 8
STEPS = 300


def _net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32),
                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))


def _accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.as_tensor(X)).argmax(1).numpy() == y).mean())


def _all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny matrices: one thread avoids oversubscription on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], y[perm].astype(np.int64)
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.fixture(scope="module")
def nets(digits: tuple) -> dict[str, nn.Module]:
    Xtr, ytr, _, _ = digits
    A = _net(0)
    opt = torch.optim.Adam(A.parameters(), lr=1e-2)
    X, y = torch.as_tensor(Xtr), torch.as_tensor(ytr)
    for _ in range(150):
        loss = nn.functional.cross_entropy(A(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    R = random_orthogonal(32, torch.Generator().manual_seed(5))
    B = _net(0)
    B.load_state_dict(A.state_dict())
    with torch.no_grad():
        B[2].weight.copy_(R @ A[2].weight)
        B[2].bias.copy_(R @ A[2].bias)
        B[3].weight.copy_(A[3].weight @ R.T)
    return {"A": A, "B": B, "U": _net(1)}


def test_fixture_is_the_intended_case(digits: tuple, nets: dict) -> None:
    _, _, Xte, yte = digits
    acc = _accuracy(nets["A"], Xte, yte)
    assert acc > 0.9
    with torch.no_grad():
        X = torch.as_tensor(Xte)
        torch.testing.assert_close(nets["B"](X), nets["A"](X), atol=1e-4, rtol=1e-4)
    assert _accuracy(nets["U"], Xte, yte) < 0.3


def test_rotated_copy_has_high_iia_both_ways(digits: tuple, nets: dict) -> None:
    out = mas_pair(nets["A"], LAYER, nets["B"], LAYER, *digits, d=D, steps=STEPS,
                   batch_size=64, seed=0, progress=False)
    assert out["iia_a_to_b"] > 0.9 and out["iia_b_to_a"] > 0.9
    assert out["iia_a_to_a"] > 0.9 and out["iia_b_to_b"] > 0.9


@pytest.fixture(scope="module")
def untrained_vs_rotated(digits: tuple, nets: dict) -> tuple[pd.DataFrame, dict[int, float]]:
    """The control table of A against its untrained copy, and the rotated copy's pair IIA,
    at d = 2, 4, 8 (same steps, seed and held-out pairs)."""
    control = untrained_control(nets["A"], LAYER, *digits, dims=[2, 4, 8], steps=STEPS,
                                batch_size=64, seed=0, progress=False)
    rotated = {}
    for d in (2, 4, 8):
        out = mas_pair(nets["A"], LAYER, nets["B"], LAYER, *digits, d=d, steps=STEPS,
                       batch_size=64, seed=0, progress=False)
        rotated[d] = pair_iia(out["iia_a_to_b"], out["iia_b_to_a"])
    return control, rotated


def test_untrained_network_pair_iia_near_chance(untrained_vs_rotated: tuple) -> None:
    """An untrained copy U has no class variable: U -> U is at chance (10%) at every d, and
    the bidirectional pair IIA min(A -> U, U -> A) is near chance for small d, creeping up at
    d = 8 (U's random features hold some class information), always far below the rotated
    copy's. A -> U alone is high: a learned rotation steers U's random read-out (the
    expressiveness caveat of alignment search; see xcorr_lib.studies.alignment_search and notebook 06).
    """
    control, rotated = untrained_vs_rotated
    by_d = control.set_index("subspace_dim")
    assert list(by_d.index) == [2, 4, 8] and list(control.columns) == list(CONTROL_COLUMNS)
    assert (by_d.iia_u_to_u < 0.2).all()
    assert (by_d.loc[[2, 4], "iia_min"] < 0.15).all()
    for d in (2, 4, 8):
        assert rotated[d] - by_d.loc[d, "iia_min"] > 0.2
    assert rotated[8] > 0.9
    assert by_d.loc[8, "iia_a_to_u"] > 0.5  # the documented caveat
    assert (by_d.iia_min == np.minimum(by_d.iia_a_to_u, by_d.iia_u_to_a)).all()


def test_untrained_copy_reinitialises_every_parameter(nets: dict) -> None:
    A = nets["A"]
    state = torch.get_rng_state()
    U1, U2, U3 = untrained_copy(A, 1), untrained_copy(A, 1), untrained_copy(A, 2)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    for (name, p), p1, p2, p3 in zip(A.named_parameters(), U1.parameters(), U2.parameters(),
                                     U3.parameters()):
        assert p1.shape == p.shape and not torch.equal(p1, p), name
        assert torch.equal(p1, p2) and not torch.equal(p1, p3), name
    with pytest.raises(ValueError, match="reset_parameters"):
        untrained_copy(nn.Sequential(nn.ReLU()), 0)
    with pytest.raises(ValueError, match="dims is empty"):
        untrained_control(A, LAYER, *[np.zeros((4, 64), np.float32), np.arange(4)] * 2, dims=[],
                          steps=1)


def test_learned_rotations_stay_orthogonal_and_models_are_restored(digits: tuple,
                                                                    nets: dict) -> None:
    Xtr, ytr, _, _ = digits
    A, B = nets["A"], nets["B"]
    A.train()
    before = A[0].weight.clone()
    res = train_mas({"A": A, "B": B}, {"A": LAYER, "B": LAYER}, Xtr, ytr, d=4, steps=50,
                    batch_size=32, lr=5e-2, seed=3, progress=False)
    for Q in res.rotations.values():
        torch.testing.assert_close(Q.T @ Q, torch.eye(Q.shape[0]), atol=1e-4, rtol=0)
    start = random_orthogonal(32, torch.Generator().manual_seed(3))
    assert not torch.allclose(res.rotations["A"], start)  # it did learn
    assert A.training and all(p.requires_grad for p in A.parameters())
    assert torch.equal(A[0].weight, before)
    assert _all_hooks(A) == 0 and _all_hooks(B) == 0
    A.eval()
    assert len(res.losses) == 50 and all(np.isfinite(res.losses))


def test_same_seed_same_rotations(digits: tuple, nets: dict) -> None:
    Xtr, ytr, _, _ = digits
    kw = dict(d=3, steps=5, batch_size=16, seed=7, progress=False)
    r1 = train_mas({"A": nets["A"]}, {"A": LAYER}, Xtr, ytr, **kw)
    r2 = train_mas({"A": nets["A"]}, {"A": LAYER}, Xtr, ytr, **kw)
    assert torch.equal(r1.rotations["A"], r2.rotations["A"])


def test_full_width_self_intervention_is_the_source_run(digits: tuple, nets: dict) -> None:
    """With d = n, A->A replaces the whole state: A outputs A(x_src) for any Q."""
    Xtr, ytr, Xte, yte = digits
    res = train_mas({"A": nets["A"]}, {"A": LAYER}, Xtr, ytr, d=32, steps=1,
                    counterfactual="source", seed=0, progress=False)
    assert iia(res, "A", "A", Xte, yte, n_pairs=300) == 1.0


def _iia_oracle(res: MASResult, source: str, target: str, X: np.ndarray, y: np.ndarray,
                src: np.ndarray, base: np.ndarray) -> float:
    """One pair at a time, the rotation written out as in the definition."""
    ma, mb = res.models[source], res.models[target]
    Qa, Qb = res.rotations[source].double(), res.rotations[target].double()
    head = mb[3:]  # everything after the aligned module "2"
    hits = 0
    with torch.no_grad():
        for s, b in zip(src, base):
            h_a = ma[:3](torch.as_tensor(X[s:s + 1])).double()[0]
            h_b = mb[:3](torch.as_tensor(X[b:b + 1])).double()[0]
            z_a, z_b = Qa @ h_a, Qb @ h_b
            z_b[:res.d] = z_a[:res.d]
            out = head((Qb.T @ z_b).float()[None])
            hits += int(out.argmax(1).item() == y[s])
    return hits / len(src)


def test_iia_matches_brute_force_oracle(digits: tuple, nets: dict) -> None:
    Xtr, ytr, Xte, yte = digits
    res = train_mas({"A": nets["A"], "U": nets["U"]}, {"A": LAYER, "U": LAYER}, Xtr, ytr,
                    d=5, steps=20, batch_size=32, seed=1, progress=False)
    src, base = make_pairs(yte, 120, seed=4)
    for s, t in (("A", "U"), ("U", "A"), ("A", "A")):
        want = _iia_oracle(res, s, t, Xte, yte, src, base)
        assert iia(res, s, t, Xte, yte, n_pairs=120, seed=4, batch_size=50) == pytest.approx(want)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), d_frac=st.floats(0.0, 1.0), batch=st.integers(1, 5),
       seed=st.integers(0, 10_000))
def test_swap_subspace_properties(n: int, d_frac: float, batch: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    d = max(1, round(d_frac * n))
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0]
    h = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    h_src = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    z_src = (h_src @ Q.T)[:, :d]
    out = swap_subspace(h, z_src, Q)
    # oracle: rotate, overwrite, rotate back, row by row
    for i in range(batch):
        z = Q @ h[i]
        z[:d] = z_src[i]
        torch.testing.assert_close(out[i], Q.T @ z)
    # swapping in a state's own coordinates changes nothing; full width gives the source
    torch.testing.assert_close(swap_subspace(h, (h @ Q.T)[:, :d], Q), h)
    torch.testing.assert_close(swap_subspace(h, h_src @ Q.T, Q), h_src)
    R = random_orthogonal(n, gen)
    torch.testing.assert_close(R.T @ R, torch.eye(n), atol=1e-6, rtol=0)


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=2, max_size=40), n=st.integers(1, 50),
       seed=st.integers(0, 1000))
def test_make_pairs_differ(labels: list[int], n: int, seed: int) -> None:
    y = np.array(labels)
    if np.unique(y).size < 2:
        with pytest.raises(ValueError, match="two classes"):
            make_pairs(y, n, seed=seed)
        return
    src, base = make_pairs(y, n, seed=seed)
    assert src.shape == base.shape == (n,)
    assert np.all(y[src] != y[base])
    src2, base2 = make_pairs(y, n, seed=seed)
    assert np.array_equal(src, src2) and np.array_equal(base, base2)


def test_hooks_removed_after_use_and_after_exception(nets: dict) -> None:
    A = nets["A"]
    x = torch.zeros(3, 64)
    with replace_output(A, LAYER, lambda h: h * 0):
        assert _all_hooks(A) == 1
    assert _all_hooks(A) == 0
    with pytest.raises(RuntimeError, match="boom"):
        with replace_output(A, LAYER, lambda h: h):
            raise RuntimeError("boom")
    assert _all_hooks(A) == 0

    def bad(h: torch.Tensor) -> torch.Tensor:
        raise ValueError("bad intervention")

    with pytest.raises(ValueError, match="bad intervention"):
        with replace_output(A, LAYER, bad):
            A(x)
    assert _all_hooks(A) == 0
    layer_output(A, LAYER, x)
    assert _all_hooks(A) == 0


class _Exploding(nn.Module):
    """Fails after its aligned layer has run: training must still remove every hook."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(64, 8)
        self.out = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden(x)
        if h.shape[0] > 2:
            raise RuntimeError("exploded downstream")
        return self.out(h)


def test_hooks_and_flags_restored_when_training_fails(digits: tuple, nets: dict) -> None:
    Xtr, ytr, _, _ = digits
    bad = _Exploding()
    with pytest.raises(RuntimeError, match="exploded"):
        train_mas({"A": nets["A"], "X": bad}, {"A": LAYER, "X": "hidden"}, Xtr, ytr, d=2,
                  steps=3, batch_size=8, progress=False)
    assert _all_hooks(bad) == 0 and _all_hooks(nets["A"]) == 0
    assert bad.training and all(p.requires_grad for p in bad.parameters())


def test_stitching_rotated_copy_reaches_a_accuracy(digits: tuple, nets: dict) -> None:
    Xtr, ytr, Xte, yte = digits
    acc_a = _accuracy(nets["A"], Xte, yte)
    acc = stitch(nets["A"], LAYER, nets["B"], LAYER, Xtr, ytr, Xte, yte, steps=STEPS,
                 batch_size=64, seed=0, progress=False)
    assert acc >= acc_a - 0.03
    assert _all_hooks(nets["B"]) == 0


def test_errors(digits: tuple, nets: dict) -> None:
    Xtr, ytr, Xte, yte = digits
    A, B = nets["A"], nets["B"]
    with pytest.raises(ValueError, match=r"d=33 exceeds .*32"):
        train_mas({"A": A}, {"A": LAYER}, Xtr, ytr, d=33, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"unknown module name 'fc9'.*valid names.*'2'"):
        train_mas({"A": A}, {"A": "fc9"}, Xtr, ytr, d=2, steps=1, progress=False)
    with pytest.raises(ValueError, match="X and y do not match"):
        train_mas({"A": A}, {"A": LAYER}, Xtr, ytr[:-1], d=2, steps=1, progress=False)
    with pytest.raises(ValueError, match="need the same"):
        train_mas({"A": A}, {"B": LAYER}, Xtr, ytr, d=2, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"unknown counterfactual 'label'; valid: 'true', 'source'"):
        train_mas({"A": A}, {"A": LAYER}, Xtr, ytr, d=2, steps=1,
                  counterfactual="label", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train_mas({"A": A}, {"A": LAYER}, Xtr, ytr, d=2, steps=0, progress=False)
    with pytest.raises(ValueError, match="pair_mode"):
        make_pairs(ytr, 5, mode="same")  # type: ignore[arg-type]
    res = train_mas({"A": A}, {"A": LAYER}, Xtr, ytr, d=2, steps=1, progress=False)
    with pytest.raises(ValueError, match=r"unknown model 'B'.*\['A'\]"):
        iia(res, "A", "B", Xte, yte)
    with pytest.raises(ValueError, match="X and y do not match"):
        stitch(A, LAYER, B, LAYER, Xtr, ytr, Xte, yte[:5], steps=1, progress=False)
    with pytest.raises(ValueError, match="unknown module name"):
        stitch(A, "nope", B, LAYER, Xtr, ytr, Xte, yte, steps=1, progress=False)
    with frozen([A]):
        assert not A.training


def test_tables_match_single_calls(digits: tuple, nets: dict) -> None:
    from xcorr_lib.measures.mas import iia_table
    from xcorr_lib.measures.stitching import stitch_table

    Xtr, ytr, Xte, yte = digits
    models = {"A": nets["A"], "U": nets["U"]}
    layers = {"A": LAYER, "U": LAYER}
    res = train_mas(models, layers, Xtr, ytr, d=3, steps=5, batch_size=16, progress=False)
    table = iia_table(res, Xte, yte, n_pairs=100, seed=2)
    assert list(zip(table.source, table.target)) == [("A", "A"), ("A", "U"), ("U", "A"), ("U", "U")]
    assert table.iia.tolist() == [iia(res, s, t, Xte, yte, n_pairs=100, seed=2)
                                  for s, t in zip(table.source, table.target)]
    st_tab = stitch_table(models, layers, Xtr, ytr, Xte, yte, steps=3, batch_size=8,
                          progress=False)
    assert list(zip(st_tab.source, st_tab.target)) == [("A", "U"), ("U", "A")]
    assert st_tab.stitch_acc.iloc[0] == stitch(nets["A"], LAYER, nets["U"], LAYER, Xtr, ytr,
                                               Xte, yte, steps=3, batch_size=8, progress=False)
    assert st_tab.stitch_acc.between(0, 1).all()


# --- notebook 06 building blocks (synthetic tables) -----------------------------------------

def _synthetic_tables() -> tuple:
    import pandas as pd

    names = ["N1", "N2", "N3", "CNN"]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    rng = np.random.default_rng(0)
    iia_df = pd.DataFrame([{"source": s, "target": t, "d": d, "iia": rng.uniform()}
                           for d in (2, 8) for s in names for t in names])
    st_df = pd.DataFrame([{"source": s, "target": t, "stitch_acc": rng.uniform()}
                          for s in names for t in names if s != t])
    meas = pd.DataFrame([{"model_a": a, "model_b": b, "neuron_corr": rng.uniform(),
                          "neuron_corr_layer": rng.uniform(), "linear_cka_layer": rng.uniform()}
                         for a, b in pairs])
    layers = {n: f"layer_{n}" for n in names}
    return names, pairs, iia_df, st_df, meas, layers


def test_mas_comparison_rows_and_columns() -> None:
    from xcorr_lib.studies.alignment_search import mas_comparison

    names, pairs, iia_df, st_df, meas, layers = _synthetic_tables()
    table = mas_comparison(iia_df, st_df, meas, layers, pairs)
    assert len(table) == 2 * len(pairs)
    row = table[(table.model_a == "N2") & (table.model_b == "CNN") & (table.subspace_dim == 8)].iloc[0]
    look = iia_df.set_index(["source", "target", "d"]).iia
    assert row.iia_a_to_b == look[("N2", "CNN", 8)] and row.iia_b_to_a == look[("CNN", "N2", 8)]
    assert row.iia_b_to_b == look[("CNN", "CNN", 8)]
    assert row.iia_mean == pytest.approx((row.iia_a_to_b + row.iia_b_to_a) / 2)
    assert row.iia_min == min(row.iia_a_to_b, row.iia_b_to_a)
    acc = st_df.set_index(["source", "target"]).stitch_acc
    assert row.stitch_acc == pytest.approx((acc[("N2", "CNN")] + acc[("CNN", "N2")]) / 2)
    assert row.layer_a == "layer_N2" and row.neuron_corr == meas.neuron_corr.iloc[4]


def test_rankings_gaps_and_attack_agreement() -> None:
    from scipy import stats

    from xcorr_lib.studies.alignment_search import attack_agreement, mas_comparison, rank_gaps, tidy_measures

    names, pairs, iia_df, st_df, meas, layers = _synthetic_tables()
    table = mas_comparison(iia_df, st_df, meas, layers, pairs)
    tidy = tidy_measures(table, 8)
    assert len(tidy) == len(pairs) * 5 and set(tidy.measure) >= {"iia_mean", "neuron_corr"}
    gaps = rank_gaps(table, 8)
    t8 = table[table.subspace_dim == 8].reset_index(drop=True)
    best = t8.iia_mean.idxmax()
    assert gaps.set_index("pair").loc[f"{t8.model_a[best]}-{t8.model_b[best]}", "rank_iia_mean"] == 1
    assert list(gaps.gap.abs()) == sorted(gaps.gap.abs(), reverse=True)
    deg = {"N1": 0.3, "N2": 0.1, "N3": 0.2}
    out = attack_agreement(table, deg, 8).set_index("measure")
    cnn_rows = t8[t8.model_b == "CNN"].set_index("model_a")
    want = stats.kendalltau(cnn_rows.loc[["N1", "N2", "N3"], "neuron_corr"], [0.3, 0.1, 0.2]).statistic
    assert out.loc["neuron_corr", "kendall_tau"] == pytest.approx(want)
    assert out.n_nets.eq(3).all()
    assert np.isnan(attack_agreement(table, {"N1": 0.3}, 8).kendall_tau).all()


def test_load_attack_degradation(tmp_path) -> None:
    import pandas as pd

    from xcorr_lib.common import provenance
    from xcorr_lib.studies.alignment_search import load_attack_degradation

    deg, reason = load_attack_degradation("fashion-mnist", "smoke")
    assert deg is None and "not found" in reason
    df = pd.DataFrame({"dataset": ["fashion-mnist", "fashion-mnist", "mnist"], "net": ["Net1", "CNN", "Net1"],
                       "acc_clean": [0.8, 0.9, 0.9], "acc_attacked": [0.4, 0.6, 0.5],
                       "rel_degradation": [0.5, 1 / 3, 0.44]})
    provenance.save_table(df, "table4_attack", notebook="03_transfer_attack", profile="paper")
    deg, reason = load_attack_degradation("fashion-mnist", "smoke")
    assert deg is None and "'paper'" in reason
    deg, reason = load_attack_degradation("fashion-mnist", "paper")
    assert reason == "" and deg == {"Net1": 0.5, "CNN": pytest.approx(1 / 3)}
    assert load_attack_degradation("kmnist", "paper")[0] is None


def test_plot_mas_draws_the_three_panels() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xcorr_lib.studies.alignment_search import mas_comparison, plot_mas

    names, pairs, iia_df, st_df, meas, layers = _synthetic_tables()
    table = mas_comparison(iia_df, st_df, meas, layers, pairs)
    fig = plot_mas(iia_df, st_df, table)
    assert len(fig.axes) == 4  # three panels and a colour bar
    assert len(fig.axes[2].lines) == len(pairs) + 1
    plt.close(fig)


def test_pair_measures_against_direct_calls() -> None:
    from xcorr_lib.nets.capture import capture_activations
    from xcorr_lib.score.correlation import neuron_correlation
    from xcorr_lib.measures import linear_cka
    from xcorr_lib.nets.models import FCN
    from xcorr_lib.studies.alignment_search import pair_measures

    torch.manual_seed(0)
    models = {"a": FCN([12, 8]).eval(), "b": FCN([10]).eval()}
    layers = {"a": "layers.relu1", "b": "layers.relu0"}
    probe = np.random.default_rng(0).uniform(size=(60, 784)).astype(np.float32)
    out = pair_measures(models, layers, probe, [("a", "b")]).iloc[0]
    acts = {k: capture_activations(m, probe, m.unit_modules(), progress=False) for k, m in models.items()}
    want = neuron_correlation(*acts["a"], *acts["b"], variant="paper", direction="both").score
    assert out.neuron_corr == pytest.approx(want)
    la = capture_activations(models["a"], probe, [layers["a"]], progress=False)[0].numpy()
    lb = capture_activations(models["b"], probe, [layers["b"]], progress=False)[0].numpy()
    assert out.linear_cka_layer == pytest.approx(linear_cka(la, lb), rel=1e-5)
    zeros = np.zeros(la.shape[1], int), np.zeros(lb.shape[1], int)
    assert out.neuron_corr_layer == pytest.approx(
        neuron_correlation(la, zeros[0], lb, zeros[1], variant="paper", direction="both").score, rel=1e-5)


def test_describe_mas_numbers_come_from_the_table() -> None:
    from xcorr_lib.studies.alignment_search import describe_mas, mas_comparison

    names, pairs, iia_df, st_df, meas, layers = _synthetic_tables()
    table = mas_comparison(iia_df, st_df, meas, layers, pairs)
    text = describe_mas(table, {n: 0.8 for n in names})
    rows = table[table.subspace_dim == 8]
    assert text.startswith(f"At d = 8, the mean IIA over the 6 pairs is {rows.iia_mean.mean():.2f}")
    gap = (rows.iia_a_to_b - rows.iia_b_to_a).abs()
    worst = rows.loc[gap.idxmax()]
    assert f"most asymmetric pair is {worst.model_a}-{worst.model_b}" in text
    assert "ranks the pairs most like IIA" in text
