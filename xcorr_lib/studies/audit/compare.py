"""The paper's score beside CKA, SVCCA, PWCCA, RSA, mutual k-NN and CKNNA on the same activations.

Do the measures agree on which pairs of networks are most alike? :func:`measures_table`
computes every measure for every pair, each beside its shuffled-probe null;
:func:`measure_agreement` compares the rankings of the pairs that two measures induce
(Kendall tau).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcorr_lib.measures import ALL_MEASURES, MEASURES
from xcorr_lib.score.correlation import neuron_correlation

from .null import Acts, as_numpy_acts, pair_label


def measures_table(acts: Acts, pairs: Sequence[tuple[str, str]],
                   measures: Sequence[str] = ALL_MEASURES, *,
                   correlation_kwargs: Mapping[str, Any] | None = None,
                   n_null: int = 0, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Every measure for every pair, on the same probes, each beside its shuffled-probe null.

    Parameters
    ----------
    acts : {model: (acts (M, N), layers (N,))}
    pairs : [(model_a, model_b), ...]
    measures : names from :data:`xcorr_lib.measures.ALL_MEASURES`
    correlation_kwargs : options of ``neuron_correlation`` (variant, direction, device, ...)
    n_null : draws of the null: the measure recomputed with model_b's probes in a random order
        (permutation d of draw d is seeded by ``(seed, d)``, the same for every measure and pair),
        which keeps each side's own structure and breaks the probe correspondence. 0: no null.

    Returns
    -------
    DataFrame model_a, model_b, pair, measure, value, warning (the text of any warning the
    measure raised, e.g. CCA with more directions than probes allow; "" otherwise) and, with
    ``n_null``, null_mean, null_sd (ddof 1; NaN for one draw) and n_null.
    """
    a = as_numpy_acts(acts)
    for name in measures:
        if name not in ALL_MEASURES:
            raise ValueError(f"unknown measure {name!r}; valid: {', '.join(map(repr, ALL_MEASURES))}")
    kwargs = dict(correlation_kwargs or {})

    def value(name: str, xa: Any, la: Any, xb: Any, lb: Any) -> float:
        if name == "neuron_correlation":
            return float(neuron_correlation(xa, la, xb, lb, **kwargs).score)
        return float(MEASURES[name](xa, xb))

    n_probes = next(iter(a.values()))[0].shape[0]
    perms = [np.random.default_rng([int(seed), d]).permutation(n_probes) for d in range(int(n_null))]
    rows = []
    for (ma, mb), name in tqdm([(p, n) for p in pairs for n in measures], desc="measures", disable=not progress):
        (xa, la), (xb, lb) = a[ma], a[mb]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row = {"model_a": ma, "model_b": mb, "pair": pair_label(ma, mb), "measure": name,
                   "value": value(name, xa, la, xb, lb)}
            nulls = [value(name, xa, la, xb[perm], lb) for perm in perms]
        row["warning"] = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        if perms:
            row.update(null_mean=float(np.mean(nulls)), null_sd=float(np.std(nulls, ddof=1)) if len(nulls) > 1
                       else float("nan"), n_null=len(nulls))
        rows.append(row)
    return pd.DataFrame(rows)
