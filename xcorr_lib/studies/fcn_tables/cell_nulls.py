"""Every published cell of Tables 2 and 3 beside its three nulls and our interval.

For each cell, in the setting that printed it (the original code's: penalised argmax, one
direction, uniform noise as probes for Fashion-MNIST, the authors' Net4 = [50, 50]) and on our
networks: our score with its probe-bootstrap interval, the analytic level of independent units
of the same widths and depths (the max-of-many baseline), the shuffled-probe null (the score
with B's probes in random order: A's and B's own structure kept, the correspondence broken)
and the untrained-twin null (the score against B's architecture with fresh initial weights).
A published value is evidence of shared structure only where it sits above all three.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from xcorr_lib.common import paper
from xcorr_lib.data.probes import make_probe
from xcorr_lib.nets.capture import capture_all
from xcorr_lib.nets.models import FCN_NAMES
from xcorr_lib.nets.training import derive_seed
from xcorr_lib.nets.twins import untrained_twin
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.settings import DEFAULT_SETTINGS, ORIGINAL_PROBE, resolve_settings

from .null import TABLE2_PROBES, TABLE3_PROBES

__all__ = ["NULL_COLUMNS", "cell_nulls", "describe_cell_nulls", "nulls_markdown", "plot_cell_nulls"]

NULL_COLUMNS = ["dataset", "table", "net_a", "net_b", "probe", "n_probes", "setting", "published", "published_probes", "score",
                "ci_low", "ci_high", "null_analytic", "null_shuffled_mean", "null_shuffled_sd", "p_shuffled",
                "null_untrained_mean", "null_untrained_sd", "p_untrained", "n_null", "n_twins", "n_boot", "seed"]


def _cells(table: str) -> list[tuple[str, str]]:
    if table == "fcn":
        return [(a, b) for i, a in enumerate(FCN_NAMES) for b in FCN_NAMES[i + 1:]]
    return [(n, "CNN") for n in FCN_NAMES]


def _model(nets: Mapping[str, Mapping[str, Any]], name: str, net4: str) -> Any:
    """The authors' Net4 ([50, 50], variant "original") for Net4 cells when it was trained."""
    variant = "original" if name == "Net4" and "original" in nets else net4
    return nets[variant][name]


