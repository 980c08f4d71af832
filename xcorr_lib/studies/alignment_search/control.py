"""The untrained-network control for Model Alignment Search (a sanity check in the spirit of
Adebayo et al. 2018's randomisation tests, and of the random-network check of Geiger et al.'s
distributed alignment search).

A trained network ``A`` is aligned with ``U``, a copy of its architecture with freshly
initialised (untrained) weights. ``U`` has not learned the task, so a causal similarity should
call the pair dissimilar. What MAS reports, per direction (tests/test_mas.py measures it):

- ``U -> U`` (U's own aligned subspace) is near chance: U has no class variable of its own.
- ``U -> A`` is near chance for small d: U's random features hold only a little class
  information in a form a few rotated directions can hand to A's read-out.
- ``A -> U`` can be far above chance: the learned rotation of U steers U's random read-out
  with A's class information (the expressiveness caveat of alignment search).

All three grow with d, the more so the wider the layer (notebook 06 shows it on a 100-unit
layer), as Geiger et al. saw IIA on random networks creep upward with the hidden size.

So the pair summary to read is the *bidirectional* IIA, ``min(A -> U, U -> A)`` (both
networks must be able to take over each other's decision), against d and against the same
number for pairs of trained networks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from xcorr_lib.measures.mas import mas_pair
from xcorr_lib.nets.twins import untrained_twin


CONTROL_COLUMNS = ("subspace_dim", "iia_a_to_u", "iia_u_to_a", "iia_a_to_a", "iia_u_to_u",
                   "iia_min", "seed")


def untrained_copy(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` (same modules, device, mode) with every parameter re-initialised:
    :func:`xcorr_lib.nets.twins.untrained_twin` (the paper's nets rebuilt from their spec, other
    modules reset with ``reset_parameters()``; the global RNG state is left as it was), in the
    training mode of ``model``. Raises ValueError when it cannot re-initialise every parameter."""
    return untrained_twin(model, seed=seed).train(model.training)


def pair_iia(iia_a_to_b: float, iia_b_to_a: float) -> float:
    """Bidirectional IIA of a pair: the smaller direction (both must transfer the decision)."""
    return min(iia_a_to_b, iia_b_to_a)


def untrained_control(model: nn.Module, layer: str, X_train: np.ndarray | torch.Tensor,
                      y_train: np.ndarray | torch.Tensor, X_test: np.ndarray | torch.Tensor,
                      y_test: np.ndarray | torch.Tensor, *, dims: Sequence[int], steps: int,
                      batch_size: int = 128, lr: float = 1e-2, seed: int = 0,
                      n_pairs: int | None = None, progress: bool = True) -> pd.DataFrame:
    """MAS between ``model`` and its untrained copy at every d in ``dims``.

    The copy is :func:`untrained_copy` (seed ``seed``), aligned at the same ``layer``; each d
    is one :func:`xcorr_lib.measures.mas.mas_pair` (true-label counterfactual, label-differing pairs).
    Returns one row per d with columns :data:`CONTROL_COLUMNS` (IIAs in [0, 1]; chance is
    1/n_classes); ``iia_min`` is :func:`pair_iia`.
    """
    if not dims:
        raise ValueError("dims is empty: give at least one subspace size")
    untrained = untrained_copy(model, seed)
    rows = []
    for d in dims:
        out = mas_pair(model, layer, untrained, layer, X_train, y_train, X_test, y_test, d=d,
                       steps=steps, batch_size=batch_size, lr=lr, seed=seed, n_pairs=n_pairs,
                       progress=progress)
        rows.append({"subspace_dim": int(d), "iia_a_to_u": out["iia_a_to_b"],
                     "iia_u_to_a": out["iia_b_to_a"], "iia_a_to_a": out["iia_a_to_a"],
                     "iia_u_to_u": out["iia_b_to_b"],
                     "iia_min": pair_iia(out["iia_a_to_b"], out["iia_b_to_a"]), "seed": seed})
    return pd.DataFrame(rows, columns=list(CONTROL_COLUMNS))
