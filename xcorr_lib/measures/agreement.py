"""Do two similarity measures rank the same pairs of networks alike? (Kendall tau-b.)"""

from __future__ import annotations

import itertools

import pandas as pd
from scipy import stats

__all__ = ["measure_agreement"]


def measure_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau-b between every two measures' values over the same pairs.

    Returns measure_a, measure_b, kendall_tau, p_value (scipy's, exact for small samples
    without ties), n_pairs. Needs at least 3 pairs.
    """
    wide = table.pivot_table(index="pair", columns="measure", values="value", sort=False)
    if len(wide) < 3:
        raise ValueError(f"need at least 3 pairs to compare rankings, got {len(wide)}")
    rows = []
    for m1, m2 in itertools.combinations(list(wide.columns), 2):
        res = stats.kendalltau(wide[m1], wide[m2])
        rows.append({"measure_a": m1, "measure_b": m2, "kendall_tau": float(res.statistic),
                     "p_value": float(res.pvalue), "n_pairs": len(wide)})
    return pd.DataFrame(rows)
