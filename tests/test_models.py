"""Tests for xcorr_lib.nets.models: Table 1 sizes, CNN unit counts, shapes, errors, hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.nets.models import CNN, FCN, MODEL_NAMES, make_cnn, make_fcn, make_model, model_spec


pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Table 1, typed here independently of xcorr_lib.common.paper (the oracle).
PAPER = {"Net1": [100], "Net2": [60, 40], "Net3": [40, 60], "Net4": [196, 392], "Net5": [20] * 5}
ORIGINAL = {**PAPER, "Net4": [50, 50]}


def linear_widths(model: torch.nn.Module) -> list[int]:
    """Out-features of every Linear in order (brute force over modules)."""
    return [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("variant, table", [("paper", PAPER), ("original", ORIGINAL)])
def test_fcn_hidden_sizes_match_table1(variant: str, table: dict) -> None:
    for name, hidden in table.items():
        net = make_fcn(name, net4=variant)
        assert list(net.hidden) == hidden
        assert linear_widths(net) == [*hidden, 10]
        assert net.layers[0].in_features == 784
        assert model_spec(name, variant)["hidden"] == hidden


def test_fcn_dropout_only_after_last_hidden_layer() -> None:
    net = make_fcn("Net5")
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["Linear", "ReLU"] * 5 + ["Dropout", "Linear"]
    assert net.layers.dropout.p == 0.5
    relus = [m for m in net.layers if isinstance(m, torch.nn.ReLU)]
    assert len({id(r) for r in relus}) == 5  # separate instances, so hooks tell layers apart


def count_units_by_hooks(model: torch.nn.Module, x: torch.Tensor) -> dict[int, int]:
    """Brute-force oracle: hook every unit module and count output elements per depth."""
    counts: dict[int, int] = {}
    handles = []
    modules = dict(model.named_modules())
    for name, depth in model.unit_modules().items():
        def hook(_m, _i, out, depth=depth):
            counts[depth] = counts.get(depth, 0) + out[0].numel()
        handles.append(modules[name].register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return counts


def test_cnn_unit_counts() -> None:
    counts = count_units_by_hooks(make_cnn(), torch.rand(1, 28, 28))
    assert counts == {0: 32 * 13 * 13, 1: 64 * 5 * 5}
    assert counts[0] == 5408 and counts[1] == 1600


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "CNN"])
def test_fcn_unit_counts(name: str) -> None:
    counts = count_units_by_hooks(make_fcn(name), torch.rand(1, 784))
    assert counts == dict(enumerate(PAPER[name]))


def test_unit_modules_with_capture_activations() -> None:
    capture = pytest.importorskip("xcorr_lib.nets.capture")
    probe = torch.rand(7, 28, 28)
    acts, layers = capture.capture_activations(make_cnn(), probe, make_cnn().unit_modules())
    assert tuple(acts.shape) == (7, 5408 + 1600)
    assert np.bincount(layers).tolist() == [5408, 1600]
    net = make_fcn("Net4", net4="original")
    acts, layers = capture.capture_activations(net, probe, net.unit_modules())
    assert tuple(acts.shape) == (7, 100)
    assert np.bincount(layers).tolist() == [50, 50]
    # the captured values are the post-ReLU hidden activations (oracle: manual forward)
    with torch.no_grad():
        h0 = torch.relu(net.layers.fc0(probe.reshape(7, 784)))
    assert torch.allclose(acts[:, :50], h0, atol=1e-6)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_all_input_shapes_give_same_logits(name: str) -> None:
    model = make_model(name, seed=0).eval()
    x = torch.rand(4, 28, 28)
    with torch.no_grad():
        a, b, c = model(x), model(x.reshape(4, 1, 28, 28)), model(x.reshape(4, 784))
    assert a.shape == (4, 10)
    assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("name", ["Net1", "CNN"])
@pytest.mark.parametrize("shape", [(4, 27, 28), (4, 3, 28, 28), (4, 783), (784,), (4, 2, 784)])
def test_wrong_shapes_raise(name: str, shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"\(B, 28, 28\)"):
        make_model(name)(torch.rand(*shape))


def test_integer_input_rejected() -> None:
    with pytest.raises(ValueError, match="floating"):
        make_fcn("Net1")(torch.zeros(2, 784, dtype=torch.uint8))


def test_unknown_names_and_options() -> None:
    with pytest.raises(ValueError, match="Net1, Net2, Net3, Net4, Net5, CNN"):
        make_model("Net6")
    with pytest.raises(ValueError, match="Net1"):
        make_fcn("CNN")
    with pytest.raises(ValueError, match="net4"):
        make_fcn("Net4", net4="wide")
    with pytest.raises(ValueError):
        FCN([])
    with pytest.raises(ValueError):
        CNN(dropout=1.0)


def test_seeded_construction_is_reproducible_and_leaves_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = make_model("Net2", seed=5), make_model("Net2", seed=5), make_model("Net2", seed=6)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.layers.fc0.weight, c.layers.fc0.weight)


@settings(max_examples=15, deadline=None)
@given(hidden=st.lists(st.integers(1, 12), min_size=1, max_size=4), in_features=st.integers(1, 20))
def test_generic_fcn_shapes(hidden: list[int], in_features: int) -> None:
    net = FCN(hidden, in_features=in_features, n_classes=3)
    assert net(torch.rand(5, in_features)).shape == (5, 3)
    assert list(net.unit_modules().values()) == list(range(len(hidden)))
    assert count_units_by_hooks(net, torch.rand(1, in_features)) == dict(enumerate(hidden))
