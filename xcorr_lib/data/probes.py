"""Probe sets for the small-network experiments (Tables 2 and 3).

A probe set is a batch of unlabeled inputs that only serves to elicit activations.
The original notebooks used:

- Table 2: the whole test split (``kind="test"``), EXCEPT Fashion-MNIST, where the
  probes were uniform noise U[0, 1) of the test split's shape (``kind="noise"``);
- Table 3: the first 10 of those probe inputs (``n=10, selection="first"``).

The original noise was drawn unseeded; here it comes from
``numpy.random.default_rng(seed)``. Noise rows are generated in order, so the first n
rows of a full-size noise probe equal a noise probe of size n with the same seed.

Example
-------
>>> import numpy as np
>>> X_test = np.zeros((100, 28, 28), dtype=np.float32)
>>> p = make_probe("noise", X_test, n=10, seed=0)
>>> p.x.shape, p.kind, p.n
((10, 28, 28), 'noise', 10)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

ProbeKind = Literal["test", "noise"]
Selection = Literal["first", "random"]
PROBE_KINDS: tuple[str, ...] = ("test", "noise")
SELECTIONS: tuple[str, ...] = ("first", "random")


@dataclasses.dataclass(frozen=True)
class ProbeSet:
    """Probe inputs and how they were made.

    Attributes
    ----------
    x : np.ndarray, float32, shape (M, *input_shape), values in [0, 1]
    kind : "test" (test images) or "noise" (uniform U[0, 1))
    selection : "first" (the first M) or "random" (a seeded random subset of the test
        split; for noise both mean the same: M fresh draws)
    seed : int
        Seed of the noise generator or of the random subset.
    """

    x: np.ndarray
    kind: str
    selection: str
    seed: int

    @property
    def n(self) -> int:
        """Number of probes M."""
        return int(self.x.shape[0])

    def describe(self) -> dict[str, Any]:
        """Columns for result tables: probe, n_probes, probe_selection, probe_seed."""
        return {"probe": self.kind, "n_probes": self.n, "probe_selection": self.selection,
                "probe_seed": self.seed}


def make_probe(kind: ProbeKind, X_test: Any, n: int | None = None, *, selection: Selection = "first",
               seed: int = 0) -> ProbeSet:
    """Build a probe set from a test split.

    Parameters
    ----------
    kind : {"test", "noise"}
        Test images themselves, or uniform noise U[0, 1) with the test split's
        per-example shape (as the original Fashion-MNIST runs).
    X_test : array (N, ...) float
        The test split (only its shape is used for noise).
    n : int, optional
        Number of probes; None = as many as the test split has (N).
    selection : {"first", "random"}
        Test images: the first n (the original's choice) or a random subset of n
        drawn without replacement with ``seed`` (kept in test-split order).
    seed : int
        Seed for the noise or the random subset.

    Returns
    -------
    ProbeSet with ``x`` float32 of shape (n, *X_test.shape[1:]).
    """
    if kind not in PROBE_KINDS:
        raise ValueError(f"probe kind must be one of {PROBE_KINDS}, got {kind!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    X = np.asarray(X_test)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"X_test must be a non-empty batch (N, ...), got shape {X.shape}")
    N = len(X)
    m = N if n is None else int(n)
    if m < 2 or m > N:
        raise ValueError(f"n must be between 2 and the test split's size {N}, got {n}")
    rng = np.random.default_rng(seed)
    if kind == "noise":
        x = rng.random((m, *X.shape[1:]), dtype=np.float32)
    elif selection == "first":
        x = X[:m]
    else:
        x = X[np.sort(rng.choice(N, size=m, replace=False))]
    return ProbeSet(x=np.ascontiguousarray(x, dtype=np.float32), kind=kind, selection=selection,
                    seed=int(seed))
