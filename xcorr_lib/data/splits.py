"""A dataset's train/test split as the experiments use it: seeded subsets and an identifying key."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from xcorr_lib.data.datasets import load_dataset, subset
from xcorr_lib.data.errors import DatasetUnavailableError

__all__ = ["Split", "load_split", "available_splits"]


@dataclasses.dataclass
class Split:
    """Train and test arrays of one dataset plus the key that identifies them."""

    dataset: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    key: dict[str, Any]

    def describe(self) -> str:
        return (f"{self.dataset} (protocol {self.key['protocol']}): "
                f"{len(self.X_train)} train / {len(self.X_test)} test images")


def load_split(dataset: str, protocol: str, *, n_train: int | None = None, n_test: int | None = None,
               seed: int = 0, skip_unavailable: bool = False, root: Any = None,
               download: bool = True) -> Split | None:
    """Load a dataset's train/test split, optionally a seeded subset of each.

    Parameters
    ----------
    dataset, protocol : as :func:`xcorr_lib.data.load_dataset`.
    n_train, n_test : int, optional
        Seeded random subsets (``xcorr_lib.data.subset``); None keeps everything.
    skip_unavailable : bool
        When the data cannot be found or downloaded, print the reason and return None
        instead of raising :class:`xcorr_lib.DatasetUnavailableError` (smoke runs
        only; the paper profile must fail loudly).
    root, download : passed to :func:`xcorr_lib.data.load_dataset`.
    """
    try:
        X_train, y_train = load_dataset(dataset, "train", root, protocol=protocol, download=download)
        X_test, y_test = load_dataset(dataset, "test", root, protocol=protocol, download=download)
    except DatasetUnavailableError as exc:
        if not skip_unavailable:
            raise
        print(f"SKIPPED {dataset}: not available on this machine ({exc})")
        return None
    if n_train is not None and n_train < len(X_train):
        X_train, y_train = subset(X_train, y_train, n_train, seed)
    if n_test is not None and n_test < len(X_test):
        X_test, y_test = subset(X_test, y_test, n_test, seed + 1)
    key = {"dataset": dataset, "protocol": protocol, "n_train": n_train, "n_test": n_test,
           "subset_seed": seed}
    return Split(dataset, X_train, y_train, X_test, y_test, key)


def available_splits(datasets: Iterable[str], protocol: Mapping[str, str], *, n_train: int | None,
                     n_test: int | None, seed: int, skip_unavailable: bool = False) -> Iterator[Split]:
    """:func:`load_split` of every dataset in turn (``protocol[dataset]``), printing one line each;
    with ``skip_unavailable`` a missing dataset is skipped (and said so) instead of raising."""
    for dataset in datasets:
        split = load_split(dataset, protocol[dataset], n_train=n_train, n_test=n_test, seed=seed,
                           skip_unavailable=skip_unavailable)
        if split is not None:
            print(split.describe())
            yield split
