"""The paper's small networks: five fully connected nets (Table 1) and a two-layer CNN.

Every model returns LOGITS of shape (B, 10). The original notebooks (skorch) ended
each network with a softmax and trained with NLL of ``log(p)``; we return logits and
train with ``cross_entropy`` (= NLL of ``log_softmax``), the same loss up to skorch's
``log(p + eps)`` guard (eps = float32 machine epsilon), and numerically safer.

Inputs may be (B, 28, 28), (B, 1, 28, 28) or (B, 784) float tensors with pixels in
[0, 1]; anything else raises a ValueError that names the accepted shapes.

Every model has ``.unit_modules() -> dict[str, int]``: the names of the modules whose
outputs are the "hidden units" of the paper (its section 3.2) mapped to their depth
index, ready for :func:`xcorr_lib.nets.capture.capture_activations`:

- FCN: the ReLU after every hidden Linear (depth 0, 1, ...). Each layer has its own
  ``nn.ReLU`` instance, so forward hooks tell the layers apart. Units are taken after
  the ReLU and before dropout (dropout is the identity in eval mode anyway).
- CNN: the ReLU closing each conv block (block 0: 32x13x13 = 5408 units, block 1:
  64x5x5 = 1600 units). The fully connected layer is NOT a unit layer (as in the paper).

Example
-------
>>> net = make_fcn("Net2")
>>> net.hidden
(60, 40)
>>> net.unit_modules()
{'layers.relu0': 0, 'layers.relu1': 1}
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from torch import nn

from xcorr_lib.common.paper import TABLE1_ORIGINAL, TABLE1_PAPER

Net4Variant = Literal["paper", "original"]
NET4_VARIANTS: tuple[str, ...] = ("paper", "original")

#: Hidden sizes of the five FCNs, by Net4 variant: "paper" = Table 1 as printed
#: (Net4 = [196, 392]); "original" = what the authors' notebooks ran (Net4 = [50, 50]).
#: Single source of truth: :mod:`xcorr_lib.common.paper`.
FCN_SPECS: dict[str, Mapping[str, list[int]]] = {"paper": TABLE1_PAPER, "original": TABLE1_ORIGINAL}
FCN_NAMES: tuple[str, ...] = tuple(TABLE1_PAPER)
MODEL_NAMES: tuple[str, ...] = (*FCN_NAMES, "CNN")

IMAGE_SHAPE = (28, 28)
N_PIXELS = 28 * 28


def _check_float_tensor(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor input, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise ValueError(f"expected a floating-point input with pixels in [0, 1], got dtype {x.dtype}")
    return x


def _shape_error(x: torch.Tensor, expected: str) -> ValueError:
    return ValueError(f"input of shape {tuple(x.shape)} not accepted; expected {expected}")


_IMAGE_SHAPES = "(B, 28, 28), (B, 1, 28, 28) or (B, 784)"


def as_flat(x: torch.Tensor, in_features: int = N_PIXELS) -> torch.Tensor:
    """Reshape a batch to (B, in_features); accepts the image shapes when in_features == 784."""
    x = _check_float_tensor(x)
    if x.ndim == 2 and x.shape[1] == in_features:
        return x
    if in_features == N_PIXELS:
        if (x.ndim == 3 and tuple(x.shape[1:]) == IMAGE_SHAPE) or (
                x.ndim == 4 and tuple(x.shape[1:]) == (1, *IMAGE_SHAPE)):
            return x.reshape(x.shape[0], N_PIXELS)
        raise _shape_error(x, _IMAGE_SHAPES)
    raise _shape_error(x, f"(B, {in_features})")


def as_images(x: torch.Tensor) -> torch.Tensor:
    """Reshape a batch of 28x28 grey images to (B, 1, 28, 28)."""
    x = _check_float_tensor(x)
    if x.ndim == 4 and tuple(x.shape[1:]) == (1, *IMAGE_SHAPE):
        return x
    if (x.ndim == 3 and tuple(x.shape[1:]) == IMAGE_SHAPE) or (x.ndim == 2 and x.shape[1] == N_PIXELS):
        return x.reshape(x.shape[0], 1, *IMAGE_SHAPE)
    raise _shape_error(x, _IMAGE_SHAPES)


class FCN(nn.Module):
    """Fully connected classifier: [Linear -> ReLU] per hidden layer, dropout, Linear.

    Parameters
    ----------
    hidden : sequence of int
        Hidden layer widths, e.g. ``[60, 40]`` (at least one layer, all >= 1).
    in_features : int
        Input size (784 for 28x28 images).
    n_classes : int
        Number of output logits.
    dropout : float
        Dropout probability after the LAST hidden layer only (as the original).

    Forward: (B, in_features) (or a 28x28 image batch when in_features == 784)
    -> logits (B, n_classes).
    """

    def __init__(self, hidden: Sequence[int], in_features: int = N_PIXELS, n_classes: int = 10,
                 dropout: float = 0.5) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
        if in_features < 1 or n_classes < 1:
            raise ValueError(f"in_features and n_classes must be positive, got {in_features}, {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden = hidden
        self.in_features = int(in_features)
        self.n_classes = int(n_classes)
        self.dropout_p = float(dropout)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width = self.in_features
        for i, h in enumerate(hidden):
            layers[f"fc{i}"] = nn.Linear(width, h)
            layers[f"relu{i}"] = nn.ReLU()
            width = h
        layers["dropout"] = nn.Dropout(dropout)
        layers["out"] = nn.Linear(width, n_classes)
        self.layers = nn.Sequential(layers)

    @property
    def spec(self) -> dict[str, Any]:
        """Everything that defines the architecture (used in checkpoint keys)."""
        return {"arch": "FCN", "hidden": list(self.hidden), "in_features": self.in_features,
                "n_classes": self.n_classes, "dropout": self.dropout_p}

    def unit_modules(self) -> dict[str, int]:
        """Hidden-unit modules (each hidden ReLU) -> depth index 0, 1, ..."""
        return {f"layers.relu{i}": i for i in range(len(self.hidden))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(as_flat(x, self.in_features))

    def extra_repr(self) -> str:
        return f"hidden={list(self.hidden)}"


class CNN(nn.Module):
    """The paper's two-layer CNN (the skorch MNIST tutorial network).

    conv 1->32 k3, maxpool 2, ReLU            (block 0 output: 32x13x13 = 5408 units)
    conv 32->64 k3, dropout2d, maxpool 2, ReLU (block 1 output: 64x5x5 = 1600 units)
    fc 1600->100, ReLU, dropout; fc 100->10    (logits)

    The original applied the fc dropout before the ReLU; ReLU(dropout(z)) ==
    dropout(ReLU(z)) because dropout only zeroes or scales by a positive factor.
    """

    def __init__(self, n_classes: int = 10, dropout: float = 0.5,
                 conv: Callable[[int, int, int], nn.Module] | None = None, *,
                 channels: Sequence[int] = (32, 64), fc_units: int = 100) -> None:
        """``conv(in_channels, out_channels, kernel_size)`` builds each conv layer
        (default ``nn.Conv2d``; :class:`xcorr_lib.nets.atoms.AtomCNN` passes atom convolutions).
        ``channels`` (two conv widths) and ``fc_units`` vary the family (population study);
        the defaults are the paper's."""
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        channels = tuple(int(c) for c in channels)
        if len(channels) != 2 or min(channels) < 1 or int(fc_units) < 1:
            raise ValueError(f"channels must be two positive widths and fc_units positive, got {channels}, {fc_units}")
        conv = conv or (lambda c_in, c_out, k: nn.Conv2d(c_in, c_out, kernel_size=k))
        self.n_classes = int(n_classes)
        self.dropout_p = float(dropout)
        self.channels, self.fc_units = channels, int(fc_units)
        self.conv0 = conv(1, channels[0], 3)
        self.pool0 = nn.MaxPool2d(2)
        self.relu0 = nn.ReLU()
        self.conv1 = conv(channels[0], channels[1], 3)
        self.drop1 = nn.Dropout2d(dropout)
        self.pool1 = nn.MaxPool2d(2)
        self.relu1 = nn.ReLU()
        self.fc = nn.Linear(channels[1] * 5 * 5, self.fc_units)
        self.fc_relu = nn.ReLU()
        self.fc_drop = nn.Dropout(dropout)
        self.out = nn.Linear(self.fc_units, n_classes)

    @property
    def spec(self) -> dict[str, Any]:
        """Everything that defines the architecture (used in checkpoint keys; the paper's
        widths are left out, so its checkpoints keep their keys)."""
        spec: dict[str, Any] = {"arch": "CNN", "n_classes": self.n_classes, "dropout": self.dropout_p}
        if (self.channels, self.fc_units) != ((32, 64), 100):
            spec.update(channels=list(self.channels), fc_units=self.fc_units)
        return spec

    def unit_modules(self) -> dict[str, int]:
        """Hidden-unit modules: the ReLU closing each conv block -> depth 0, 1."""
        return {"relu0": 0, "relu1": 1}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_images(x)
        x = self.relu0(self.pool0(self.conv0(x)))
        x = self.relu1(self.pool1(self.drop1(self.conv1(x))))
        x = self.fc_drop(self.fc_relu(self.fc(x.flatten(1))))
        return self.out(x)


