"""The one cache of trained weights: ``results/checkpoints/<stem>-<hash>.pt``.

A checkpoint is named by a hash of everything that determines the weights (a JSON-able
``key``: architecture, recipe, seed, data fingerprint, ...) and stores that key, the state
dict and the training history. :func:`cached_model` loads it when the stored key matches,
else builds the model (trains it) and writes the file atomically (a temporary file in the
same folder, renamed into place), so a killed run never leaves a file a later run trusts.
An unreadable or mismatching file is rebuilt with a warning naming it.

Users: :func:`xcorr_lib.nets.training.load_or_train` (the paper's networks) and the
atom-decomposed CNNs of :mod:`xcorr_lib.nets.atoms`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import pandas as pd
import torch
from torch import nn

from xcorr_lib.common import provenance

__all__ = ["normalize_key", "checkpoint_path", "cached_model"]

M = TypeVar("M", bound=nn.Module)


def normalize_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """``key`` through a JSON round trip (tuples -> lists, objects -> str): what a file stores."""
    return json.loads(json.dumps(dict(key), sort_keys=True, default=str))


def checkpoint_path(key: Mapping[str, Any], stem: str) -> Path:
    """``results/checkpoints/<stem>-<first 20 hex digits of sha256(key as sorted JSON)>.pt``."""
    text = json.dumps(normalize_key(key), sort_keys=True, default=str)
    return provenance.checkpoints_dir() / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:20]}.pt"


def cached_model(key: Mapping[str, Any], stem: str, template: Callable[[], M], build: Callable[[], M]) -> M:
    """The model for ``key``: loaded into ``template()`` from the cache, or ``build()`` and saved.

    Parameters
    ----------
    key : JSON-able mapping of everything that determines the weights.
    stem : file-name prefix (e.g. the model name).
    template : builds an untrained model of the right architecture to load weights into.
    build : builds and trains the model; must set ``train_history_`` (a DataFrame).

    Returns
    -------
    The model on CPU in eval mode with ``train_history_`` and ``checkpoint_path_``.
    """
    full = normalize_key(key)
    path = checkpoint_path(full, stem)
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("key") == full:
                model = template()
                model.load_state_dict(saved["state_dict"])
                model.eval()
                model.train_history_ = pd.DataFrame(saved["history"])  # type: ignore[assignment]
                model.checkpoint_path_ = path  # type: ignore[assignment]
                return model
            warnings.warn(f"checkpoint {path.name} has a different key; retraining", stacklevel=3)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file must not stop the run
            warnings.warn(f"could not read checkpoint {path.name} ({exc}); retraining", stacklevel=3)
    model = build()
    model.cpu().eval()
    history = model.train_history_  # type: ignore[attr-defined]
    payload = {"key": full, "state_dict": model.state_dict(),
               "history": {c: history[c].tolist() for c in history.columns},
               "torch_version": str(torch.__version__)}
    provenance.atomic_write(path, lambda tmp: torch.save(payload, tmp))
    model.checkpoint_path_ = path  # type: ignore[assignment]
    return model
