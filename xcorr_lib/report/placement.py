"""Where a published value falls in our seed distribution, cell by cell and table by table.

A seed is the unit of replication: every network is retrained from it, so the spread of one
cell over seeds is what a rerun of the paper's recipe could give. For each published cell,
:func:`place` gives our mean, SD and range over seeds, the *percentile* of the published
value among our seeds (mid-rank: ties count half; 0 = below every seed, 100 = above every
seed) and its standardized difference ``z = (published - mean) / sd``. :func:`offset`
averages ``z`` over a table's cells, the test of a systematic offset, with a 95% interval
from leaving out one whole seed at a time (every cell drops the same seed, because the cells
of one seed share its networks and are not independent).

A published value is printed rounded (3 decimals for scores, 1 for accuracies in %), so ours
are rounded to the same ``decimals`` before they are compared with it: 89.86 is not "below"
a printed 89.9.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["percentile_of", "place", "offset"]


def percentile_of(value: float, sample: Sequence[float]) -> float:
    """Mid-rank percentile (0-100) of ``value`` among ``sample``: 100 * (#below + #equal / 2) / n."""
    arr = np.asarray(sample, dtype=float)
    if arr.size == 0 or np.isnan(arr).any() or np.isnan(value):
        raise ValueError(f"percentile_of: need a non-empty sample without NaN and a value, got {arr.size} values")
    return float(100.0 * ((arr < value).sum() + 0.5 * (arr == value).sum()) / arr.size)


def _rounded(values: np.ndarray, decimals: int | None) -> np.ndarray:
    return values if decimals is None else np.round(values, decimals)


def place(ours: pd.DataFrame, published: pd.DataFrame, keys: Sequence[str], value: str = "value",
          paper: str = "paper", decimals: int | None = None) -> pd.DataFrame:
    """Each published cell in our seed distribution.

    Parameters
    ----------
    ours : one row per (cell, seed): the ``keys`` columns, ``seed`` and ``value``.
    published : one row per cell: the ``keys`` columns and ``paper``.
    decimals : the precision the paper printed; ours are rounded to it first (None: as they are).

    Returns
    -------
    One row per published cell with seeds: the keys, ``paper``, ``n_seeds``, ``mean``, ``sd``
    (ddof 1; NaN with one seed), ``min``, ``max``, ``percentile`` (:func:`percentile_of`),
    ``z`` ((paper - mean) / sd; NaN when sd is 0 or undefined) and ``outside`` (the
    published value below every seed or above every seed).
    """
    keys = list(keys)
    if ours.duplicated([*keys, "seed"]).any():
        raise ValueError(f"place: ours has more than one row per cell and seed ({keys} + seed)")
    rows = []
    for cell in published.itertuples(index=False):
        pub = getattr(cell, paper)
        sel = ours
        for k in keys:
            sel = sel[sel[k] == getattr(cell, k)]
        vals = _rounded(sel[value].to_numpy(dtype=float), decimals)
        if vals.size == 0 or np.isnan(pub):
            continue
        sd = float(vals.std(ddof=1)) if vals.size > 1 else float("nan")
        mean = float(vals.mean())
        rows.append({**{k: getattr(cell, k) for k in keys}, "paper": float(pub), "n_seeds": int(vals.size),
                     "mean": mean, "sd": sd, "min": float(vals.min()), "max": float(vals.max()),
                     "percentile": percentile_of(pub, vals),
                     "z": (pub - mean) / sd if sd > 0 else float("nan"),
                     "outside": bool(pub < vals.min() or pub > vals.max())})
    return pd.DataFrame(rows, columns=[*keys, "paper", "n_seeds", "mean", "sd", "min", "max", "percentile", "z",
                                       "outside"])


def offset(ours: pd.DataFrame, published: pd.DataFrame, keys: Sequence[str], value: str = "value",
           paper: str = "paper", decimals: int | None = None) -> dict[str, float]:
    """The mean of :func:`place`'s ``z`` over the cells, with a 95% interval from the
    leave-one-seed-out jackknife (``mean_z +- t(0.975, n-1) * se``; every cell drops the same
    seed). A cell equal in every seed has no ``z`` and is left out. Keys: ``mean_z``, ``low``,
    ``high``, ``se``, ``n_cells``, ``n_seeds``. Needs at least 3 seeds (2 left in each
    jackknife sample) and one cell with a spread.

    The jackknife rather than a bootstrap of seeds: a bootstrap resample repeats seeds, which
    shrinks each cell's SD and inflates ``z`` (with 5 or 10 seeds the intervals come out
    lopsided), while every jackknife sample holds distinct seeds.
    """
    from scipy import stats

    keys = list(keys)
    placed = place(ours, published, keys, value, paper, decimals)
    seeds = np.sort(ours["seed"].unique())
    if len(seeds) < 3 or placed.empty:
        raise ValueError(f"offset: needs at least 3 seeds and one published cell, got {len(seeds)} seeds, "
                         f"{len(placed)} cells")
    wide = ours.pivot_table(index="seed", columns=keys, values=value, aggfunc="first")
    wide = wide[[tuple(c) if len(keys) > 1 else c[0] for c in placed[keys].itertuples(index=False)]]
    if wide.isna().any().any():
        raise ValueError("offset: every cell needs a value for every seed")
    table, pub = _rounded(wide.to_numpy(dtype=float), decimals), placed["paper"].to_numpy(dtype=float)
    spread = table.std(0, ddof=1) > 0  # a cell equal in every seed has no z (place gives NaN)
    if not spread.any():
        raise ValueError("offset: every cell has the same value in every seed")
    table, pub = table[:, spread], pub[spread]

    def mean_z(sample: np.ndarray) -> float:
        sd = sample.std(0, ddof=1)
        keep = sd > 0  # a leave-one-out sample can make two equal seeds a cell's only ones
        return float(np.mean((pub[keep] - sample.mean(0)[keep]) / sd[keep]))

    n = len(seeds)
    full = mean_z(table)
    leave_one = np.array([mean_z(np.delete(table, k, axis=0)) for k in range(n)])
    se = float(np.sqrt((n - 1) / n * ((leave_one - leave_one.mean()) ** 2).sum()))
    half = float(stats.t.ppf(0.975, n - 1)) * se
    return {"mean_z": full, "low": full - half, "high": full + half, "se": se,
            "n_cells": int(spread.sum()), "n_seeds": int(n)}
