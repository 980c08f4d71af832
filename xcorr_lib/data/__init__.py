"""Datasets and probe images, offline-safe.

::

    from xcorr_lib.data import load_dataset, subset, load_probe_images
    X, y = load_dataset("fashion-mnist", split="train")          # (60000, 28, 28) float32
    X, y = load_dataset("mnist", "train", protocol="test-split")   # 7,500 of the test file
    X, y = subset(X, y, n=1000, seed=0)
    images, info = load_probe_images(n=10, seed=0)                  # (10, 3, 224, 224)
    X, y = regenerate_afro_mnist("nko", n_per_class=100, seed=0)    # offline, NOT the original

Files are read from ``root`` / ``$XCORR_DATA_DIR`` / ``<project>/data`` (in that order of
precedence) and downloaded from the official mirrors when missing; see data/README.md.
"""

from __future__ import annotations

from .afro_synth import regenerate_afro_mnist
from .datasets import (DATASETS, PAPER_PROTOCOL, PROTOCOLS, SCRIPTS, SPLITS, load_dataset,
                       split_indices, subset)
from .errors import (ChecksumMismatchError, DataIntegrityError, DatasetUnavailableError,
                     ProbeImageError)
from .images import list_probe_images, load_probe_images
from .paths import cache_root, resolve_root

__all__ = [
    "DATASETS", "PAPER_PROTOCOL", "PROTOCOLS", "SCRIPTS", "SPLITS",
    "ChecksumMismatchError", "DataIntegrityError", "DatasetUnavailableError", "ProbeImageError",
    "cache_root", "list_probe_images", "load_dataset", "load_probe_images", "resolve_root",
    "regenerate_afro_mnist", "split_indices", "subset",
]
