"""Partial correlation (paper section 3.4): score chosen layers, random units per layer."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xcorr_lib.common.checks import check_positive_int
from xcorr_lib.score import _inputs

__all__ = ["select_units"]


def select_units(
    acts: Any, layers: Any, *, keep_layers: Any = None, per_layer: int | None = None, seed: int = 0
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Partial correlation (paper section 3.4): chosen layers, random units per layer.

    Parameters
    ----------
    acts : numpy.ndarray or torch.Tensor, shape (M, N)
    layers : array-like of int, shape (N,)
    keep_layers : iterable of int, optional
        Layer ids to keep (all layers if None). Every id must occur in ``layers``.
    per_layer : int, optional
        Keep a seeded random subset of this many units from every kept layer. A layer
        with fewer units is kept whole (documented clamp, not an error).
    seed : int
        Seed of ``numpy.random.default_rng``; layers are drawn in increasing id order.

    Returns
    -------
    acts_sub : same type as ``acts``, shape (M, K)
    layers_sub : numpy int64, shape (K,)
    index : numpy int64, shape (K,)
        Columns of ``acts`` that were kept, increasing (original order is preserved).
    """
    lay = _inputs.as_layers(layers, "layers")
    n_units = acts.shape[1] if getattr(acts, "ndim", 0) == 2 else None
    if n_units is None:
        raise ValueError(f"acts must be 2-D (M probes, N units), got shape {tuple(np.shape(acts))}")
    if len(lay) != n_units:
        raise ValueError(f"layers has {len(lay)} entries but acts has {n_units} units (columns)")
    present = np.unique(lay)
    if keep_layers is None:
        chosen = present
    else:
        chosen = np.unique(np.asarray(list(np.atleast_1d(keep_layers)), dtype=np.int64))
        missing = sorted(set(chosen.tolist()) - set(present.tolist()))
        if missing:
            raise ValueError(f"keep_layers {missing} not present; available layers: {present.tolist()}")
    check_positive_int("per_layer", per_layer, allow_none=True)
    rng = np.random.default_rng(seed)
    parts = []
    for layer in chosen:
        idx = np.flatnonzero(lay == layer)
        if per_layer is not None and per_layer < len(idx):
            idx = rng.choice(idx, size=int(per_layer), replace=False)
        parts.append(idx)
    index = np.sort(np.concatenate(parts)).astype(np.int64)
    sub = acts[:, torch.as_tensor(index)] if isinstance(acts, torch.Tensor) else np.asarray(acts)[:, index]
    return sub, lay[index], index
