"""Filter-subspace similarity: compare models by their filter atoms, with no probe data.

The third related measure of SPEC section 6 ("inner product-based neural network
similarity"). Conv filters are written as shared coefficients times per-model atoms
(:class:`xcorr_lib.atoms.AtomConv2d`). The recipe:

1. :func:`train_shared` trains an :class:`~xcorr_lib.atoms.AtomCNN` (coefficients,
   atoms, biases, head) on a base task;
2. :func:`finetune_atoms` copies it and trains ONLY the atoms on another task
   (another dataset, a class subset, another seed). Coefficients and conv biases stay
   bitwise identical to the base's; the fully connected head stays frozen too unless
   ``train_head=True`` (it does not change the conv units that probe-based measures see);
3. :func:`atom_similarity` compares two such models: the cosine similarity of their
   flattened atoms, per conv layer, and the mean over layers.

Why the coefficients must be shared: the model depends on atoms and coefficients only
through their product, so for any invertible R (m x m), atoms R^-1 A with coefficients
alpha R give the same network but different atoms. Only when the coefficients are
identical do equal atoms mean equal filters, and the cosine between atoms is a cosine
between the models' filter banks in the coordinates of one shared subspace.
:func:`atom_similarity` therefore raises :class:`SharedCoefficientsError` unless the
coefficients are bitwise identical (``require_shared=False`` only checks shapes).

Training is deterministic given ``seed`` (initial weights from ``torch.manual_seed`` in a
forked RNG, batches and dropout as :func:`xcorr_lib.training.train`); ``cache=True``
stores the weights under ``results/checkpoints/`` keyed by a hash of everything that
determines them (settings, data bytes and, for fine-tuning, the base model's weights).

Example
-------
>>> import numpy as np
>>> X = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
>>> y = np.arange(64) % 10
>>> base = train_shared(X, y, n_atoms=4, epochs=1, seed=0, progress=False)
>>> tuned = finetune_atoms(base, X[::-1].copy(), y, epochs=1, seed=1, progress=False)
>>> mean, per_layer = atom_similarity(base, tuned)
>>> sorted(per_layer), 0.0 < mean <= 1.0
(['conv0', 'conv1'], True)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from xcorr_lib import provenance
from xcorr_lib.atoms import AtomCNN, AtomConv2d, make_atom_cnn
from xcorr_lib.fingerprints import data_fingerprint, model_fingerprint
from xcorr_lib.training import Recipe, train

__all__ = [
    "SharedCoefficientsError", "atom_similarity", "finetune_atoms", "model_fingerprint",
    "similarity_matrix", "train_shared",
]

CHECKPOINT_FORMAT = 1


class SharedCoefficientsError(ValueError):
    """Two models do not share the coefficient structure that atom similarity needs."""


# ----------------------------------------------------------------------------- similarity
def _atom_layers(model: nn.Module) -> dict[str, AtomConv2d]:
    layers = {name or "<root>": m for name, m in model.named_modules() if isinstance(m, AtomConv2d)}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no AtomConv2d layer; atom similarity needs "
                         "atom-decomposed convolutions (xcorr_lib.atoms)")
    return layers


def atom_similarity(model_a: nn.Module, model_b: nn.Module, *,
                    require_shared: bool = True) -> tuple[float, dict[str, float]]:
    """Cosine similarity of two models' filter atoms, per conv layer and averaged.

    Takes no probe data: the value depends on the weights only.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Models holding :class:`~xcorr_lib.atoms.AtomConv2d` layers with the same names
        and shapes (e.g. two :class:`~xcorr_lib.atoms.AtomCNN` from one base).
    require_shared : bool
        True (default): the coefficients of every layer must be bitwise identical
        (models fine-tuned from one base with :func:`finetune_atoms`); otherwise only
        the shapes must agree and the value is no longer a model similarity (see the
        module docstring).

    Returns
    -------
    mean : float in [-1, 1]
        Unweighted mean over layers of the per-layer values.
    per_layer : dict layer name -> float in [-1, 1]
        ``<vec(A_a), vec(A_b)> / (||vec(A_a)|| ||vec(A_b)||)`` with ``A`` the layer's
        atoms (m, k, k) flattened to m * k * k numbers, computed in float64.

    Raises
    ------
    SharedCoefficientsError
        Different layer names, atom or coefficient shapes, or (``require_shared``)
        coefficients that are not identical.
    ValueError
        A model without atom layers, or atoms that are all zero.
    """
    la, lb = _atom_layers(model_a), _atom_layers(model_b)
    if list(la) != list(lb):
        raise SharedCoefficientsError(f"the models have different atom layers: {list(la)} vs {list(lb)}")
    per_layer: dict[str, float] = {}
    for name in la:
        a, b = la[name], lb[name]
        if a.atoms.shape != b.atoms.shape or a.coefficients.shape != b.coefficients.shape:
            raise SharedCoefficientsError(
                f"layer {name!r}: atoms {tuple(a.atoms.shape)} vs {tuple(b.atoms.shape)}, coefficients "
                f"{tuple(a.coefficients.shape)} vs {tuple(b.coefficients.shape)}; shapes must agree")
        if require_shared and not torch.equal(a.coefficients.detach().cpu(), b.coefficients.detach().cpu()):
            diff = float((a.coefficients.detach().cpu() - b.coefficients.detach().cpu()).abs().max())
            raise SharedCoefficientsError(
                f"layer {name!r}: the coefficients differ (max |difference| {diff:.3g}); atom similarity "
                "needs models fine-tuned from one base with atom-only training (finetune_atoms). "
                "Pass require_shared=False to compare atoms anyway")
        va = a.atoms.detach().cpu().to(torch.float64).flatten()
        vb = b.atoms.detach().cpu().to(torch.float64).flatten()
        na, nb = float(va.norm()), float(vb.norm())
        if na == 0.0 or nb == 0.0:
            raise ValueError(f"layer {name!r}: all atoms are zero in one model; cosine undefined")
        per_layer[name] = float(np.clip(float(va @ vb) / (na * nb), -1.0, 1.0))
    return float(np.mean(list(per_layer.values()))), per_layer


def similarity_matrix(models: Mapping[str, nn.Module]) -> pd.DataFrame:
    """:func:`atom_similarity` (mean over layers) of every pair of models: a symmetric
    DataFrame (names x names) with 1 on the diagonal."""
    names = list(models)
    mat = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            mat.loc[a, b] = mat.loc[b, a] = atom_similarity(models[a], models[b])[0]
    return mat


# ----------------------------------------------------------------------------- training

def _recipe(epochs: int, lr: float, batch_size: int) -> Recipe:
    return Recipe(optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, val_fraction=0.0,
                  shuffle=True)


def _cached(key: Mapping[str, Any], template: Callable[[], AtomCNN], build: Callable[[], AtomCNN],
            cache: bool) -> AtomCNN:
    """Load the model for ``key`` from ``results/checkpoints`` or build (and save) it."""
    if not cache:
        return build()
    full = json.loads(json.dumps(dict(key), sort_keys=True, default=str))
    digest = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:20]
    path = provenance.checkpoints_dir() / f"AtomCNN-{full['kind']}-{digest}.pt"
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("key") == full:
                model = template()
                model.load_state_dict(saved["state_dict"])
                model.train_history_ = pd.DataFrame(saved["history"])  # type: ignore[assignment]
                model.checkpoint_path_ = path  # type: ignore[assignment]
                return model.eval()
            warnings.warn(f"checkpoint {path.name} has a different key; retraining", stacklevel=3)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file must not stop the run
            warnings.warn(f"could not read checkpoint {path.name} ({exc}); retraining", stacklevel=3)
    model = build()
    history = model.train_history_  # type: ignore[attr-defined]
    payload = {"key": full, "state_dict": model.state_dict(),
               "history": {c: history[c].tolist() for c in history.columns}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    model.checkpoint_path_ = path  # type: ignore[assignment]
    return model


def train_shared(X: Any, y: Any, *, n_atoms: int = 6, epochs: int = 3, lr: float = 0.002,
                 batch_size: int = 128, seed: int = 0, cache: bool = False, progress: bool = True,
                 device: str | torch.device | None = None) -> AtomCNN:
    """Train an :class:`~xcorr_lib.atoms.AtomCNN` (every parameter) on a base task.

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
           "recipe": recipe.as_dict(), "seed": int(seed), "data": data_fingerprint(X, y)}
    return _cached(key, lambda: AtomCNN(n_atoms=n_atoms), build, cache)


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
           "train_head": bool(train_head), "data": data_fingerprint(X, y)}
    return _cached(key, template, build, cache)
