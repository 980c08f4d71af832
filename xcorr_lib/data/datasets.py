"""The MNIST-family datasets as float32 arrays: :func:`load_dataset`, :func:`subset`.

Protocols (which images form "train" and "test")
------------------------------------------------
``"official"``
    The published train/test files (60,000 / 10,000 for MNIST, Fashion-MNIST, KMNIST and
    Afro-MNIST). The paper's KMNIST and Afro-MNIST results used this.
``"original"``
    As the authors' MNIST and Fashion-MNIST notebooks: pool ALL 70,000 images (official
    train first, then official test, the row order of OpenML's ``mnist_784`` that those
    notebooks loaded) and split with
    ``sklearn.model_selection.train_test_split(test_size=0.25, random_state=42)``
    (unstratified), giving 52,500 train / 17,500 test. Needs both official splits.
``"test-split"``
    Uses ONLY the official test file (10,000 images) and splits it the same way
    (``test_size=0.25, random_state=42``): 7,500 train / 2,500 test. For machines that
    hold only the test split (MNIST on the development machines). Explicit: it is never
    chosen automatically.

:data:`PAPER_PROTOCOL` records which protocol the paper's tables used for each dataset.

"digits" (scikit-learn's 1,797 embedded 8x8 digits, no download): it has no official
split, so "official" and "original" both give the seeded split above (1,347 / 450);
"test-split" raises ValueError. Each 8x8 image (values 0..16) is scaled to [0, 1],
upsampled to 20x20 by bilinear interpolation (``torch.nn.functional.interpolate``,
``align_corners=False``) and zero-padded by 4 pixels on every side to 28x28, matching
MNIST, whose digits sit in a 20x20 box centred in the 28x28 frame.

Afro-MNIST label range: the authors' README states that the Ethiopic set holds the numerals
1-10 (the other scripts 0-9), and the authors of the paper loaded it unchanged
(``y_train`` prints as ``[1, 2, 3, ...]``). A label file whose values lie in 1..10 with a 10
and no 0 is mapped to 0..9 by subtracting 1 (class k-1 = numeral k); files in 0..9 are kept;
anything else raises DataIntegrityError. Afro-MNIST images are stored as 8-byte numbers in
0..255 and divided by 255 (an image file already in [0, 1] is kept as is).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import DataIntegrityError
from .files import ensure_files, verify_file
from .idx import check_images, check_labels, parse_idx, read_npy
from .sources import AFRO_SCRIPTS, DatasetSpec, dataset_spec

from xcorr_lib.common.checks import check_option

DatasetName = Literal["mnist", "fashion-mnist", "kmnist", "afro-mnist", "digits"]
Split = Literal["train", "test"]
Protocol = Literal["official", "original", "test-split"]
Script = Literal["ethiopic", "vai", "osmanya", "nko"]

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "kmnist", "afro-mnist", "digits")
SPLITS: tuple[str, ...] = ("train", "test")
PROTOCOLS: tuple[str, ...] = ("official", "original", "test-split")
SCRIPTS: tuple[str, ...] = tuple(AFRO_SCRIPTS)
SPLIT_SEED = 42
TEST_FRACTION = 0.25

#: The protocol behind the paper's Tables 1-4 for each dataset (the original notebooks' splits).
PAPER_PROTOCOL: dict[str, str] = {
    "mnist": "original", "fashion-mnist": "original", "kmnist": "official",
    "afro-mnist": "official", "digits": "official",
}


def split_indices(n: int, *, test_size: float = TEST_FRACTION, seed: int = SPLIT_SEED
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a seeded random train/test split of ``n`` items.

    Exactly ``sklearn.model_selection.train_test_split(range(n), test_size=test_size,
    random_state=seed)`` (unstratified), as in the original notebooks.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray of int64
        Shapes ``(n - ceil(test_size * n),)`` and ``(ceil(test_size * n),)``.
    """
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(n, dtype=np.int64), test_size=test_size, random_state=seed)
    return np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64)


def dataset_plan(name: str, split: str, protocol: str, script: str = "ethiopic"
                 ) -> tuple[DatasetSpec | None, list[str], list[Any]]:
    """What :func:`load_dataset` reads for this split and protocol, without reading it: the
    dataset's spec (None for ``"digits"``, which is embedded in scikit-learn), the file splits
    it concatenates (``official``: the split itself; ``original``: train and test, split 75/25
    again; ``test-split``: the test file, split 75/25) and their files. The one place these
    rules live: the loader and the preflight both call it.

    Raises ValueError (one line) for an unknown name, split, protocol or script, and for
    ``test-split`` on digits (it has no test file)."""
    check_option("dataset", name, DATASETS)
    check_option("split", split, SPLITS)
    check_option("protocol", protocol, PROTOCOLS)
    check_option("script", script, SCRIPTS)
    if name == "digits":
        if protocol == "test-split":
            raise ValueError("protocol 'test-split' does not apply to 'digits' (it has no official "
                             "test file); 'official' and 'original' give its seeded 75/25 split")
        return None, [], []
    spec = dataset_spec(name, script)
    parts = {"official": [split], "original": ["train", "test"], "test-split": ["test"]}[protocol]
    return spec, parts, [fs for s in parts for fs in spec.files[s]]


