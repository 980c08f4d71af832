"""Atom-decomposed convolutions: filters = shared coefficients x per-model filter atoms.

A convolution with ``out`` output and ``in`` input channels and k x k kernels has
``out * in`` filters. Here every filter is a linear combination of ``m`` small k x k
*filter atoms* shared by the whole layer (the "filter subspace" of inner product-based neural network similarity)::

    weight[o, i, :, :] = sum_m alpha[o, i, m] * atom[m, :, :]

``alpha`` (out, in, m), the *coefficients*, carry almost all of the layer's parameters;
the atoms (m, k, k) only m * k * k. Training the coefficients once on a base task and
then fine-tuning only the atoms per task gives a family of models that differ in their
atoms alone, so comparing two models reduces to comparing their atoms
(:func:`xcorr_lib.measures.filter_subspace.atom_similarity`).

:class:`AtomCNN` is the paper's two-layer CNN (:class:`xcorr_lib.nets.models.CNN`) with both
convolutions replaced by :class:`AtomConv2d`; same shapes, same unit layers.

Example
-------
>>> import torch
>>> layer = AtomConv2d(1, 4, kernel_size=3, n_atoms=2)
>>> tuple(layer.atoms.shape), tuple(layer.coefficients.shape), tuple(layer.weight.shape)
((2, 3, 3), (4, 1, 2), (4, 1, 3, 3))
>>> layer(torch.zeros(5, 1, 8, 8)).shape
torch.Size([5, 4, 6, 6])
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from xcorr_lib.common.checks import check_positive_int
from xcorr_lib.common.fingerprints import data_fingerprint, model_fingerprint
from xcorr_lib.nets.checkpoints import cached_model
from xcorr_lib.nets.models import CNN
from xcorr_lib.nets.training import Recipe, training_conditions, train

__all__ = ["AtomConv2d", "AtomCNN", "compose_weight", "make_atom_cnn", "train_shared", "finetune_atoms"]


def compose_weight(coefficients: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """Conv weight from coefficients and atoms.

    Parameters
    ----------
    coefficients : tensor (out, in, m)
    atoms : tensor (m, k, k)

    Returns
    -------
    tensor (out, in, k, k): ``weight[o, i] = sum_m coefficients[o, i, m] * atoms[m]``.
    """
    if coefficients.ndim != 3 or atoms.ndim != 3 or coefficients.shape[2] != atoms.shape[0]:
        raise ValueError(f"need coefficients (out, in, m) and atoms (m, k, k) with the same m; "
                         f"got {tuple(coefficients.shape)} and {tuple(atoms.shape)}")
    return torch.einsum("oim,mhw->oihw", coefficients, atoms)


class AtomConv2d(nn.Module):
    """2-D convolution whose filters are combinations of ``n_atoms`` shared k x k atoms.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Square kernels k x k.
    n_atoms : int
        Atoms m per layer (m <= k * k keeps the atoms linearly independent at init).
    bias : bool
        Add a learned bias per output channel (as ``nn.Conv2d``).
    stride, padding : int
        As for ``F.conv2d``.

    Attributes
    ----------
    atoms : Parameter (m, k, k)
        Initialised orthonormal (as flattened vectors) when m <= k * k.
    coefficients : Parameter (out, in, m)
        Initialised uniformly so that the composed weight has the variance of
        ``nn.Conv2d``'s default initialisation (1 / (3 * in * k * k)).
    bias : Parameter (out,) or None

    Forward: (B, in, H, W) -> (B, out, H', W'), exactly ``F.conv2d(x, self.weight, ...)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_atoms: int, *,
                 bias: bool = True, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.n_atoms = check_positive_int("n_atoms", n_atoms)
        self.stride = check_positive_int("stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
        self.padding = padding
        k, m = self.kernel_size, self.n_atoms
        self.atoms = nn.Parameter(torch.empty(m, k, k))
        self.coefficients = nn.Parameter(torch.empty(self.out_channels, self.in_channels, m))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw fresh atoms, coefficients and bias from the global torch RNG."""
        k, m = self.kernel_size, self.n_atoms
        raw = torch.randn(k * k, max(m, 1))
        if m <= k * k:
            q, _ = torch.linalg.qr(raw)  # (k*k, m), orthonormal columns
            atoms = q.T
        else:  # more atoms than pixels: unit-norm random atoms
            atoms = (raw / raw.norm(dim=0, keepdim=True)).T
        self.atoms.copy_(atoms.reshape(m, k, k))
        # var(w) = m * var(alpha) * (1 / k^2) = 1 / (3 * fan_in)  =>  bound = 1 / sqrt(m * in)
        bound = 1.0 / math.sqrt(m * self.in_channels)
        self.coefficients.uniform_(-bound, bound)
        if self.bias is not None:
            fan_in = self.in_channels * k * k
            self.bias.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))

    @property
    def weight(self) -> torch.Tensor:
        """The composed conv weight (out, in, k, k) (differentiable)."""
        return compose_weight(self.coefficients, self.atoms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"n_atoms={self.n_atoms}, stride={self.stride}, padding={self.padding}, "
                f"bias={self.bias is not None}")


class AtomCNN(CNN):
    """The paper's two-layer CNN with atom-decomposed convolutions.

    conv 1->32 k3 (atoms), maxpool 2, ReLU             (block 0: 32x13x13 = 5408 units)
    conv 32->64 k3 (atoms), dropout2d, maxpool 2, ReLU (block 1: 64x5x5 = 1600 units)
    fc 1600->100, ReLU, dropout; fc 100->10            (logits)

    Same module names as :class:`xcorr_lib.nets.models.CNN` (``conv0``, ``relu0``, ...), so
    ``unit_modules()`` is ``{"relu0": 0, "relu1": 1}`` as there.

    Parameters
    ----------
    n_atoms : int
        Atoms per conv layer (the same m for both layers).
    n_classes : int
    dropout : float in [0, 1)
    """

    conv_names: tuple[str, ...] = ("conv0", "conv1")
    head_names: tuple[str, ...] = ("fc", "out")

    def __init__(self, n_atoms: int = 6, n_classes: int = 10, dropout: float = 0.5) -> None:
        n_atoms = check_positive_int("n_atoms", n_atoms)
        super().__init__(check_positive_int("n_classes", n_classes), dropout,
                         conv=lambda c_in, c_out, k: AtomConv2d(c_in, c_out, k, n_atoms))
        self.n_atoms = n_atoms

    @property
    def spec(self) -> dict[str, Any]:
        """Everything that defines the architecture (used in checkpoint keys)."""
        return {"arch": "AtomCNN", "n_atoms": self.n_atoms, "n_classes": self.n_classes,
                "dropout": self.dropout_p}

    def atom_layers(self) -> dict[str, AtomConv2d]:
        """The atom-decomposed convolutions by module name (``conv0``, ``conv1``)."""
        return {name: getattr(self, name) for name in self.conv_names}

    def atom_parameters(self) -> Iterator[nn.Parameter]:
        """The atoms of every conv layer (what atom-only fine-tuning trains)."""
        for layer in self.atom_layers().values():
            yield layer.atoms

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Weights and biases of the two fully connected layers."""
        for name in self.head_names:
            yield from getattr(self, name).parameters()

    def freeze_all_but_atoms(self, *, train_head: bool = False) -> "AtomCNN":
        """Set ``requires_grad`` so only the atoms (and optionally the head) are trained.

        Coefficients and conv biases are frozen (and the fully connected head too unless
        ``train_head``). Optimizers skip parameters without gradients, so frozen
        parameters stay bitwise unchanged. Returns ``self``.
        """
        for p in self.parameters():
            p.requires_grad_(False)
        for p in self.atom_parameters():
            p.requires_grad_(True)
        if train_head:
            for p in self.head_parameters():
                p.requires_grad_(True)
        return self

    def unfreeze(self) -> "AtomCNN":
        """Make every parameter trainable again. Returns ``self``."""
        for p in self.parameters():
            p.requires_grad_(True)
        return self


def make_atom_cnn(n_atoms: int = 6, *, seed: int | None = None) -> AtomCNN:
    """An :class:`AtomCNN`; with ``seed``, its initial weights come from
    ``torch.manual_seed(seed)`` in a forked RNG (the caller's global RNG is untouched)."""
    if seed is None:
        return AtomCNN(n_atoms=n_atoms)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return AtomCNN(n_atoms=n_atoms)


CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------- training (cached)

def _recipe(epochs: int, lr: float, batch_size: int) -> Recipe:
    return Recipe(optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, val_fraction=0.0,
                  shuffle=True)


def train_shared(X: Any, y: Any, *, n_atoms: int = 6, epochs: int = 3, lr: float = 0.002,
                 batch_size: int = 128, seed: int = 0, cache: bool = False, progress: bool = True,
                 device: str | torch.device | None = None) -> AtomCNN:
    """Train an :class:`~xcorr_lib.nets.atoms.AtomCNN` (every parameter) on a base task.

    Parameters
    ----------
    X : array or tensor (N, 28, 28), float32 in [0, 1]
    y : array or tensor (N,), int labels in 0..9
    n_atoms : int
        Atoms per conv layer.
    epochs, lr, batch_size : training recipe (Adam, batches reshuffled every epoch,
        no validation hold-out).
    seed : int
        Initial weights (``torch.manual_seed(seed)`` in a forked RNG), batch order and
        dropout masks.
    cache : bool
        Load from / save to ``results/checkpoints/AtomCNN-shared-<hash>.pt``.
    progress : bool
        tqdm bar over epochs (stderr).

    Returns
    -------
    AtomCNN on CPU in eval mode with ``train_history_`` (DataFrame: epoch, train_loss, ...).
    """
    recipe = _recipe(epochs, lr, batch_size)

    def build() -> AtomCNN:
        model = make_atom_cnn(n_atoms, seed=seed)
        model.train_history_ = train(model, X, y, recipe, seed=seed, progress=progress,  # type: ignore[assignment]
                                     device=device, desc=f"shared (m={n_atoms})")
        return model.cpu().eval()

    key = {"format": CHECKPOINT_FORMAT, "kind": "shared", "spec": AtomCNN(n_atoms=n_atoms).spec,
           "recipe": recipe.as_dict(), "seed": int(seed), "data": data_fingerprint(X, y), **training_conditions(device)}
    return cached_model(key, "AtomCNN-shared", lambda: AtomCNN(n_atoms=n_atoms), build) if cache else build()


def finetune_atoms(base_model: AtomCNN, X: Any, y: Any, *, epochs: int = 2, lr: float = 0.01,
                   batch_size: int = 128, seed: int = 0, train_head: bool = False,
                   cache: bool = False, progress: bool = True, desc: str | None = None,
                   device: str | torch.device | None = None) -> AtomCNN:
    """A copy of ``base_model`` with only its atoms trained on (X, y).

    The coefficients and conv biases of the copy are bitwise identical to the base's;
    so is the fully connected head unless ``train_head``. The base is not modified.

    Parameters
    ----------
    base_model : AtomCNN
        Usually from :func:`train_shared`.
    X, y : training data, as for :func:`train_shared`
    epochs, lr, batch_size : Adam recipe for the atoms (batches reshuffled every epoch).
    seed : int
        Batch order and dropout masks.
    train_head : bool
        Also train the two fully connected layers (default False: atom-only).
    cache : bool
        Load from / save to ``results/checkpoints/AtomCNN-finetune-<hash>.pt`` (the key
        includes a hash of the base model's weights).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    AtomCNN on CPU in eval mode (every parameter has ``requires_grad=True`` again).
    """
    if not isinstance(base_model, AtomCNN):
        raise ValueError(f"base_model must be an AtomCNN, got {type(base_model).__name__}")
    recipe = _recipe(epochs, lr, batch_size)

    def template() -> AtomCNN:
        return AtomCNN(n_atoms=base_model.n_atoms, n_classes=base_model.n_classes,
                       dropout=base_model.dropout_p)

    def build() -> AtomCNN:
        model = template()
        model.load_state_dict(copy.deepcopy(base_model.state_dict()))
        model.freeze_all_but_atoms(train_head=train_head)
        try:
            model.train_history_ = train(model, X, y, recipe, seed=seed, progress=progress,  # type: ignore[assignment]
                                         device=device, desc=desc or "atoms")
        finally:
            model.unfreeze()
        return model.cpu().eval()

    key = {"format": CHECKPOINT_FORMAT, "kind": "finetune", "spec": base_model.spec,
           "base": model_fingerprint(base_model), "recipe": recipe.as_dict(), "seed": int(seed),
           "train_head": bool(train_head), "data": data_fingerprint(X, y), **training_conditions(device)}
    return cached_model(key, "AtomCNN-finetune", template, build) if cache else build()
