"""Linear model stitching: the classic baseline beside Model Alignment Search.

A free affine map ``S(h) = W h + b`` (``nn.Linear(n_a, n_b)``) takes model A's layer
output on an input ``x`` and replaces model B's layer output on the same ``x``; B finishes
its forward pass. Only ``S`` is trained (both models frozen), by cross-entropy on B's
output against the class of ``x`` (true label, or A's prediction with
``counterfactual="source"``). Stitching accuracy on held-out inputs is the similarity.

Unlike MAS, the map is neither orthogonal nor restricted to a d-dimensional subspace, so it
can exploit directions of B's layer that B does not normally use. Use the same ``steps``
and ``batch_size`` as the MAS run for the same data budget.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from xcorr_lib.common.checks import check_option, check_positive_ints
from xcorr_lib.measures.mas import COUNTERFACTUALS, Counterfactual
from xcorr_lib.nets.evaluate import predict_labels
from xcorr_lib.nets.hooks import as_inputs, as_labels, frozen, get_module, layer_output, model_device, replace_output


def stitch(model_a: nn.Module, layer_a: str, model_b: nn.Module, layer_b: str,
           X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
           X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *,
           steps: int = 1000, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
           counterfactual: Counterfactual = "true", progress: bool = True) -> float:
    """Train a linear stitch from A's ``layer_a`` into B's ``layer_b``; return its test accuracy.

    Parameters
    ----------
    model_a, layer_a : source model and the module whose flattened output (n_a units) is read.
    model_b, layer_b : target model and the module whose output (n_b units) is replaced.
    X_train, y_train : training inputs (N, ...) and integer labels (N,).
    X_test, y_test : held-out inputs and labels for the accuracy.
    steps, batch_size, lr, seed : Adam steps, inputs per step, learning rate, seed (init
        of the map and the batch draws).
    counterfactual : "true" (labels) or "source" (A's predictions) as training and
        scoring targets.

    Returns
    -------
    float in [0, 1]: fraction of test inputs where stitched B outputs the target class.
    """
    check_option("counterfactual", counterfactual, COUNTERFACTUALS)
    check_positive_ints(steps=steps, batch_size=batch_size)
    get_module(model_a, layer_a)
    get_module(model_b, layer_b)
    device = model_device(model_b)
    Xtr, Xte = as_inputs(X_train, device), as_inputs(X_test, device)
    ytr, yte = as_labels(y_train, len(Xtr)), as_labels(y_test, len(Xte))
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    with frozen([model_a, model_b]):
        if counterfactual == "source":
            ytr, yte = predict_labels(model_a, Xtr, batch_size=1024), predict_labels(model_a, Xte, batch_size=1024)
        n_a = layer_output(model_a, layer_a, Xtr[:2]).shape[1]
        n_b = layer_output(model_b, layer_b, Xtr[:2]).shape[1]
        link = nn.Linear(n_a, n_b)
        bound = 1.0 / np.sqrt(n_a)
        with torch.no_grad():  # PyTorch's default init range, drawn from our generator
            link.weight.copy_(torch.rand(n_b, n_a, generator=gen) * 2 * bound - bound)
            link.bias.copy_(torch.rand(n_b, generator=gen) * 2 * bound - bound)
        link.to(device)
        opt = torch.optim.Adam(link.parameters(), lr=lr)
        bar = tqdm(range(steps), desc="stitch", disable=not progress, leave=False)
        for step in bar:
            idx = rng.integers(0, len(Xtr), batch_size)
            x = Xtr[idx]
            with torch.no_grad():
                h_a = layer_output(model_a, layer_a, x)
            with replace_output(model_b, layer_b, lambda _h: link(h_a)):
                loss = nn.functional.cross_entropy(model_b(x), ytr[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        hits = 0
        with torch.no_grad():
            for i in range(0, len(Xte), 1024):
                x = Xte[i:i + 1024]
                h_a = layer_output(model_a, layer_a, x)
                with replace_output(model_b, layer_b, lambda _h: link(h_a)):
                    hits += int((model_b(x).argmax(1).cpu() == yte[i:i + 1024]).sum())
    return hits / len(Xte)


def stitch_table(models: Mapping[str, nn.Module], layers: Mapping[str, str],
                 X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
                 X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *,
                 pairs: Sequence[tuple[str, str]] | None = None, steps: int = 1000,
                 batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                 counterfactual: Counterfactual = "true", progress: bool = True) -> pd.DataFrame:
    """Stitching accuracy of every ordered pair of different models (or the given pairs).

    Returns columns source, target, stitch_acc (one row per ordered pair).
    """
    names = list(models)
    if set(names) != set(layers):
        raise ValueError(f"models and layers need the same keys, got {sorted(models)} "
                         f"and {sorted(layers)}")
    pairs = [(a, b) for a in names for b in names if a != b] if pairs is None else list(pairs)
    rows = [{"source": a, "target": b,
             "stitch_acc": stitch(models[a], layers[a], models[b], layers[b], X_train, y_train,
                                  X_test, y_test, steps=steps, batch_size=batch_size, lr=lr,
                                  seed=seed, counterfactual=counterfactual, progress=progress)}
            for a, b in pairs]
    return pd.DataFrame(rows, columns=["source", "target", "stitch_acc"])
