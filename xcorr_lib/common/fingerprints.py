"""Content hashes for cache keys: the same arrays or weights always give the same key.

Checkpoints (``training.load_or_train``, ``filter_subspace``) and attack caches
(``attack.substitute_attack``) name their files by these hashes, so a cached result is
reused only for exactly the data and initial weights that produced it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import nn


def data_fingerprint(X: Any, y: Any) -> str:
    """Hash of the training arrays (shape, dtype and bytes of float32 X and int64 y)."""
    Xa = np.ascontiguousarray(np.asarray(X.cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float32))
    ya = np.ascontiguousarray(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64))
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((Xa.shape, ya.shape)).encode())
    h.update(Xa.tobytes())
    h.update(ya.tobytes())
    return h.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """Hash of a model's state dict (names, shapes, dtypes and bytes of every tensor)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(model.state_dict().items()):
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        h.update(repr((name, arr.shape, str(arr.dtype))).encode())
        h.update(arr.tobytes())
    return h.hexdigest()
