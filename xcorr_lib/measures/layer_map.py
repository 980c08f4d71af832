"""Layer-by-layer maps: every chosen layer of A against every chosen layer of B.

``layer_map(acts_a, acts_b)`` takes each model's activations per layer (name -> (M, N)
array, the same M probes) and returns a long table ``layer_a, layer_b, measure, value`` for
the paper's score (each pair of layers scored alone, so no depth penalty applies) and
linear CKA; :func:`map_matrices` pivots it, :func:`plot_layer_map` draws one heatmap per
measure. Each layer is prepared once for the score, whatever the number of pairs.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from xcorr_lib.measures.cka import linear_cka, linear_cka_debiased
from xcorr_lib.score.engine import prepare, score_prepared

__all__ = ["MAP_MEASURES", "by_layer", "layer_map", "map_matrices", "plot_layer_map"]

MAP_MEASURES = {"linear_cka": linear_cka, "linear_cka_debiased": linear_cka_debiased}


def by_layer(acts: Any, layer_ids: Any, prefix: str = "layer ") -> dict[str, np.ndarray]:
    """{``"layer d"``: the (M, N_d) columns of ``acts`` (M, N) whose depth id is d}, by depth."""
    x, ids = np.asarray(acts), np.asarray(layer_ids)
    if x.ndim != 2 or len(ids) != x.shape[1]:
        raise ValueError(f"acts {x.shape} and layer_ids ({len(ids)},) do not fit: one depth id per column")
    return {f"{prefix}{d}": x[:, ids == d] for d in np.unique(ids)}


def layer_map(acts_a: Mapping[str, Any], acts_b: Mapping[str, Any], *, measures: Sequence[str] = ("score", "linear_cka"),
              variant: str = "paper", direction: str = "both", matching: str = "semi") -> pd.DataFrame:
    """Long table (``layer_a, layer_b, measure, value``), rows in the order of the layers given.

    ``acts_a``, ``acts_b``: {layer name: (M, N_layer) array or tensor}; ``measures``:
    ``"score"`` (options ``variant``, ``direction``, ``matching``) and names of
    :data:`MAP_MEASURES`."""
    unknown = [m for m in measures if m != "score" and m not in MAP_MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown} for a layer map; choose from score, {', '.join(MAP_MEASURES)}")
    sizes = {len(v) for v in [*acts_a.values(), *acts_b.values()]}
    if len(sizes) != 1:
        raise ValueError(f"every layer needs the same probes (rows); got {sorted(sizes)}")
    prep_a = {n: prepare(x, np.zeros(np.shape(x)[1], np.int64), name=f"acts of {n}") for n, x in acts_a.items()}
    prep_b = {n: prepare(x, np.zeros(np.shape(x)[1], np.int64), name=f"acts of {n}") for n, x in acts_b.items()}
    rows = []
    for na in acts_a:
        for nb in acts_b:
            for m in measures:
                value = (score_prepared(prep_a[na], prep_b[nb], variant=variant, direction=direction,  # type: ignore[arg-type]
                                        matching=matching).score if m == "score"  # type: ignore[arg-type]
                         else MAP_MEASURES[m](np.asarray(acts_a[na]), np.asarray(acts_b[nb])))
                rows.append({"layer_a": na, "layer_b": nb, "measure": m, "value": float(value)})
    return pd.DataFrame(rows, columns=["layer_a", "layer_b", "measure", "value"])


def map_matrices(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{measure: DataFrame (layers of A x layers of B)} in the table's layer order."""
    order_a, order_b = list(dict.fromkeys(table["layer_a"])), list(dict.fromkeys(table["layer_b"]))
    return {m: g.pivot(index="layer_a", columns="layer_b", values="value").loc[order_a, order_b]
            for m, g in table.groupby("measure", sort=False)}


def plot_layer_map(table: pd.DataFrame, *, name_a: str = "A", name_b: str = "B"):
    """One annotated heatmap per measure (rows: layers of A, columns: layers of B)."""
    import matplotlib.pyplot as plt

    from xcorr_lib.common.plotting import score_heatmap

    mats = map_matrices(table)
    fig, axes = plt.subplots(1, len(mats), figsize=(0.9 * len(table["layer_b"].unique()) * len(mats) + 3,
                                                    0.6 * len(table["layer_a"].unique()) + 2.5), squeeze=False)
    for ax, (measure, mat) in zip(axes[0], mats.items()):
        score_heatmap(mat, ax=ax, title=f"{measure}: {name_a} (rows) vs {name_b} (columns)", cbar_label=measure)
    fig.tight_layout()
    return fig