def cell_nulls(run: Any, *, table: Literal["fcn", "cnn"], net4: str, n_probes: int | None | Sequence[int | None],
               probe_selection: str = "first", seed: int = 0,
               original_probe: Mapping[str, str] = ORIGINAL_PROBE, setting: str = "original-code",
               n_null: int = 200, n_twins: int = 3, n_boot: int = 200, device: str | None = None) -> pd.DataFrame:
    """One row per published cell of Table 2 (``table="fcn"``) or 3 (``"cnn"``) per dataset of ``run``.

    Parameters
    ----------
    run : :class:`~xcorr_lib.studies.fcn_tables.workflow.TablesRun` (its trained networks are used).
    net4 : the main Net4 variant; Net4 cells use the authors' [50, 50] when ``run`` trained it.
    n_probes, probe_selection, seed, original_probe : the probes, as the score tables; a list of
        probe counts gives one set of rows per count.
    setting : the score setting of the published cells (``"original-code"``).
    n_null : shuffled-probe draws; n_twins : untrained twins of B (seeds derived from ``seed``);
    n_boot : probe-bootstrap resamples of the interval (95%, score +- z sd).
    device : where captures and scores run (default CPU).

    Returns
    -------
    :data:`NULL_COLUMNS`; ``published`` is NaN for a cell the paper did not print;
    ``published_probes`` is how many probes the paper's value rests on (the nulls of a row with
    another count describe our setting, not the published number).
    """
    (s,) = resolve_settings({setting: DEFAULT_SETTINGS[setting]})
    published = (paper.table2().set_index(["dataset", "net_a", "net_b"])["paper_score"] if table == "fcn" else
                 paper.table3().assign(net_b="CNN").rename(columns={"net": "net_a"})
                 .set_index(["dataset", "net_a", "net_b"])["paper_score"])
    counts = list(n_probes) if isinstance(n_probes, (list, tuple)) else [n_probes]
    rows = []
    for (dataset, (split, nets)), count in itertools.product(run.trained.items(), counts):
        kind = s.probe_kind(dataset, original_probe)
        probe = make_probe(kind, split.X_test, count, selection=probe_selection, seed=seed)
        names = list(dict.fromkeys(n for cell in _cells(table) for n in cell))
        acts = capture_all({n: _model(nets, n, net4) for n in names}, probe.x, device=device)
        twin_acts = {}
        for b in dict.fromkeys(b for _, b in _cells(table)):
            twins = {f"{b}-twin{i}": untrained_twin(_model(nets, b, net4), seed=derive_seed(seed, "twin", b, i))
                     for i in range(n_twins)}
            twin_acts[b] = [x for x, _ in capture_all(twins, probe.x, device=device).values()]
        for a, b in _cells(table):
            res = neuron_correlation(*acts[a], *acts[b], variant=s.variant, direction=s.direction,
                                     null=["shuffle", "untrained"], n_null=n_null, twins=twin_acts[b],
                                     interval=True, n_boot=n_boot, seed=seed, device=device)
            shuffled, untrained = res.nulls["shuffle"], res.nulls["untrained"]
            rows.append({"dataset": dataset, "table": "2" if table == "fcn" else "3", "net_a": a, "net_b": b,
                         "probe": kind, "n_probes": probe.n, "setting": s.name,
                         "published": published.get((dataset, a, b), np.nan),
                         "published_probes": TABLE2_PROBES.get(dataset) if table == "fcn" else TABLE3_PROBES,
                         "score": res.score,
                         "ci_low": res.interval.low, "ci_high": res.interval.high,
                         "null_analytic": res.independent_unit_level,
                         "null_shuffled_mean": shuffled.mean, "null_shuffled_sd": shuffled.sd,
                         "p_shuffled": shuffled.p_value, "null_untrained_mean": untrained.mean,
                         "null_untrained_sd": untrained.sd, "p_untrained": untrained.p_value,
                         "n_null": n_null, "n_twins": n_twins, "n_boot": n_boot, "seed": seed})
    return pd.DataFrame(rows, columns=NULL_COLUMNS)


