"""Small, generic plotting helpers shared by the notebooks.

- :func:`score_heatmap`: annotated heatmap of a square (or rectangular) matrix of
  scores, e.g. the pairwise cross-model correlation score of K networks.
- :func:`breakdown_heatmap`: the per-layer breakdown of one score
  (``CorrelationResult.layer_breakdown``): rows = layer of a unit, columns = layer of
  its best-matching unit in the other network.

Both draw on a given matplotlib ``Axes`` (or a new figure) and return the ``Axes``;
saving goes through :func:`xcorr_lib.common.provenance.save_figure`.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd

__all__ = ["score_heatmap", "breakdown_heatmap", "breakdown_matrix"]

BreakdownValue = Literal["fraction", "n_units", "mean_score", "mean_abs_rho"]
_BREAKDOWN_VALUES = ("fraction", "n_units", "mean_score", "mean_abs_rho")
_BREAKDOWN_COLUMNS = ("side", "layer_u", "layer_match", "n_units", "mean_score")


def _axes(ax, size: tuple[float, float]):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def score_heatmap(scores: pd.DataFrame | np.ndarray, labels: Sequence[str] | None = None, *,
                  ax=None, title: str | None = None, vmin: float = 0.0, vmax: float = 1.0,
                  fmt: str = ".3f", cmap: str = "viridis", cbar_label: str = "score"):
    """Annotated heatmap of a score matrix.

    Parameters
    ----------
    scores : (K, L) DataFrame (index/columns give the labels) or array.
        NaN cells (e.g. an unused diagonal) are left blank.
    labels : row and column labels for an array input (square matrices only);
        default ``0..K-1``.
    ax : matplotlib Axes to draw on; default a new figure.
    vmin, vmax : colour range (scores of this project lie in [0, 1]).
    fmt : format of the annotations.

    Returns
    -------
    The matplotlib Axes.

    Raises
    ------
    ValueError
        ``scores`` is not 2-D, or ``labels`` does not match its shape.
    """
    import seaborn as sns

    if isinstance(scores, pd.DataFrame):
        frame = scores.astype(float)
    else:
        arr = np.asarray(scores, dtype=float)
        if arr.ndim != 2:
            raise ValueError(f"scores must be a 2-D matrix, got shape {arr.shape}")
        if labels is None:
            labels = [str(i) for i in range(arr.shape[0])]
        if arr.shape[0] != arr.shape[1] or len(labels) != arr.shape[0]:
            raise ValueError(f"labels ({len(labels)}) need a square matrix of the same size, "
                             f"got shape {arr.shape}")
        frame = pd.DataFrame(arr, index=list(labels), columns=list(labels))
    k, m = frame.shape
    ax = _axes(ax, (1.2 + 0.9 * m, 0.8 + 0.7 * k))
    sns.heatmap(frame, ax=ax, annot=True, fmt=fmt, cmap=cmap, vmin=vmin, vmax=vmax,
                square=k == m, linewidths=0.5, cbar_kws={"label": cbar_label})
    ax.set_xticklabels(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    if title:
        ax.set_title(title)
    return ax


def breakdown_matrix(breakdown: pd.DataFrame, *, side: str = "a->b",
                     value: BreakdownValue = "fraction") -> pd.DataFrame:
    """Pivot a layer breakdown into a (layer of unit) x (layer of its match) matrix.

    Parameters
    ----------
    breakdown : DataFrame with columns ``side, layer_u, layer_match, n_units,
        mean_score`` (``CorrelationResult.layer_breakdown``).
    side : value of the ``side`` column whose units form the rows ("a->b": units of A
        matched in B; "b->a": the reverse).
    value : "fraction" (share of the row layer's units whose best match lies in the
        column layer; rows sum to 1), "n_units" (counts), "mean_score" (mean S of
        those units) or "mean_abs_rho" (mean |rho| with their match). Missing
        combinations are NaN; constant units (no match, layer_match <NA>) are left out.

    Raises
    ------
    ValueError
        Missing columns, an unknown ``value``, or a ``side`` absent from the table.
    """
    if value not in _BREAKDOWN_VALUES:
        raise ValueError(f"value must be one of {_BREAKDOWN_VALUES}, got {value!r}")
    missing = [c for c in (*_BREAKDOWN_COLUMNS, *([value] if value != "fraction" else []))
               if c not in breakdown.columns]
    if missing:
        raise ValueError(f"breakdown lacks columns {missing}; expected {_BREAKDOWN_COLUMNS}")
    rows = breakdown[(breakdown["side"] == side) & breakdown["layer_match"].notna()]
    if rows.empty:
        raise ValueError(f"no rows with side {side!r}; sides present: "
                         f"{sorted(breakdown['side'].unique().tolist())}")
    column = "n_units" if value == "fraction" else value
    rows = rows.astype({"layer_u": int, "layer_match": int})
    mat = rows.pivot_table(index="layer_u", columns="layer_match", values=column,
                           aggfunc="sum" if column == "n_units" else "mean").astype(float)
    if value == "fraction":
        mat = mat.div(mat.sum(axis=1), axis=0)
    mat.index.name, mat.columns.name = "layer of unit", "layer of best match"
    return mat


def breakdown_heatmap(breakdown: pd.DataFrame, *, side: str = "a->b",
                      value: BreakdownValue = "fraction", ax=None, title: str | None = None,
                      fmt: str = ".2f", cmap: str = "mako_r"):
    """Heatmap of :func:`breakdown_matrix` (annotated; NaN cells blank).

    A strong diagonal means units find their best partner at the same depth in the
    other network. Returns the matplotlib Axes.
    """
    import seaborn as sns

    mat = breakdown_matrix(breakdown, side=side, value=value)
    ax = _axes(ax, (1.5 + 0.8 * mat.shape[1], 1.0 + 0.6 * mat.shape[0]))
    vmax = None if value == "n_units" else 1.0
    sns.heatmap(mat, ax=ax, annot=True, fmt=".0f" if value == "n_units" else fmt, cmap=cmap,
                vmin=0.0, vmax=vmax, linewidths=0.5, cbar_kws={"label": value.replace("_", " ")})
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    if title:
        ax.set_title(title)
    return ax
