"""Tables of many pairs: prepare every network once, score every pair (netrep's partial_fit idea).

``acts`` maps a network's name to its activations on ONE probe set (rows in the same order
for every network) and the depth id of every unit::

    acts = {"Net1": (acts (M, N1), layers (N1,)), "CNN": (acts (M, N2), layers (N2,)), ...}

:func:`pair_table` scores the requested pairs with the paper's score (``measure="score"``:
each network is standardized once, however many pairs it is in) or with any measure of two
activation matrices (a callable ``f(acts_a, acts_b) -> float``, e.g.
``xcorr_lib.measures.MEASURES["linear_cka"]``). It returns a tidy table, one row per pair,
that :func:`as_matrix` turns into a K x K matrix.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcorr_lib.score.correlation import Prepared, prepare, score_prepared

Acts = Mapping[str, tuple[Any, Any]]
PAIR_COLUMNS = ("model_a", "model_b", "measure", "value")
SCORE_COLUMNS = ("variant", "direction", "constant", "n_units_a", "n_units_b", "n_constant_a", "n_constant_b",
                 "n_minus_one")

__all__ = ["Acts", "all_pairs", "pair_table", "as_matrix"]


def all_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair ``(names[i], names[j])``, ``i < j``, in order."""
    names = list(names)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def pair_table(acts: Acts, pairs: Sequence[tuple[str, str]] | None = None, *,
               measure: str | Callable[[Any, Any], float] = "score", name: str | None = None,
               progress: bool = False, **options: Any) -> pd.DataFrame:
    """One row per pair: ``model_a, model_b, measure, value`` (+ the score's details).

    Parameters
    ----------
    acts : {name: (acts (M, N), layers (N,))}, all on the same M probes.
    pairs : [(a, b), ...]; default :func:`all_pairs` of ``acts`` in its order.
    measure : ``"score"`` (:func:`xcorr_lib.neuron_correlation`, options = its keyword
        arguments: variant, direction, constant, block_size, device, dtype) or a callable
        ``(acts_a, acts_b) -> float`` (options not allowed).
    name : the ``measure`` column (default ``"score"`` or the callable's ``__name__``).

    Returns
    -------
    DataFrame with ``model_a, model_b, measure, value`` and, for the score, ``variant,
    direction, constant, n_units_a, n_units_b, n_constant_a, n_constant_b, n_minus_one`` (units
    scored -1 under ``constant="minus-one"``, both sides).
    """
    pairs = all_pairs(list(acts)) if pairs is None else [tuple(p) for p in pairs]
    missing = sorted({n for p in pairs for n in p} - set(acts))
    if missing:
        raise ValueError(f"pairs name {missing} but acts has no such network; have {sorted(acts)}")
    if measure == "score":
        label, value = name or "score", _score_values(acts, options)
    elif callable(measure):
        if options:
            raise ValueError(f"options {sorted(options)} only apply to measure='score'")
        label = name or getattr(measure, "__name__", "measure")

        def value(a: str, b: str) -> dict[str, Any]:
            return {"value": float(measure(acts[a][0], acts[b][0]))}
    else:
        raise ValueError(f"measure must be 'score' or a callable (acts_a, acts_b) -> float, got {measure!r}")
    rows = [{"model_a": a, "model_b": b, "measure": label, **value(a, b)}
            for a, b in tqdm(pairs, desc=f"pairs ({label})", disable=not progress)]
    columns = [*PAIR_COLUMNS, *(SCORE_COLUMNS if measure == "score" else ())]
    return pd.DataFrame(rows, columns=columns)


def _score_values(acts: Acts, options: Mapping[str, Any]) -> Callable[[str, str], dict[str, Any]]:
    """Row builder for the paper's score; each network is prepared on first use, once."""
    prep_opts = {k: options[k] for k in ("dtype", "device") if k in options}
    score_opts = {k: v for k, v in options.items() if k not in prep_opts}
    prepared: dict[str, Prepared] = {}

    def get(n: str) -> Prepared:
        if n not in prepared:
            prepared[n] = prepare(*acts[n], name=f"acts[{n!r}]", **prep_opts)
        return prepared[n]

    def row(a: str, b: str) -> dict[str, Any]:
        res = score_prepared(get(a), get(b), **score_opts)
        return {"value": res.score, "variant": res.variant, "direction": res.direction,
                "constant": res.constant, "n_units_a": len(res.layers_a), "n_units_b": len(res.layers_b),
                "n_constant_a": res.n_constant_a, "n_constant_b": res.n_constant_b,
                "n_minus_one": int((res.scores_a == -1).sum() + (0 if res.scores_b is None else (res.scores_b == -1).sum()))}
    return row


def as_matrix(table: pd.DataFrame, names: Sequence[str] | None = None, *, symmetric: bool = True,
              diagonal: float = np.nan) -> pd.DataFrame:
    """K x K matrix (rows model_a, columns model_b) of a :func:`pair_table`'s ``value``.

    ``symmetric``: fill (b, a) from (a, b) where only one was scored. ``diagonal``: the value
    of unscored (a, a) cells (NaN; 1.0 for a similarity of a network with itself).
    """
    names = list(dict.fromkeys([*table["model_a"], *table["model_b"]])) if names is None else list(names)
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for r in table.itertuples():
        mat.loc[r.model_a, r.model_b] = r.value
    if symmetric:
        mat = mat.fillna(mat.T)
    for n in names:
        if np.isnan(mat.loc[n, n]):
            mat.loc[n, n] = diagonal
    return mat
