"""Ours vs paper: comparison tables, agreement summaries, markdown and figures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from xcorr_lib.common import paper
from xcorr_lib.nets.models import FCN_NAMES

# --- ours vs paper ---------------------------------------------------------------

def compare_table2(ours: pd.DataFrame) -> pd.DataFrame:
    """Join our Table 2 rows with the paper's values; adds paper_score and diff = ours - paper."""
    out = ours.merge(paper.table2(), on=["dataset", "net_a", "net_b"], how="left")
    out["diff"] = out["score"] - out["paper_score"]
    return out


def compare_table3(ours: pd.DataFrame) -> pd.DataFrame:
    """Join our Table 3 rows with the paper's values; adds paper_score and diff."""
    out = ours.merge(paper.table3(), on=["dataset", "net"], how="left")
    out["diff"] = out["score"] - out["paper_score"]
    return out


def agreement(compared: pd.DataFrame, by: Sequence[str] = ("dataset", "setting", "net4")) -> pd.DataFrame:
    """Per group: cells, mean and max |diff|, mean diff, Spearman rank correlation with the paper."""
    by = [c for c in by if c in compared.columns]
    known = compared.dropna(subset=["paper_score"])
    rows = []
    groups = known.groupby(by, sort=False) if by else [((), known)] if len(known) else []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        rank = (g["score"].rank().corr(g["paper_score"].rank()) if len(g) > 2 else np.nan)
        rows.append({**dict(zip(by, key)), "n_cells": len(g), "mean_diff": g["diff"].mean(),
                     "mean_abs_diff": g["diff"].abs().mean(), "max_abs_diff": g["diff"].abs().max(),
                     "rank_corr": rank})
    return pd.DataFrame(rows)


def describe_agreement(summary: pd.DataFrame, *, tolerance: float = 0.05) -> str:
    """Plain-English sentences built from :func:`agreement`'s numbers (one per group)."""
    stats = ("n_cells", "mean_diff", "mean_abs_diff", "max_abs_diff", "rank_corr")
    lines = []
    for _, r in summary.iterrows():
        where = ", ".join(f"{c}={r[c]}" for c in summary.columns if c not in stats)
        verdict = ("agrees with the paper" if r["mean_abs_diff"] <= tolerance
                   else f"differs from the paper by more than {tolerance:.2f} on average")
        sign = "higher" if r["mean_diff"] > 0 else "lower"
        rank = ("" if np.isnan(r["rank_corr"]) else
                f"; Spearman rank correlation of the cells with the paper's: {r['rank_corr']:.2f}")
        lines.append(f"- {where}: ours {verdict} (mean |diff| {r['mean_abs_diff']:.3f}, max "
                     f"{r['max_abs_diff']:.3f} over {int(r['n_cells'])} cell{'s' if r['n_cells'] != 1 else ''}; on average "
                     f"{abs(r['mean_diff']):.3f} {sign}{rank}).")
    return "\n".join(lines)


# --- tables for reading ---------------------------------------------------------

def wide_comparison(compared: pd.DataFrame, keys: Sequence[str] = ("dataset", "net_a", "net_b"), *,
                    net4: str | None = None) -> pd.DataFrame:
    """One row per cell: the paper's value, then ours and ``diff`` (ours - paper) per setting.

    ``net4``: the main Net4 variant; rows of the other variants (Net4 cells only) get
    their own columns labelled e.g. ``original-code [Net4=original]``.
    """
    keys = list(keys)
    df = compared.copy()
    if "net4" in df.columns and df["net4"].nunique() > 1:
        main = net4 if net4 is not None else df["net4"].iloc[0]
        df["_label"] = df["setting"].where(df["net4"] == main, df["setting"] + " [Net4=" + df["net4"] + "]")
    else:
        df["_label"] = df["setting"]
    out = df.groupby(keys, sort=False)["paper_score"].first().to_frame("paper")
    for label in dict.fromkeys(df["_label"]):
        ours = df[df["_label"] == label].groupby(keys, sort=False)["score"].first()
        out[label] = ours
        out[f"diff {label}"] = ours - out["paper"]
    return out


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".3f", index: bool = True) -> str:
    """A GitHub-flavoured markdown table (NaN cells left empty), for the README."""
    frame = df.reset_index() if index else df

    def cell(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


# --- figures -------------------------------------------------------------------

def _triangle(df: pd.DataFrame, value: str, names: Sequence[str]) -> pd.DataFrame:
    mat = pd.DataFrame(np.nan, index=list(names[:-1]), columns=list(names[1:]))
    for _, r in df.iterrows():
        if r["net_a"] in mat.index and r["net_b"] in mat.columns:
            mat.loc[r["net_a"], r["net_b"]] = r[value]
    return mat


def _only_net4(compared: pd.DataFrame, net4: str | None) -> pd.DataFrame:
    if net4 is None or "net4" not in compared.columns:
        return compared
    return compared[compared["net4"] == net4]


def plot_table2(compared: pd.DataFrame, *, names: Sequence[str] = FCN_NAMES, net4: str | None = None):
    """Annotated heatmaps: one column of panels per dataset, rows = the paper's values
    then each of our settings (upper triangle, row net -> column net). ``net4``: keep
    only rows of that Net4 variant (when the table mixes both)."""
    import matplotlib.pyplot as plt

    from xcorr_lib.common.plotting import score_heatmap

    compared = _only_net4(compared, net4)

    datasets = list(dict.fromkeys(compared["dataset"]))
    settings = list(dict.fromkeys(compared["setting"]))
    nrows = 1 + len(settings)
    fig, axes = plt.subplots(nrows, len(datasets), figsize=(4.6 * len(datasets), 3.6 * nrows), squeeze=False)
    for j, ds in enumerate(datasets):
        d = compared[compared["dataset"] == ds]
        panels = [("paper (published)", _triangle(d[d["setting"] == settings[0]], "paper_score", names))]
        panels += [(f"ours: {s}", _triangle(d[d["setting"] == s], "score", names)) for s in settings]
        for i, (label, mat) in enumerate(panels):
            ax = axes[i, j]
            if mat.isna().all().all():
                ax.set_axis_off()
                ax.set_title(f"{ds}\n{label}: not published")
                continue
            score_heatmap(mat, ax=ax, title=f"{ds}\n{label}")
    fig.tight_layout()
    return fig


def plot_table3(compared: pd.DataFrame, *, names: Sequence[str] = FCN_NAMES, net4: str | None = None):
    """Grouped bars per dataset: FCN -> CNN score of each net, paper vs our settings.
    ``net4``: keep only rows of that Net4 variant (when the table mixes both)."""
    import matplotlib.pyplot as plt

    compared = _only_net4(compared, net4)

    datasets = list(dict.fromkeys(compared["dataset"]))
    settings = list(dict.fromkeys(compared["setting"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
    width = 0.8 / (1 + len(settings))
    x = np.arange(len(names))
    for j, ds in enumerate(datasets):
        ax = axes[0, j]
        d = compared[compared["dataset"] == ds].set_index(["setting", "net"])
        series = [("paper (published)", d.loc[settings[0], "paper_score"])]
        series += [(f"ours: {s}", d.loc[s, "score"]) for s in settings]
        for k, (label, values) in enumerate(series):
            vals = [values.get(n, np.nan) for n in names]
            ax.bar(x + (k - len(series) / 2 + 0.5) * width, vals, width, label=label)
        ax.set_xticks(x, list(names))
        ax.set_ylim(0, 1)
        ax.set_ylabel("score (FCN -> CNN)")
        ax.set_title(ds)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 0.0), frameon=False)
    return fig
