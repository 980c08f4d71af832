"""Tests for xcorr_lib.nets.atoms, xcorr_lib.measures.filter_subspace and xcorr_lib.studies.filter_subspace.study."""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xcorr_lib.nets.atoms import AtomCNN, AtomConv2d, compose_weight
from xcorr_lib.common.fingerprints import model_fingerprint
from xcorr_lib.measures.filter_subspace import SharedCoefficientsError, atom_similarity, similarity_matrix
from xcorr_lib.nets.atoms import finetune_atoms, train_shared
from xcorr_lib.studies.filter_subspace.report import (cost_summary, describe_findings, mantel_table, mantel_test,
                                                      plot_study, probe_robustness, relation_table)
from xcorr_lib.studies.filter_subspace.study import Task, accuracy_table, build_models, load_task, pair_table

SETTINGS = settings(max_examples=25, deadline=None)


# ----------------------------------------------------------------------------- oracles
def compose_loops(alpha: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """weight[o, i] = sum_m alpha[o, i, m] * atom[m], by explicit loops (float64)."""
    out, inp, m = alpha.shape
    w = torch.zeros(out, inp, *atoms.shape[1:], dtype=torch.float64)
    for o, i, j in itertools.product(range(out), range(inp), range(m)):
        w[o, i] += float(alpha[o, i, j]) * atoms[j].double()
    return w


def cosine_loops(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two arrays flattened, by explicit sums."""
    a, b = a.ravel().tolist(), b.ravel().tolist()
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def toy_data(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


@pytest.fixture(scope="module")
def family() -> dict[str, AtomCNN]:
    """A base and two atom-fine-tuned copies, on random data (fast)."""
    X, y = toy_data(128, 0)
    base = train_shared(X, y, n_atoms=4, epochs=1, seed=0, progress=False)
    X1, y1 = toy_data(96, 1)
    X2, y2 = toy_data(96, 2)
    return {"base": base,
            "t1": finetune_atoms(base, X1, y1, epochs=1, lr=0.05, seed=1, progress=False),
            "t2": finetune_atoms(base, X2, y2, epochs=1, lr=0.05, seed=2, progress=False, train_head=True)}


# ----------------------------------------------------------------------------- the layer
def test_compose_weight_matches_loops() -> None:
    g = torch.Generator().manual_seed(0)
    alpha, atoms = torch.randn(5, 3, 4, generator=g), torch.randn(4, 3, 3, generator=g)
    assert torch.allclose(compose_weight(alpha, atoms).double(), compose_loops(alpha, atoms), atol=1e-5)
    with pytest.raises(ValueError, match="same m"):
        compose_weight(alpha, torch.randn(3, 3, 3))


@SETTINGS
@given(in_ch=st.integers(1, 4), out_ch=st.integers(1, 5), k=st.integers(1, 4), m=st.integers(1, 10),
       stride=st.integers(1, 2), padding=st.integers(0, 2), bias=st.booleans(), seed=st.integers(0, 10**6))
def test_atom_conv_equals_plain_conv_with_composed_weights(in_ch: int, out_ch: int, k: int, m: int, stride: int,
                                                           padding: int, bias: bool, seed: int) -> None:
    torch.manual_seed(seed)
    layer = AtomConv2d(in_ch, out_ch, k, m, bias=bias, stride=stride, padding=padding)
    plain = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=padding, bias=bias)
    with torch.no_grad():
        plain.weight.copy_(compose_loops(layer.coefficients, layer.atoms).float())
        if bias:
            plain.bias.copy_(layer.bias)
    x = torch.rand(3, in_ch, 9, 9)
    assert torch.allclose(layer(x), plain(x), atol=1e-5)


def test_init_is_orthonormal_atoms_and_conv_default_variance() -> None:
    torch.manual_seed(0)
    layer = AtomConv2d(64, 128, 3, 6)
    flat = layer.atoms.detach().reshape(6, 9)
    assert torch.allclose(flat @ flat.T, torch.eye(6), atol=1e-5)
    target = 1.0 / (3 * 64 * 9)  # nn.Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert abs(float(layer.weight.detach().var()) / target - 1.0) < 0.1


@pytest.mark.parametrize("kwargs", [dict(n_atoms=0), dict(kernel_size=0), dict(n_atoms=2.0), dict(padding=-1)])
def test_atom_conv_rejects_bad_arguments(kwargs: dict) -> None:
    args = dict(in_channels=1, out_channels=2, kernel_size=3, n_atoms=2) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AtomConv2d(**args)


# ----------------------------------------------------------------------------- the CNN
def test_atom_cnn_shapes_units_and_freezing() -> None:
    net = AtomCNN(n_atoms=3)
    for shape in [(2, 28, 28), (2, 1, 28, 28), (2, 784)]:
        assert net(torch.rand(shape)).shape == (2, 10)
    seen = {}
    mods = dict(net.named_modules())
    hooks = [mods[n].register_forward_hook(lambda _m, _i, o, n=n: seen.__setitem__(n, o.shape[1:].numel()))
             for n in net.unit_modules()]
    net(torch.rand(1, 28, 28))
    for h in hooks:
        h.remove()
    assert net.unit_modules() == {"relu0": 0, "relu1": 1}
    assert seen == {"relu0": 32 * 13 * 13, "relu1": 64 * 5 * 5}
    net.freeze_all_but_atoms()
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"conv0.atoms", "conv1.atoms"}
    net.freeze_all_but_atoms(train_head=True)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"conv0.atoms", "conv1.atoms", "fc.weight", "fc.bias", "out.weight", "out.bias"}
    assert all(p.requires_grad for p in net.unfreeze().parameters())
    with pytest.raises(ValueError, match="dropout"):
        AtomCNN(dropout=1.0)


# ----------------------------------------------------------------------------- training
def test_train_shared_is_deterministic_and_seeded() -> None:
    X, y = toy_data(64)
    a = train_shared(X, y, n_atoms=3, epochs=1, seed=5, progress=False)
    b = train_shared(X, y, n_atoms=3, epochs=1, seed=5, progress=False)
    c = train_shared(X, y, n_atoms=3, epochs=1, seed=6, progress=False)
    assert model_fingerprint(a) == model_fingerprint(b) != model_fingerprint(c)
    assert list(a.train_history_.columns)[:2] == ["epoch", "train_loss"]


def test_finetune_changes_only_atoms(family: dict[str, AtomCNN]) -> None:
    base, t1, t2 = family["base"], family["t1"], family["t2"]
    sd0, sd1, sd2 = base.state_dict(), t1.state_dict(), t2.state_dict()
    for name in sd0:
        same1, same2 = torch.equal(sd0[name], sd1[name]), torch.equal(sd0[name], sd2[name])
        if name.endswith("atoms"):
            assert not same1 and not same2, name
        elif name.startswith(("fc.", "out.")):
            assert same1 and not same2, name  # t2 also trained its head
        else:  # coefficients and conv biases: bitwise identical
            assert same1 and same2, name


def test_finetune_leaves_base_untouched_and_is_deterministic(family: dict[str, AtomCNN]) -> None:
    base = family["base"]
    before = model_fingerprint(base)
    X1, y1 = toy_data(96, 1)
    again = finetune_atoms(base, X1, y1, epochs=1, lr=0.05, seed=1, progress=False)
    assert model_fingerprint(base) == before
    assert model_fingerprint(again) == model_fingerprint(family["t1"])
    assert all(p.requires_grad for p in again.parameters())
    with pytest.raises(ValueError, match="AtomCNN"):
        finetune_atoms(nn.Linear(2, 2), X1, y1)  # type: ignore[arg-type]


def test_cache_returns_bitwise_the_trained_weights() -> None:
    X, y = toy_data(64)
    first = train_shared(X, y, n_atoms=2, epochs=1, seed=3, cache=True, progress=False)
    loaded = train_shared(X, y, n_atoms=2, epochs=1, seed=3, cache=True, progress=False)
    assert first.checkpoint_path_ == loaded.checkpoint_path_ and first.checkpoint_path_.is_file()
    assert model_fingerprint(first) == model_fingerprint(loaded)
    tuned = finetune_atoms(first, X[::-1].copy(), y, epochs=1, seed=0, cache=True, progress=False)
    tuned2 = finetune_atoms(loaded, X[::-1].copy(), y, epochs=1, seed=0, cache=True, progress=False)
    assert tuned.checkpoint_path_ == tuned2.checkpoint_path_
    assert model_fingerprint(tuned) == model_fingerprint(tuned2)
    other = finetune_atoms(first, X, y, epochs=1, seed=0, cache=True, progress=False)  # other data: other key
    assert other.checkpoint_path_ != tuned.checkpoint_path_


# ----------------------------------------------------------------------------- similarity
def test_atom_similarity_self_is_one_and_matches_oracle(family: dict[str, AtomCNN]) -> None:
    for model in family.values():
        mean, per_layer = atom_similarity(model, model)
        assert mean == pytest.approx(1.0, abs=1e-12)
        assert all(v == pytest.approx(1.0, abs=1e-12) for v in per_layer.values())
    mean, per_layer = atom_similarity(family["t1"], family["t2"])
    expected = {n: cosine_loops(getattr(family["t1"], n).atoms.detach().double().numpy(),
                                getattr(family["t2"], n).atoms.detach().double().numpy())
                for n in ("conv0", "conv1")}
    assert per_layer == pytest.approx(expected, abs=1e-12)
    assert mean == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    assert atom_similarity(family["t2"], family["t1"])[0] == pytest.approx(mean, abs=1e-15)


def test_atom_similarity_takes_no_probes_and_ignores_forward_passes(family: dict[str, AtomCNN]) -> None:
    assert list(inspect.signature(atom_similarity).parameters) == ["model_a", "model_b", "require_shared"]
    a, b = family["t1"], family["t2"]
    before = atom_similarity(a, b)
    rng = np.random.default_rng(0)
    for probe in (torch.rand(50, 28, 28), torch.zeros(7, 1, 28, 28),
                  torch.as_tensor(rng.normal(size=(20, 784)), dtype=torch.float32)):
        for model in (a, b):
            model.train()
            model(probe)
            model.eval()
            with torch.no_grad():
                model(probe)
    assert atom_similarity(a, b) == before  # bitwise the same numbers


@SETTINGS
@given(seed=st.integers(0, 10**6), scale=st.floats(0.01, 100.0))
def test_atom_similarity_cosine_properties(seed: int, scale: float) -> None:
    torch.manual_seed(seed)
    a = AtomConv2d(2, 3, 3, 4)
    b = AtomConv2d(2, 3, 3, 4)
    with torch.no_grad():
        b.coefficients.copy_(a.coefficients)
    s, _ = atom_similarity(a, b)
    assert -1.0 <= s <= 1.0
    with torch.no_grad():
        b.atoms.mul_(scale)
    assert atom_similarity(a, b)[0] == pytest.approx(s, abs=1e-6)  # float32 atoms
    with torch.no_grad():
        b.atoms.neg_()
    assert atom_similarity(a, b)[0] == pytest.approx(-s, abs=1e-6)


def test_atom_similarity_requires_shared_coefficients(family: dict[str, AtomCNN]) -> None:
    torch.manual_seed(1)
    stranger = AtomCNN(n_atoms=4)
    with pytest.raises(SharedCoefficientsError, match="coefficients differ"):
        atom_similarity(family["base"], stranger)
    value, _ = atom_similarity(family["base"], stranger, require_shared=False)
    assert -1.0 <= value <= 1.0
    with pytest.raises(SharedCoefficientsError, match="shapes must agree"):
        atom_similarity(family["base"], AtomCNN(n_atoms=5), require_shared=False)
    with pytest.raises(SharedCoefficientsError, match="different atom layers"):
        atom_similarity(family["base"], family["base"].conv0)
    with pytest.raises(ValueError, match="no AtomConv2d"):
        atom_similarity(nn.Linear(2, 2), nn.Linear(2, 2))
    zero = AtomConv2d(1, 2, 3, 2)
    with torch.no_grad():
        zero.atoms.zero_()
    with pytest.raises(ValueError, match="zero"):
        atom_similarity(zero, zero)


# ----------------------------------------------------------------------------- study
def test_task_and_load_task_on_digits() -> None:
    task = Task.from_dict({"name": "d", "dataset": "digits", "classes": [1, 3], "n_train": 50, "seed": 4})
    X, y = load_task(task)
    assert X.shape == (50, 28, 28) and set(np.unique(y)) <= {1, 3}
    Xt, yt = load_task(task, "test")
    assert set(np.unique(yt)) == {1, 3} and len(Xt) > 50  # no n_train subset on the test split
    assert np.array_equal(load_task(task)[0], X)
    with pytest.raises(ValueError, match="unknown task field"):
        Task.from_dict({"name": "d", "dataset": "digits", "epochs": 3})
    with pytest.raises(ValueError, match="do not occur"):
        load_task(Task("d", "digits", classes=(3, 11)))


def test_build_models_on_digits_is_cached_and_shares_coefficients() -> None:
    base = Task("base", "digits", n_train=120, seed=0)
    tasks = [Task("low", "digits", classes=(0, 1, 2, 3, 4), n_train=80, seed=1),
             Task("high", "digits", classes=(5, 6, 7, 8, 9), n_train=80, seed=2)]
    kw = dict(n_atoms=3, base_epochs=1, finetune_epochs=1, progress=False)
    models = build_models(base, tasks, **kw)
    assert list(models) == ["base", "low", "high"]
    again = build_models(base, tasks, **kw)  # from results/checkpoints (a temp folder in tests)
    assert all(model_fingerprint(models[n]) == model_fingerprint(again[n]) for n in models)
    assert all(m.checkpoint_path_.is_file() for m in again.values())
    for m in models.values():
        for name, layer in m.atom_layers().items():
            assert torch.equal(layer.coefficients, models["base"].atom_layers()[name].coefficients)
    mat = similarity_matrix(models)
    assert np.allclose(mat.to_numpy(), mat.to_numpy().T) and np.allclose(np.diag(mat), 1.0)
    acc = accuracy_table(models, [base, *tasks], n_test=60)
    assert list(acc["model"]) == ["base", "low", "high"] and acc["test_acc"].between(0, 1).all()
    assert list(acc["classes"]) == ["all", "0,1,2,3,4", "5,6,7,8,9"]
    with pytest.raises(ValueError, match="unique"):
        build_models(base, [Task("base", "digits")], **kw)


def _fake_table() -> pd.DataFrame:
    names = list("abcdef")
    rng = np.random.default_rng(0)
    rows = []
    for probe, shift in (("images", 0.0), ("noise", 0.1)):
        for i, (a, b) in enumerate(itertools.combinations(names, 2)):
            x = (names.index(a) + 1) * (names.index(b) + 1) / 36
            rows.append({"model_a": a, "model_b": b, "probe": probe, "atom_similarity": x,
                         "neuron_correlation": 2 * x + shift, "linear_cka": x ** 3 + shift * rng.random(),
                         "constant": 0.5})
    return pd.DataFrame(rows)


def test_relation_table_linear_vs_rank() -> None:
    rel = relation_table(_fake_table(), measures=("neuron_correlation", "linear_cka", "constant"))
    r = rel.set_index(["probe", "measure"])
    assert r.loc[("images", "neuron_correlation"), "pearson_r"] == pytest.approx(1.0)
    assert r.loc[("images", "linear_cka"), "spearman_rho"] == pytest.approx(1.0)  # monotone, not linear
    assert r.loc[("images", "linear_cka"), "pearson_r"] < 0.999
    assert r.loc[("images", "linear_cka"), "kendall_tau"] == pytest.approx(1.0)
    assert np.isnan(r.loc[("noise", "constant"), "pearson_r"])
    assert set(r["n_pairs"]) == {15}
    with pytest.raises(ValueError, match="lacks column"):
        relation_table(_fake_table(), measures=["missing"])


def test_mantel_test_detects_relation_and_respects_relabeling() -> None:
    df = _fake_table()
    res = mantel_test(df, "neuron_correlation", "images", n_permutations=999)
    assert res["statistic"] == pytest.approx(1.0) and res["pvalue"] < 0.05 and res["n_models"] == 6
    # relabel the models consistently: same statistic
    mapping = dict(zip("abcdef", "fedcba"))
    df2 = df.assign(model_a=df["model_a"].map(mapping), model_b=df["model_b"].map(mapping))
    assert mantel_test(df2, "linear_cka", "noise")["statistic"] == pytest.approx(
        mantel_test(df, "linear_cka", "noise")["statistic"])
    # unrelated values: p-values roughly uniform under the null (about 5% below 0.05)
    pvalues = [mantel_test(df.assign(neuron_correlation=np.random.default_rng(s).random(len(df))),
                           "neuron_correlation", "images", n_permutations=99, seed=s)["pvalue"]
               for s in range(60)]
    assert np.mean(np.array(pvalues) < 0.05) < 0.2 and 0.3 < np.mean(np.array(pvalues) < 0.5) < 0.7
    with pytest.raises(ValueError, match="no rows"):
        mantel_test(df, "linear_cka", "other")
    with pytest.raises(ValueError, match="method"):
        mantel_test(df, "linear_cka", "images", method="kendall")


def test_mantel_table_cost_summary_and_findings_text() -> None:
    df = _fake_table().assign(seconds_atoms=1e-4, seconds_capture=0.5, seconds_correlation=0.3,
                              seconds_cka=0.2, seconds_probe=1.0)
    mt = mantel_table(df, n_permutations=99)
    assert len(mt) == 2 * 2 * 2 and set(mt["method"]) == {"pearson", "spearman"}
    cost = cost_summary(df)
    assert cost["ratio_probe_over_atoms"].tolist() == pytest.approx([1e4, 1e4])
    text = describe_findings(relation_table(df), mt, probe_robustness(df))
    assert "neuron_correlation (images probes, 15 pairs): Pearson r = 1.000 (strong linear relation" in text
    assert "atom_similarity moves by 0.0000" in text and "seconds" not in text


def test_probe_robustness_on_constructed_table() -> None:
    rob = probe_robustness(_fake_table()).set_index("measure")
    assert rob.loc["atom_similarity", "max_abs_change"] == 0.0
    assert rob.loc["neuron_correlation", "mean_abs_change"] == pytest.approx(0.1)
    assert rob.loc["neuron_correlation", "spearman_across_probes"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two probe sets"):
        probe_robustness(_fake_table().query("probe == 'images'"))


def test_pair_table_end_to_end(family: dict[str, AtomCNN]) -> None:
    pytest.importorskip("xcorr_lib.nets.capture")
    rng = np.random.default_rng(0)
    probes = {"images": toy_data(40, 9)[0], "noise": rng.random((40, 28, 28), dtype=np.float32)}
    df = pair_table(family, probes, progress=False)
    assert len(df) == 3 * 2
    assert {"model_a", "model_b", "atom_similarity", "neuron_correlation", "linear_cka", "probe",
            "seconds_atoms", "seconds_probe"} <= set(df.columns)
    for _, row in df.iterrows():
        assert row["atom_similarity"] == atom_similarity(family[row["model_a"]], family[row["model_b"]])[0]
        assert 0.0 <= row["neuron_correlation"] <= 1.0 and 0.0 <= row["linear_cka"] <= 1.0
        assert row["seconds_probe"] > 0 and row["seconds_atoms"] > 0
    rob = probe_robustness(df).set_index("measure")
    assert rob.loc["atom_similarity", "max_abs_change"] == 0.0
    assert rob.loc["neuron_correlation", "max_abs_change"] > 0.0  # the probe set matters there
    fig = plot_study(df)
    assert len(fig.axes) == 3