def _published_probes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``published_probes`` (a file written before that column: from the paper's tables)."""
    if "published_probes" in table:
        return table
    counts = [TABLE2_PROBES.get(d) if str(t) == "2" else TABLE3_PROBES for d, t in zip(table.dataset, table.table)]
    return table.assign(published_probes=counts)


def describe_cell_nulls(table: pd.DataFrame) -> str:
    """Per dataset and probe count: how many cells our score (and the published value) exceed each null, and by how much."""
    table = _published_probes(table)
    lines = []
    for (dataset, _), g in table.groupby(["dataset", "n_probes"], sort=False):
        nulls = {"analytic level": g.null_analytic, "shuffled-probe null": g.null_shuffled_mean,
                 "untrained-twin null": g.null_untrained_mean}
        parts = [f"{name} {v.mean():.3f}: ours above in {int((g.score > v).sum())}/{len(g)} cells "
                 f"(mean {float((g.score - v).mean()):+.3f})" for name, v in nulls.items()]
        sds = (g.score - g.null_shuffled_mean) / g.null_shuffled_sd
        pub = g[g.published.notna() & (g.n_probes == g.published_probes)]
        above = int((pub.published > pub[["null_analytic", "null_shuffled_mean", "null_untrained_mean"]].max(axis=1)).sum())
        lines.append(f"{dataset} ({g.probe.iloc[0]} probes, {int(g.n_probes.iloc[0])}): our score {g.score.mean():.3f} "
                     f"on average; " + "; ".join(parts) + f"; {float(sds.median()):.1f} shuffled-null sds above it "
                     f"(median). Published cells above all three nulls: "
                     + (f"{above}/{len(pub)}." if len(pub) else "- (the paper used another probe count)."))
    return "\n".join(lines)


def plot_cell_nulls(table: pd.DataFrame, title: str):
    """One panel per dataset and probe count: published value, our score with its interval, and the three nulls per cell."""
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(zip(table.dataset, table.n_probes)))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.0, 4.6 * len(panels)), 4.2), squeeze=False)
    for ax, (dataset, count) in zip(axes[0], panels):
        g = table[(table.dataset == dataset) & (table.n_probes == count)].reset_index(drop=True)
        x = np.arange(len(g))
        ax.errorbar(x, g.score, yerr=[g.score - g.ci_low, g.ci_high - g.score], fmt="o", color="C0",
                    ms=5, capsize=3, label="ours, 95% probe interval")
        ax.scatter(x, g.published, marker="*", s=70, color="C3", label="published", zorder=3)
        ax.errorbar(x + 0.15, g.null_shuffled_mean, yerr=g.null_shuffled_sd.fillna(0), fmt="s", ms=4, color="C2",
                    capsize=2, label="shuffled-probe null (+- sd)")
        ax.scatter(x - 0.15, g.null_untrained_mean, marker="v", s=22, color="C1", label="untrained-twin null")
        ax.scatter(x, g.null_analytic, marker="_", s=160, color="grey", label="independent-unit level")
        ax.set_xticks(x, [f"{a}-{b}" if b != "CNN" else a for a, b in zip(g.net_a, g.net_b)], rotation=45,
                      ha="right", fontsize=7)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{dataset}: {g.probe.iloc[0]} probes, {int(g.n_probes.iloc[0])}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("score")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def nulls_markdown(*tables: pd.DataFrame) -> str:
    """README's block: one row per (table, dataset, probes) of :func:`cell_nulls` outputs, then one
    sentence per Table 3 setting on whether the trained CNN beats its untrained twins."""
    header = ["table", "dataset", "probes", "cells", "published", "ours [95% interval]", "independent units",
              "shuffled probes", "untrained twin", "published above all nulls", "ours above shuffled (p < 0.05)",
              "ours - shuffled, in its sds (median)", "ours above twin"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    sentences = []
    for t in map(_published_probes, tables):
        for (tab, dataset, kind, count), g in t.groupby(["table", "dataset", "probe", "n_probes"], sort=False):
            top = g[["null_analytic", "null_shuffled_mean", "null_untrained_mean"]].max(axis=1)
            pub = g.published.notna() & (g.n_probes == g.published_probes)  # published nulls: same probe count
            twin_gap = g.score - g.null_untrained_mean
            lines.append("| " + " | ".join([
                str(tab), dataset, f"{count} {kind}", str(len(g)), f"{g.published.mean():.3f}",
                f"{g.score.mean():.3f} [{g.ci_low.mean():.3f}, {g.ci_high.mean():.3f}]", f"{g.null_analytic.mean():.3f}",
                f"{g.null_shuffled_mean.mean():.3f} (sd {g.null_shuffled_sd.mean():.3f})", f"{g.null_untrained_mean.mean():.3f}",
                f"{int((g.published[pub] > top[pub]).sum())}/{int(pub.sum())}" if pub.any() else
                f"- ({int(g.published_probes.iloc[0])} probes)",
                f"{int((g.p_shuffled < 0.05).sum())}/{len(g)}",
                f"{float(((g.score - g.null_shuffled_mean) / g.null_shuffled_sd).median()):.1f}",
                f"{int((twin_gap > 0).sum())}/{len(g)}"]) + " |")
            if str(tab) == "3":
                sentences.append(
                    f"Table 3, {dataset}, {count} {kind} probes: against its untrained twins the trained CNN scores "
                    f"{twin_gap.mean():+.3f} on average ({int((twin_gap > 0).sum())} of {len(g)} FCNs higher, largest "
                    f"gap {twin_gap.abs().max():.3f}; the probe interval's half-width is "
                    f"{((g.ci_high - g.ci_low) / 2).mean():.3f}), and {(g.score - g.null_shuffled_mean).mean():+.3f} "
                    f"against shuffled probes.")
    return "\n".join(lines) + ("\n\n" + "\n".join(f"- {s}" for s in sentences) if sentences else "")