def _check_net4(net4: str) -> str:
    if net4 not in NET4_VARIANTS:
        raise ValueError(f"net4 must be one of {NET4_VARIANTS}, got {net4!r}")
    return net4


def fcn_hidden(name: str, net4: Net4Variant = "paper") -> list[int]:
    """Hidden sizes of FCN ``name`` ("Net1".."Net5") under the given Net4 variant."""
    spec = FCN_SPECS[_check_net4(net4)]
    if name not in spec:
        raise ValueError(f"unknown FCN {name!r}; valid names: {', '.join(FCN_NAMES)}")
    return list(spec[name])


def make_fcn(name: str, net4: Net4Variant = "paper") -> FCN:
    """One of the five FCNs of Table 1 (randomly initialised from the global torch RNG)."""
    return FCN(fcn_hidden(name, net4))


def make_cnn() -> CNN:
    """The paper's two-layer CNN (randomly initialised from the global torch RNG)."""
    return CNN()


def make_model(name: str, *, net4: Net4Variant = "paper", seed: int | None = None) -> nn.Module:
    """Build "Net1".."Net5" or "CNN".

    Parameters
    ----------
    name : str
        Model name; an unknown name raises a ValueError listing the valid ones.
    net4 : {"paper", "original"}
        Which hidden sizes Net4 gets ([196, 392] or [50, 50]); ignored for other nets.
    seed : int, optional
        When given, the initial weights are drawn from ``torch.manual_seed(seed)``
        inside a forked RNG (the caller's global RNG state is left untouched), so
        the same seed gives the same initial weights.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    _check_net4(net4)

    def build() -> nn.Module:
        return make_cnn() if name == "CNN" else make_fcn(name, net4)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def model_spec(name: str, net4: Net4Variant = "paper") -> dict[str, Any]:
    """The architecture spec of a named model (what a checkpoint key records)."""
    spec: dict[str, Any] = make_model(name, net4=net4, seed=0).spec
    return spec
