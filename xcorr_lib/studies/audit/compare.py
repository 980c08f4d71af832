"""The paper's score beside CKA, SVCCA, PWCCA and RSA on the same activations.

Do the measures agree on which pairs of networks are most alike? :func:`measures_table`
computes every measure for every pair; :func:`measure_agreement` compares the rankings of
the pairs that two measures induce (Kendall tau).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from xcorr_lib.measures import ALL_MEASURES, MEASURES
from xcorr_lib.score.pairs import pair_table

from .null import Acts, as_numpy_acts, pair_label


def measures_table(acts: Acts, pairs: Sequence[tuple[str, str]],
                   measures: Sequence[str] = ALL_MEASURES, *,
                   correlation_kwargs: Mapping[str, Any] | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """Every measure for every pair, on the same probes.

    Parameters
    ----------
    acts : {model: (acts (M, N), layers (N,))}
    pairs : [(model_a, model_b), ...]
    measures : names from :data:`xcorr_lib.measures.ALL_MEASURES`
    correlation_kwargs : options of ``neuron_correlation`` (variant, direction, ...)

    Returns
    -------
    DataFrame model_a, model_b, pair, measure, value, warning (the text of any warning the
    measure raised, e.g. CCA with more directions than probes allow; "" otherwise).
    """
    a = as_numpy_acts(acts)
    frames = []
    for name in measures:
        if name not in ALL_MEASURES:
            raise ValueError(f"unknown measure {name!r}; valid: {', '.join(map(repr, ALL_MEASURES))}")
        said: list[str] = []  # the warnings of each call, in pair order

        def call(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn(*args, **kw)
            said.append("; ".join(str(w.message) for w in caught))
            return out

        if name == "neuron_correlation":
            table = call(pair_table, a, pairs, name=name, progress=progress, **dict(correlation_kwargs or {}))
            said *= len(table)
        else:
            table = pair_table(a, pairs, measure=lambda x, y, f=MEASURES[name]: call(f, x, y), name=name,
                               progress=progress)
        frames.append(table[["model_a", "model_b", "measure", "value"]].assign(warning=said))
    out = pd.concat(frames, ignore_index=True)
    out["order"] = [i % len(pairs) for i in range(len(out))]  # pair-major, measures in the order asked
    out = out.sort_values("order", kind="stable").drop(columns="order")
    out.insert(2, "pair", [pair_label(x, y) for x, y in zip(out.model_a, out.model_b)])
    return out.reset_index(drop=True)
