"""Figures of the findings page, drawn at build time from the committed reference runs (the
same files and code as the README's findings, so the page and the README cannot disagree)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xcorr_lib.report.placement import place
from xcorr_lib.report.reference import published_tables

__all__ = ["placement_figure", "FIGURES"]


def placement_figure(root: Path, out: Path) -> Path:
    """Every published cell of Tables 2, 3 and 4's "before" column (Fashion-MNIST) beside our
    seeds: one dot per seed, the published value as a red bar; written to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(t, ours[ours["dataset"] == "fashion-mnist"], pub[pub["dataset"] == "fashion-mnist"], keys, dec)
              for t, ours, pub, keys, dec in published_tables(root)]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4.2),
                             gridspec_kw={"width_ratios": [max(len(p), 1) + 2 for _, _, p, _, _ in groups]})
    for ax, (table, ours, published, keys, decimals) in zip(axes, groups):
        cells = place(ours, published, keys, decimals=decimals)
        labels = cells[keys[1:]].astype(str).agg("-".join, axis=1).str.replace("Net", "")
        for x, (_, cell) in enumerate(cells.iterrows()):
            values = ours
            for k in keys:
                values = values[values[k] == cell[k]]
            ax.scatter([x] * len(values), values["value"], s=14, color="0.35", zorder=2,
                       label="our seeds" if x == 0 else None)
            ax.plot([x - 0.3, x + 0.3], [cell["paper"]] * 2, color="crimson", lw=2.5, zorder=3,
                    label="published" if x == 0 else None)
        ax.set_xticks(range(len(cells)), labels, rotation=45 if len(cells) > 6 else 0)
        ax.set_title(f"Table {table}" + (" (accuracy, %)" if table.startswith("4") else " (score)"))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Fashion-MNIST: the published cells among our {ours['seed'].nunique()} training seeds")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


#: {file name under the staged site's ``_generated/``: how to draw it from the project root}
FIGURES = {"placement.png": placement_figure}
