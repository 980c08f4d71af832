"""Figures of the audit notebook. Each returns a matplotlib Figure; nothing is saved here
(the notebook saves through ``provenance.save_figure``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

NULL_STYLES = {"shuffled": ("tab:orange", "--"), "untrained": ("tab:green", ":")}


def plot_null_calibration(table: pd.DataFrame) -> Figure:
    """Score, null scores and the chance level of the best |rho| vs number of probes, per pair."""
    pairs = list(dict.fromkeys(table["pair"]))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.4), squeeze=False, sharey=True)
    for ax, pair in zip(axes[0], pairs):
        df = table[table["pair"] == pair]
        first = df.drop_duplicates("probe_size").sort_values("probe_size")
        ax.plot(first.probe_size, first.score, "o-", color="tab:blue", label="score (trained pair)")
        for kind, grp in df.groupby("null_kind", sort=False):
            color, ls = NULL_STYLES.get(str(kind), ("grey", "-."))
            grp = grp.sort_values("probe_size")
            ax.plot(grp.probe_size, grp.null_score, marker="s", ls=ls, color=color, label=f"null: {kind}")
        ax.plot(first.probe_size, first.chance_max_abs_rho, "^-", color="grey", lw=1,
                label="best |rho| by chance (shuffled)")
        ax.plot(first.probe_size, first.expected_max_abs_rho, "k-", lw=1,
                label="analytic E[max |rho|], independent units")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("number of probes M")
        ax.set_title(pair)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("score")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_probe_size(table: pd.DataFrame) -> Figure:
    """Score vs number of probes, one line per pair and probe kind (solid: first kind)."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    kinds = list(dict.fromkeys(table["probe_kind"]))
    styles = ["-", "--", ":", "-."]
    colors = {p: f"C{i}" for i, p in enumerate(dict.fromkeys(table["pair"]))}
    for (kind, pair), grp in table.groupby(["probe_kind", "pair"], sort=False):
        grp = grp.sort_values("probe_size")
        ax.errorbar(grp.probe_size, grp.score, yerr=grp.score_sd.fillna(0), marker="o", capsize=2,
                    ls=styles[kinds.index(kind) % 4], color=colors[pair], label=f"{pair} ({kind})")
    ax.set_xscale("log")
    ax.set_xlabel("number of probes M")
    ax.set_ylabel("score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_seed_variability(summary: pd.DataFrame) -> Figure:
    """Mean and t-interval over seeds: accuracies (left) and scores (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, quantities in zip(axes, (["accuracy", "accuracy_attacked"], ["score"])):
        df = summary[summary["quantity"].isin(quantities)]
        for i, (q, grp) in enumerate(df.groupby("quantity", sort=False)):
            pos = np.arange(len(grp)) + 0.15 * i
            ax.errorbar(pos, grp["mean"], yerr=[grp["mean"] - grp.ci_low, grp.ci_high - grp["mean"]],
                        fmt="o", capsize=3, label=q)
            ax.set_xticks(np.arange(len(grp)), grp["name"], rotation=30, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("mean over seeds (95% t-interval)")
    fig.tight_layout()
    return fig


def plot_alignment(points: pd.DataFrame, stats_table: pd.DataFrame) -> Figure:
    """Degradation under the attack vs score against the CNN, one point per (net, seed)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (net, grp) in enumerate(points.groupby("net", sort=False)):
        ax.scatter(grp["score"], grp["rel_degradation"], color=f"C{i}", label=net)
    row = stats_table.set_index("statistic").loc["spearman"]
    ax.set_title(f"Spearman {row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}], "
                 f"p = {row.p_value:.2f}, n = {int(row.n)}", fontsize=9)
    ax.set_xlabel("score FCN -> CNN (alignment)")
    ax.set_ylabel("relative degradation under attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_measures(table: pd.DataFrame, agreement: pd.DataFrame) -> Figure:
    """Left: every measure for every pair. Right: Kendall tau between measures' rankings."""
    wide = table.pivot_table(index="pair", columns="measure", values="value", sort=False)
    names = list(wide.columns)
    tau = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for r in agreement.itertuples():
        tau.loc[r.measure_a, r.measure_b] = tau.loc[r.measure_b, r.measure_a] = r.kendall_tau
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    for ax, mat, cmap, lim in ((axes[0], wide, "viridis", (0, 1)), (axes[1], tau, "RdBu_r", (-1, 1))):
        im = ax.imshow(mat.to_numpy(float), cmap=cmap, vmin=lim[0], vmax=lim[1], aspect="auto")
        ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
        for (i, j), v in np.ndenumerate(mat.to_numpy(float)):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if (v - lim[0]) / (lim[1] - lim[0]) < 0.5 else "black")
        fig.colorbar(im, ax=ax, fraction=0.04)
    axes[0].set_title("value of each measure per pair")
    axes[1].set_title("Kendall tau between measures (ranking of pairs)")
    fig.tight_layout()
    return fig
