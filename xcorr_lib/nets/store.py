"""Activations stored once per model and probe set, read lazily (memory-mapped ``.npy``).

``results/activations/<stem>-<key>.npy`` holds a model's hidden units on a probe set
(M, N) float32 and ``...-layers.npy`` their depth ids; ``key`` hashes the model's weights
(:func:`model_fingerprint`), the probe images and a non-CPU device the capture ran on,
so another model, probe set or device never
reads a stale file. Files are written atomically; :func:`xcorr_lib.score.pairs.pair_matrix`
takes the paths and opens them memory-mapped inside each tile.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xcorr_lib.common import devices
from xcorr_lib.common.fingerprints import model_fingerprint
from xcorr_lib.common.provenance import atomic_write, results_dir
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.hooks import model_device

__all__ = ["probe_hash", "stored_acts"]


def probe_hash(probe: Any) -> str:
    x = np.ascontiguousarray(np.asarray(probe.cpu() if isinstance(probe, torch.Tensor) else probe, dtype=np.float32))
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(x.shape).encode())
    h.update(x.tobytes())
    return h.hexdigest()


def stored_acts(model: nn.Module, probe: Any, *, stem: str, folder: Path | None = None,
                probe_key: str | None = None, device: Any = None) -> tuple[Path, np.ndarray]:
    """``(path to acts (M, N) .npy, layers (N,))`` of ``model``'s hidden units on ``probe``,
    captured once (``model.unit_modules()``) and reused while weights and probes match.

    ``probe_key``: :func:`probe_hash` of ``probe`` when the caller has it (saves hashing
    the probe set once per model); ``device``: where the capture runs (default: where the model is)."""
    folder = Path(folder) if folder is not None else results_dir() / "activations"
    dev = devices.torch_device(device) if device is not None else model_device(model)
    key = f"{model_fingerprint(model)[:16]}-{probe_key or probe_hash(probe)}" + ("" if dev.type == "cpu" else f"-{dev.type}")
    acts_path, layers_path = folder / f"{stem}-{key}.npy", folder / f"{stem}-{key}-layers.npy"
    if acts_path.is_file() and layers_path.is_file():
        return acts_path, np.load(layers_path)
    acts, layers = capture_all({stem: model}, probe, device=dev)[stem]
    atomic_write(layers_path, lambda tmp: np.save(tmp, layers))  # layers first: acts present means both are
    atomic_write(acts_path, lambda tmp: np.save(tmp, acts))
    return acts_path, layers
