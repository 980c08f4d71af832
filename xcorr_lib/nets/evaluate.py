"""Predictions and accuracy: the one predict loop every study uses.

- :func:`predict_logits`, :func:`predict`, :func:`evaluate`: eval mode for the pass (the
  model's mode restored after), no gradients, batches on the model's device;
- :func:`predict_labels`: the same as a CPU int64 tensor (for interventions);
- :func:`accuracy_rows`: clean test accuracy and architecture facts of several models;
- :func:`evaluate_attack`, :func:`relative_degradation`: Table 4's clean vs attacked accuracy.

Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from typing import Any, Mapping

import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from xcorr_lib.common import devices
from xcorr_lib.common.checks import check_positive_int
from xcorr_lib.nets.hooks import model_device

__all__ = ["as_tensors", "as_pixel_images", "as_class_labels", "check_labels_fit", "predict_logits", "predict",
           "predict_labels", "evaluate", "accuracy_rows", "relative_degradation", "evaluate_attack"]


def as_tensors(X: Any, y: Any | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``X`` as float32 (N, ...) and ``y`` as int64 (N,) tensors, checked (ValueError naming the problem)."""
    Xt = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if not torch.is_floating_point(Xt):
        raise ValueError(f"X must be floating point with pixels in [0, 1], got dtype {Xt.dtype}")
    Xt = Xt.to(torch.float32)
    if Xt.ndim < 2 or len(Xt) == 0:
        raise ValueError(f"X must be a non-empty batch (N, ...), got shape {tuple(Xt.shape)}")
    if y is None:
        return Xt, None
    yt = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if yt.ndim != 1 or len(yt) != len(Xt):
        raise ValueError(f"y must have shape ({len(Xt)},), got {tuple(yt.shape)}")
    if torch.is_floating_point(yt) or yt.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got dtype {yt.dtype}")
    return Xt, yt.to(torch.int64)


@torch.no_grad()
def predict_logits(model: nn.Module, X: Any, batch_size: int = 1000,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits (N, n_classes) on CPU, computed in eval mode (training mode restored after).

    ``device``: where to run (``"auto"``, ``"cpu"``, ``"cuda"``; default: where the model is);
    the model is moved there for the passes and back afterwards."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    Xt, _ = as_tensors(X)
    home = model_device(model)
    dev = home if device is None else devices.torch_device(device)
    was_training = model.training
    model.eval()
    try:
        model.to(dev)
        out = [model(Xt[s:s + batch_size].to(dev)).cpu() for s in range(0, len(Xt), batch_size)]
    finally:
        model.to(home)
        model.train(was_training)
    return torch.cat(out)


def predict(model: nn.Module, X: Any, batch_size: int = 1000,
            device: str | torch.device | None = None) -> np.ndarray:
    """Predicted class labels, int64 array (N,)."""
    return predict_logits(model, X, batch_size, device).argmax(1).numpy()


def evaluate(model: nn.Module, X: Any, y: Any, batch_size: int = 1000,
             device: str | torch.device | None = None) -> float:
    """Accuracy in [0, 1] of ``model`` on (X, y)."""
    _, yt = as_tensors(X, y)
    assert yt is not None
    return float((predict(model, X, batch_size, device) == yt.numpy()).mean())


def predict_labels(model: nn.Module, X: Any, batch_size: int = 1000) -> torch.Tensor:
    """:func:`predict` as an int64 CPU tensor (N,)."""
    return torch.from_numpy(predict(model, X, batch_size))


def accuracy_rows(models: Mapping[str, nn.Module], X_test: Any, y_test: Any,
                  device: str | torch.device | None = None) -> pd.DataFrame:
    """Columns net, hidden, n_params, test_acc (in [0, 1], computed on ``device``, default where
    each model is), final valid_acc and epochs."""
    rows = []
    for name, m in models.items():
        hist = getattr(m, "train_history_", None)
        rows.append({"net": name, "hidden": str(list(m.hidden)) if hasattr(m, "hidden") else "conv",
                     "n_params": sum(p.numel() for p in m.parameters()),
                     "test_acc": evaluate(m, X_test, y_test, device=device),
                     "valid_acc": float(hist["valid_acc"].iloc[-1]) if hist is not None else np.nan,
                     "epochs": int(len(hist)) if hist is not None else np.nan})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- validators
def as_pixel_images(X: Any, name: str = "X") -> np.ndarray:
    """Images (N, ...) as contiguous float32, pixels checked to lie in [0, 1]."""
    arr = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite pixels")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"{name} pixels must lie in [0, 1], got range [{arr.min()}, {arr.max()}]")
    return arr


def as_class_labels(y: Any, n: int) -> np.ndarray:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) to match the images, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"labels must be >= 0, got {arr.min()}")
    return arr.astype(np.int64)


def check_labels_fit(model: nn.Module, X: np.ndarray, y: np.ndarray) -> None:
    """Raise when a label is not a valid output index of ``model``."""
    was_training, _ = model.training, model.eval()
    with torch.no_grad():
        n_out = model(torch.from_numpy(X[:1]).to(model_device(model))).shape[-1]
    model.train(was_training)
    if y.max() >= n_out:
        raise ValueError(f"label {int(y.max())} is out of range for a model with {n_out} outputs")


# --------------------------------------------------------------------------- Table 4
def relative_degradation(acc_clean: float, acc_attacked: float) -> float:
    """(acc_clean - acc_attacked) / acc_clean; NaN with a warning when acc_clean is 0."""
    if acc_clean == 0:
        warnings.warn("clean accuracy is 0: relative degradation undefined (NaN)", stacklevel=2)
        return float("nan")
    return (acc_clean - acc_attacked) / acc_clean


def evaluate_attack(models: Mapping[str, nn.Module], X: Any, X_adv: Any, y: Any, *,
                    batch_size: int = 1000, device: str | torch.device | None = None) -> pd.DataFrame:
    """Accuracy of each network on clean and attacked images (Table 4), computed on ``device``
    (default: where each model is).

    Parameters
    ----------
    models : {name: model returning logits}; evaluated in eval mode (mode restored).
    X, X_adv : (N, ...) clean and attacked images in [0, 1], same shape; y : (N,) labels.

    Returns
    -------
    DataFrame ``net, acc_clean, acc_attacked`` (fractions) and ``rel_degradation =
    (acc_clean - acc_attacked) / acc_clean`` (the paper's percentage / 100: its
    96.2 -> 73.7 is 0.234).
    """
    X = as_pixel_images(X)
    X_adv = as_pixel_images(X_adv, "X_adv")
    if X.shape != X_adv.shape:
        raise ValueError(f"X and X_adv must have the same shape, got {X.shape} and {X_adv.shape}")
    y = as_class_labels(y, X.shape[0])
    if not models:
        raise ValueError("models is empty; pass {name: model}")
    batch_size = check_positive_int("batch_size", batch_size)
    rows = []
    for name, model in models.items():
        check_labels_fit(model, X, y)
        clean, attacked = evaluate(model, X, y, batch_size, device), evaluate(model, X_adv, y, batch_size, device)
        rows.append({"net": name, "acc_clean": clean, "acc_attacked": attacked,
                     "rel_degradation": relative_degradation(clean, attacked)})
    return pd.DataFrame(rows)