def load_dataset(name: DatasetName, split: Split = "train",
                 root: str | os.PathLike[str] | None = None, *,
                 protocol: Protocol = "official", script: Script = "ethiopic",
                 download: bool = True, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of an MNIST-style dataset as float32 images in [0, 1].

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "kmnist", "afro-mnist", "digits"}
    split : {"train", "test"}
    root : str or path-like, optional
        Data folder; default ``$XCORR_DATA_DIR``, else ``<project>/data``
        (see :func:`~xcorr_lib.data.resolve_root`). Layout ``<root>/<name>/<file>``.
    protocol : {"official", "original", "test-split"}
        Which images form the split (module docstring; :data:`PAPER_PROTOCOL`).
    script : {"ethiopic", "vai", "osmanya", "nko"}
        Afro-MNIST script (ignored for other datasets).
    download : bool
        Download missing files from the official mirrors (verified, resumable).
    progress : bool
        Show a download progress bar.

    Returns
    -------
    X : numpy.ndarray, float32, shape (N, 28, 28), values in [0, 1]
    y : numpy.ndarray, int64, shape (N,), values in 0..9

    Raises
    ------
    ValueError
        Unknown name, split, protocol or script (the message lists the valid ones).
    DatasetUnavailableError
        Files missing and not downloadable (names files, URLs tried, where to put them).
    DataIntegrityError
        A file is truncated, corrupt or fails its checksum (the message names it).
    """
    spec, needed, files = dataset_plan(name, split, protocol, script)
    if spec is None:
        return _digits(split)
    label = f"Dataset {name!r}" + (f" (script {script!r})" if name == "afro-mnist" else "")
    hint = ""
    if name == "mnist" and protocol != "test-split":
        hint = ("If only the MNIST test files are available (as on the project's CI machines), "
                "protocol='test-split' trains and probes on a seeded 75/25 split of the test file.")
    paths = ensure_files(spec, files, root=root,
                         download=download, progress=progress,
                         what=f"{label}, protocol {protocol!r}, split {split!r},", hint=hint)
    parts = [_read_split(spec, s, paths) for s in needed]
    if protocol == "official":
        X, y = parts[0]
    else:
        X = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        y = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        tr, te = split_indices(len(y))
        idx = tr if split == "train" else te
        X, y = X[idx], y[idx]
    return _to_float(X), np.ascontiguousarray(y, dtype=np.int64)


def subset(X: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of ``n`` rows, drawn without replacement.

    Parameters
    ----------
    X : array (N, ...) ; y : array (N,)
        Numpy arrays (or torch tensors) with the same first dimension.
    n : int or None
        Number of rows. ``None`` or ``n >= N`` returns ``X, y`` unchanged (all rows).
    seed : int
        Seed of ``numpy.random.default_rng``; the chosen rows keep their original order.

    Returns
    -------
    X_sub, y_sub : same types as the inputs, first dimension ``min(n, N)``.
    """
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths ({len(X)} vs {len(y)})")
    if n is None or n >= len(X):
        return X, y
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer or None, got {n!r}")
    idx = np.sort(np.random.default_rng(seed).choice(len(X), size=int(n), replace=False))
    return X[idx], y[idx]


def _to_float(X: np.ndarray) -> np.ndarray:
    if X.dtype == np.uint8:
        out = X.astype(np.float32)
        out /= np.float32(255.0)
        return out
    return np.ascontiguousarray(X, dtype=np.float32)


def _read_split(spec: DatasetSpec, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 for IDX, float32 in [0, 1] for .npy) and int64 labels of one split."""
    img_fs, lab_fs = spec.files[split]
    img_path, lab_path = paths[img_fs.filename], paths[lab_fs.filename]
    count = spec.counts.get(split)
    if spec.fmt == "idx":
        _, img_bytes = verify_file(spec, img_fs, img_path)
        _, lab_bytes = verify_file(spec, lab_fs, lab_path)
        X = parse_idx(img_bytes, source=img_path)
        if X.dtype != np.uint8:
            raise DataIntegrityError(f"{img_path}: expected unsigned-byte IDX images, got {X.dtype}")
        X = check_images(X, source=img_path)
        y = check_labels(parse_idx(lab_bytes, source=lab_path), source=lab_path)
    else:
        verify_file(spec, img_fs, img_path)
        verify_file(spec, lab_fs, lab_path)
        X = _afro_images(read_npy(img_path), img_path)
        y = _afro_labels(read_npy(lab_path), lab_path)
    if len(X) != len(y):
        raise DataIntegrityError(
            f"{img_path} has {len(X)} images but {lab_path} has {len(y)} labels")
    if count is not None and len(X) != count:
        raise DataIntegrityError(f"{img_path}: expected {count} images for the official "
                                 f"{split} split, found {len(X)}")
    return X, y


def _afro_images(arr: np.ndarray, source: object) -> np.ndarray:
    X = check_images(np.asarray(arr), source=source)
    if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
        raise DataIntegrityError(f"{source}: images contain NaN or infinity")
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)
    if lo < 0 or hi > 255:
        raise DataIntegrityError(f"{source}: pixel values outside 0..255 ({lo}..{hi})")
    out = X.astype(np.float32)
    if X.dtype.kind in "iub" or hi > 1.0:
        out /= np.float32(255.0)
    return out


def _afro_labels(arr: np.ndarray, source: object) -> np.ndarray:
    y = np.asarray(arr)
    if y.ndim == 1 and y.size and y.dtype.kind in "iuf":
        vals = np.unique(y)
        if vals.min() >= 1 and vals.max() == 10:  # Ethiopic numerals 1..10 -> classes 0..9
            y = y - 1
    return check_labels(y, source=source)


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    d = load_digits()
    small = torch.from_numpy(np.asarray(d.images, dtype=np.float32) / np.float32(16.0))[:, None]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    X = F.pad(big, (4, 4, 4, 4))[:, 0].clamp_(0.0, 1.0).numpy()
    y = np.asarray(d.target, dtype=np.int64)
    tr, te = split_indices(len(y))
    idx = tr if split == "train" else te
    return np.ascontiguousarray(X[idx]), y[idx]
