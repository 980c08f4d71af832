"""Predictions and accuracy: the one predict loop every study uses.

- :func:`predict_logits`, :func:`predict`, :func:`evaluate`: eval mode for the pass (the
  model's mode restored after), no gradients, batches on the model's device;
- :func:`predict_labels`: the same as a CPU int64 tensor (for interventions);
- :func:`accuracy_rows`: clean test accuracy and architecture facts of several models.

Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = ["as_tensors", "predict_logits", "predict", "predict_labels", "evaluate", "accuracy_rows"]


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
    """Logits (N, n_classes) on CPU, computed in eval mode (training mode restored after)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    Xt, _ = as_tensors(X)
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model(Xt[s:s + batch_size].to(dev)).cpu() for s in range(0, len(Xt), batch_size)]
    finally:
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


def accuracy_rows(models: Mapping[str, nn.Module], X_test: Any, y_test: Any) -> pd.DataFrame:
    """Columns net, hidden, n_params, test_acc (in [0, 1]), final valid_acc and epochs."""
    rows = []
    for name, m in models.items():
        hist = getattr(m, "train_history_", None)
        rows.append({"net": name, "hidden": str(list(m.hidden)) if hasattr(m, "hidden") else "conv",
                     "n_params": sum(p.numel() for p in m.parameters()),
                     "test_acc": evaluate(m, X_test, y_test),
                     "valid_acc": float(hist["valid_acc"].iloc[-1]) if hist is not None else np.nan,
                     "epochs": int(len(hist)) if hist is not None else np.nan})
    return pd.DataFrame(rows)
