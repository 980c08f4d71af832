"""xcorr_lib: cross-model neuronal correlation, the paper's score and its companions.

The two entry points most users need are re-exported here::

    from xcorr_lib import neuron_correlation, capture_activations

Submodules (each with one job): ``correlation`` (the score), ``capture`` (forward
hooks), ``data`` (datasets and probe images), ``models`` and ``training`` (the paper's
small networks), ``attack`` (transfer attack), ``zoo`` (torchvision models and stages),
``measures`` (CKA and friends), ``stats``, ``plotting``, ``provenance`` (output paths and
the manifest), ``paper`` (the published numbers), ``cli``.
Imports are lazy so ``import xcorr_lib`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "neuron_correlation": "xcorr_lib.correlation",
    "CorrelationResult": "xcorr_lib.correlation",
    "capture_activations": "xcorr_lib.capture",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'xcorr_lib' has no attribute {name!r}")
