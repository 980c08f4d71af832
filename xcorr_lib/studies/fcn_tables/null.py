"""How much of each published score is chance: every cell of Tables 2, 3 and 5-7 beside the
score that unrelated units reach in exactly that cell's setting (:func:`xcorr_lib.null_score`).

The null needs no data: only the depth structure of the two networks (Table 1's layer
sizes as the authors ran them, Net4 = [50, 50]; the CNN's 5408 + 1600 units; channel 0 of
the paper's stage of each ImageNet model), the probe count and the setting of the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xcorr_lib.common.paper import TABLE1_ORIGINAL, table2, table3, tables5_7
from xcorr_lib.nets.zoo import MODELS, stage_units
from xcorr_lib.score.null import null_score

__all__ = ["CNN_LAYERS", "TABLE2_PROBES", "null_paper_settings", "describe_null_settings", "null_markdown", "plot_null_settings"]

#: Units per depth of the paper's CNN (the ReLU closing each conv block).
CNN_LAYERS = (5408, 1600)
#: Probes of Table 2: the whole test split under the paper's protocol (noise of its shape for Fashion).
TABLE2_PROBES = {"mnist": 17_500, "fashion-mnist": 17_500, "kmnist": 10_000, "afro-mnist": 10_000}
TABLE3_PROBES = 10
TABLES_5_7_PROBES = 10
FAMILY_TABLE = {"resnet": "5", "densenet": "6", "efficientnet": "7"}


def _layers(sizes) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


def null_paper_settings(ours: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per published cell: ``table, dataset, row, paper, ours, null_mean, null_se``.

    ``ours`` (optional): Table 3 rows of notebook 02 (``dataset, net, setting, net4, score``);
    the original-code score with the authors' Net4 ([50, 50]) fills ``ours`` where present.
    """
    fcn = {n: _layers(w) for n, w in TABLE1_ORIGINAL.items()}
    cnn = _layers(CNN_LAYERS)
    rows = []
    for r in table2().itertuples():
        m, _ = null_score(fcn[r.net_a], fcn[r.net_b], TABLE2_PROBES[r.dataset], variant="original", direction="forward")
        rows.append(("2", r.dataset, f"{r.net_a}-{r.net_b}", r.paper_score, m))
    t3 = {n: null_score(fcn[n], cnn, TABLE3_PROBES, variant="original", direction="forward")[0] for n in fcn}
    rows += [("3", r.dataset, r.net, r.paper_score, t3[r.net]) for r in table3().itertuples()]
    units = {}
    for r in tables5_7().itertuples():
        for n in (r.model_a, r.model_b):
            if n not in units:
                _, h, w = stage_units(n, MODELS[n].paper_stage)
                units[n] = h * w  # channel 0: every spatial position, one depth
        m, _ = null_score(np.zeros(units[r.model_a], int), np.zeros(units[r.model_b], int), TABLES_5_7_PROBES)
        rows.append((FAMILY_TABLE[r.family], "imagenet", f"{r.model_a}-{r.model_b}", r.paper_score, m))
    out = pd.DataFrame(rows, columns=["table", "dataset", "row", "paper", "null_mean"])
    out["null_se"] = 0.0  # analytic
    out.insert(4, "ours", np.nan)
    if ours is not None and len(ours):
        like = ours[(ours["setting"] == "original-code")
                    & ((ours["net4"] == "original") == (ours["net"] == "Net4"))]
        look = {(d, n): s for d, n, s in zip(like["dataset"], like["net"], like["score"])}
        mask = out["table"] == "3"
        out.loc[mask, "ours"] = [look.get((d, n), np.nan) for d, n in zip(out.dataset[mask], out.row[mask])]
    return out


def describe_null_settings(table: pd.DataFrame) -> str:
    """Per table and dataset: the published range beside the chance level, in words and numbers."""
    lines = []
    for (tab, dataset), g in table.groupby(["table", "dataset"], sort=False):
        above = g["paper"] - g["null_mean"]
        lines.append(f"Table {tab}, {dataset}: published {g.paper.min():.3f}-{g.paper.max():.3f}, unrelated units "
                     f"{g.null_mean.min():.3f}-{g.null_mean.max():.3f}; published minus chance "
                     f"{above.min():+.3f} to {above.max():+.3f}.")
    return "\n".join(lines)


def plot_null_settings(table: pd.DataFrame):
    """Published score (y) against the chance level of its setting (x), one marker per table."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    for tab, g in table.groupby("table", sort=True):
        ax.scatter(g["null_mean"], g["paper"], s=22, label=f"Table {tab}", alpha=0.8)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="published = chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("score of unrelated (independent Gaussian) units, same setting")
    ax.set_ylabel("published score")
    ax.set_title("Each published cell beside its chance level", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def null_markdown(table: pd.DataFrame) -> str:
    """README's Table 3 block: published score beside the chance level, per dataset and net."""
    t3 = table[table["table"] == "3"]
    datasets = list(dict.fromkeys(t3["dataset"]))
    lines = ["| net | chance level (10 probes) | " + " | ".join(f"paper, {d}" for d in datasets) + " |",
             "|---|---|" + "---|" * len(datasets)]
    for net, g in t3.groupby("row", sort=False):
        paper = dict(zip(g["dataset"], g["paper"]))
        lines.append(f"| {net} | {g['null_mean'].iloc[0]:.3f} | " + " | ".join(f"{paper[d]:.3f}" for d in datasets) + " |")
    return "\n".join(lines)
