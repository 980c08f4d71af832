"""Filter-subspace similarity: compare models by their filter atoms, with no probe data.

The third related measure of this field ("inner product-based neural network
similarity"). Conv filters are written as shared coefficients times per-model atoms
(:class:`xcorr_lib.nets.atoms.AtomConv2d`). The recipe:

1. :func:`train_shared` trains an :class:`~xcorr_lib.nets.atoms.AtomCNN` (coefficients,
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
forked RNG, batches and dropout as :func:`xcorr_lib.nets.training.train`); ``cache=True``
stores the weights under ``results/checkpoints/`` keyed by a hash of everything that
determines them (settings, data bytes and, for fine-tuning, the base model's weights).

Example
-------
>>> import numpy as np
>>> from xcorr_lib.nets.atoms import finetune_atoms, train_shared
>>> X = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
>>> y = np.arange(64) % 10
>>> base = train_shared(X, y, n_atoms=4, epochs=1, seed=0, progress=False)
>>> tuned = finetune_atoms(base, X[::-1].copy(), y, epochs=1, seed=1, progress=False)
>>> mean, per_layer = atom_similarity(base, tuned)
>>> sorted(per_layer), 0.0 < mean <= 1.0
(['conv0', 'conv1'], True)
"""

from __future__ import annotations

from typing import Mapping


import numpy as np
import pandas as pd
import torch
from torch import nn

from xcorr_lib.nets.atoms import AtomConv2d

__all__ = ["SharedCoefficientsError", "atom_similarity", "similarity_matrix"]



class SharedCoefficientsError(ValueError):
    """Two models do not share the coefficient structure that atom similarity needs."""


# ----------------------------------------------------------------------------- similarity
def _atom_layers(model: nn.Module) -> dict[str, AtomConv2d]:
    layers = {name or "<root>": m for name, m in model.named_modules() if isinstance(m, AtomConv2d)}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no AtomConv2d layer; atom similarity needs "
                         "atom-decomposed convolutions (xcorr_lib.nets.atoms)")
    return layers


def atom_similarity(model_a: nn.Module, model_b: nn.Module, *,
                    require_shared: bool = True) -> tuple[float, dict[str, float]]:
    """Cosine similarity of two models' filter atoms, per conv layer and averaged.

    Takes no probe data: the value depends on the weights only.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Models holding :class:`~xcorr_lib.nets.atoms.AtomConv2d` layers with the same names
        and shapes (e.g. two :class:`~xcorr_lib.nets.atoms.AtomCNN` from one base).
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
