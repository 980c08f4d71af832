"""Input checks shared by :mod:`xcorr_lib.score.correlation` (internal).

Every check raises ``ValueError`` with a message that names the argument, what was
expected and what was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xcorr_lib.common import devices


def as_acts(x: Any, name: str) -> torch.Tensor:
    try:
        t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a numeric numpy array or torch tensor: {exc}") from exc
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (M probes, N units), got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {t.dtype}")
    return t


def nonfinite_error(t: torch.Tensor, name: str) -> ValueError:
    """The error for activations with NaN or Inf values (found while standardizing)."""
    n_nan, n_inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
    return ValueError(f"{name} contains {n_nan} NaN and {n_inf} Inf values (of {t.numel()}); clean them before correlating")


def as_layers(x: Any, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one depth id per unit), got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ValueError(f"{name} must hold integer depth ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    table = {None: torch.float32, "float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32, torch.float64: torch.float64}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; valid: torch.float32 (default), torch.float64")
    return table[dtype]


def resolve_device(device: str | torch.device | None) -> torch.device:
    dev = devices.torch_device("cpu" if device is None else device)
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device {str(dev)!r} cannot be used: {exc}") from exc
    return dev
