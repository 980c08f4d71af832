"""Tests of xcorr_lib.nets.capture: values equal manually computed intermediate outputs."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from torch import nn

from xcorr_lib.nets.capture import capture, capture_activations


def tiny_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 2 * 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.pool(torch.relu(self.conv1(x)))  # (B, 3, 4, 4)
        h2 = torch.relu(self.conv2(h1))  # (B, 4, 2, 2)
        return self.fc(self.drop(h2).flatten(1))


def manual_cnn(model: TinyCNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        p = model.pool(torch.relu(model.conv1(x)))
        return p, model.conv2(p)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(23, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def test_mlp_values_order_and_depths():
    model, x = tiny_mlp(), torch.randn(10, 3, 4)
    acts, layers = capture_activations(model, x, ["2", "4"], batch_size=3)
    with torch.no_grad():
        h1 = torch.relu(model[1](x.flatten(1)))
        h2 = torch.tanh(model[3](h1))
    assert acts.dtype == torch.float32 and acts.device.type == "cpu" and acts.shape == (10, 9)
    torch.testing.assert_close(acts, torch.cat([h1, h2], dim=1))
    assert layers.dtype == np.int64 and layers.tolist() == [0] * 5 + [1] * 4


def test_numpy_probe_and_dict_depths_shared(images):
    model = TinyCNN()
    out = capture(model, images.numpy().astype(np.float64), {"conv2": 1, "pool": 0, "conv1": 0}, batch_size=7)
    p, c2 = manual_cnn(model, images)
    with torch.no_grad():
        c1 = model.conv1(images)
    # dict order is kept: conv2 (4*2*2) then pool (3*4*4) then conv1 (3*8*8), C-order flattening
    torch.testing.assert_close(out.acts, torch.cat([c2.flatten(1), p.flatten(1), c1.flatten(1)], dim=1))
    assert np.bincount(out.layer_ids).tolist() == [48 + 192, 16]
    first = out.units.iloc[:5]
    assert first.module.tolist() == ["conv2"] * 5 and first.channel.tolist() == [0, 0, 0, 0, 1]
    assert first.position.tolist() == [0, 1, 2, 3, 0]


def test_channel_subset_and_spatial_mean(images):
    model = TinyCNN()
    p, c2 = manual_cnn(model, images)
    acts, layers = capture_activations(model, images, ["pool", "conv2"], channels=[0])
    torch.testing.assert_close(acts, torch.cat([p[:, 0].flatten(1), c2[:, 0].flatten(1)], dim=1))
    acts, _ = capture_activations(model, images, ["pool", "conv2"], channels=2, spatial="mean")
    torch.testing.assert_close(acts, torch.cat([p[:, :2].mean((2, 3)), c2[:, :2].mean((2, 3))], dim=1))
    acts, _ = capture_activations(model, images, {"conv2": 0, "fc": 1}, channels=[3, 1])
    with torch.no_grad():
        logits = model.eval()(images)
    torch.testing.assert_close(acts, torch.cat([c2[:, [3, 1]].flatten(1), logits], dim=1))  # (B, F) kept whole


def test_dataloader_probe_and_progress(images):
    model = TinyCNN()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.zeros(23)), batch_size=5)
    a1, l1 = capture_activations(model, loader, ["conv2"], progress=True)
    a2, l2 = capture_activations(model, (b for b in images.split(4)), ["conv2"])  # a generator of tensors
    a3, _ = capture_activations(model, images, ["conv2"], batch_size=1000)
    torch.testing.assert_close(a1, a3)
    torch.testing.assert_close(a2, a3)
    assert (l1 == l2).all()


def test_eval_no_grad_and_training_mode_restored(images):
    model = TinyCNN()
    model.train()
    model.fc.eval()  # mixed modes must come back exactly
    acts, _ = capture_activations(model, images, ["fc"])  # dropout off during capture
    with torch.no_grad():
        model.eval()
        expected = model(images)
    model.train()
    model.fc.eval()
    capture_activations(model, images, ["fc"])
    assert model.training and model.conv1.training and not model.fc.training
    torch.testing.assert_close(acts, expected)
    assert not acts.requires_grad


def test_hooks_removed_after_success_and_after_failure(images):
    model = TinyCNN()
    capture_activations(model, images, ["conv1", "conv2"])
    assert all(not m._forward_hooks for m in model.modules())

    class Boom(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.conv1(x)
            raise RuntimeError("boom")

    bad = Boom()
    bad.train()
    with pytest.raises(RuntimeError, match="boom"):
        capture_activations(bad, images, ["conv1"])
    assert all(not m._forward_hooks for m in bad.modules()) and bad.training


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_errors(images):
    model = TinyCNN()
    with pytest.raises(ValueError, match=r"unknown module 'conv3'\. Did you mean .*'conv1'.*Valid names: conv1, pool"):
        capture_activations(model, images, ["conv3"])
    with pytest.raises(ValueError, match="module 'drop' never ran"):
        capture_activations(_Skip(), torch.zeros(3, 4), ["drop"])
    with pytest.raises(ValueError, match="empty output"):
        capture_activations(_Empty(), torch.zeros(3, 4), ["empty"])
    with pytest.raises(ValueError, match="modules is empty"):
        capture_activations(model, images, [])
    with pytest.raises(ValueError, match="depth id of module 'conv1' must be an integer"):
        capture_activations(model, images, {"conv1": 0.5})
    with pytest.raises(ValueError, match="unknown spatial 'max'"):
        capture_activations(model, images, ["conv1"], spatial="max")
    with pytest.raises(ValueError, match="out of range for module 'conv1' with 3 channels"):
        capture_activations(model, images, ["conv1"], channels=[5])
    with pytest.raises(ValueError, match="the probe set is empty"):
        capture_activations(model, iter([]), ["conv1"])
    with pytest.raises(ValueError, match="ran 2 times"):
        capture_activations(_Twice(), torch.zeros(3, 4), ["lin"])
    with pytest.raises(ValueError, match="CUDA is not available") if not torch.cuda.is_available() else nullcontext():
        capture_activations(model, images[:2], ["conv1"], device="cuda")


class _Skip(nn.Module):
    """A model whose hooked module ``drop`` exists but is never called."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.drop = nn.Linear(4, 2), nn.Dropout()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class _Empty(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.empty = nn.Linear(4, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.empty(x)


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.lin(x))
