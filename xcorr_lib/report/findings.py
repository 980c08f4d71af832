"""README's "What we found": five findings, each one sentence or two around numbers read from
committed files (the Fashion reference, the population run, the benchmark outputs) or from
code that needs no data (the chance level). The site's findings page gives each at length.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from xcorr_lib.studies import fcn_tables

from .placement import offset, place
from .reference import FASHION, NULL_TABLES, POPULATION, published_tables, read_reference

__all__ = ["findings"]


def _chance_level() -> str:
    null = fcn_tables.null_paper_settings()
    t3 = null[null["table"].astype(str) == "3"]
    ours = t3.drop_duplicates("row").set_index("row")["null_mean"]
    rows = {d: t3[t3["dataset"] == d].set_index("row")["paper"] for d in ("mnist", "kmnist")}
    gap = pd.concat([(rows[d] - ours).abs() for d in rows])
    return ("**Table 3 sits at chance level on MNIST and KMNIST.** Independent random units with the "
            f"widths and depths of Table 3's setting score {' / '.join(f'{v:.3f}' for v in ours)} (Net1-Net5, 10 "
            f"probes, exact); the published MNIST and KMNIST rows differ from that by {gap.mean():.3f} on average "
            f"(at most {gap.max():.3f}).")


def _own_nulls(root: Path) -> str:
    t2, t3 = (read_reference(root / FASHION, name) for name in NULL_TABLES)
    seed = int(min(t2["seed"].min(), t3["seed"].min()))
    t2 = t2[(t2["seed"] == seed) & (t2["dataset"] == "fashion-mnist")]
    t3 = t3[(t3["seed"] == seed) & (t3["dataset"] == "fashion-mnist") & (t3["n_probes"] == 10)]
    sds = ((t2["score"] - t2["null_shuffled_mean"]) / t2["null_shuffled_sd"]).median()
    gap = (t3["score"] - t3["null_untrained_mean"]).mean()
    half = ((t3["ci_high"] - t3["ci_low"]) / 2).mean()
    t2_holds, t3_holds = sds > 3, abs(gap) > half
    head = (f"Table 2 {'holds' if t2_holds else 'does not hold'} and Table 3 "
            f"{'holds' if t3_holds else 'does not'}" if t2_holds != t3_holds else
            f"{'both Tables 2 and 3 hold' if t2_holds else 'neither Table 2 nor Table 3 holds'}")
    return (f"**Against our networks' own nulls, {head}.** On Fashion-MNIST "
            f"(seed {seed}), our Table 2 scores stand a median {sds:.0f} shuffled-probe SDs above that null; with "
            f"Table 3's 10 noise probes the trained CNN scores {gap:+.3f} against untrained CNNs of the same shape "
            f"(probe interval half-width {half:.3f}).")


def _placement(root: Path) -> str:
    parts = []
    for label, ours, published, keys, decimals in published_tables(root)[:2]:  # Tables 2 and 3
        scores = ours[ours["dataset"] == "fashion-mnist"]
        pub = published[published["dataset"] == "fashion-mnist"]
        cells = place(scores, pub, keys, decimals=decimals)
        text = f"Table {label}: {int((~cells['outside']).sum())} of {len(cells)} published cells inside our range"
        if scores["seed"].nunique() >= 3:
            off = offset(scores, pub, keys, decimals=decimals)
            text += f", mean z {off['mean_z']:+.2f} [{off['low']:+.2f}, {off['high']:+.2f}]"
        parts.append(text)
    n_seeds = scores["seed"].nunique()
    z = " (z: published minus our mean in seed SDs, 95% interval over seeds)" if n_seeds >= 3 else ""
    return (f"**The published Fashion-MNIST cells among our {n_seeds} training seeds** (the original code's "
            f"setting): {'; '.join(parts)}{z}.")


def _population(root: Path) -> str:
    pred = pd.read_csv(root / POPULATION / "population_prediction.csv")
    sel = pred[(pred["group"] == "trained") & (pred["measure"] == "score_paper") & (pred["reference"] == "best_cnn")
               & (pred["target"] == "acc_clean")].set_index("statistic")
    raw, part = sel.loc["spearman"], sel.loc["partial_spearman"]
    models = pd.read_csv(root / POPULATION / "population_models.csv")
    verdict = ("is no reliable guide to clean accuracy" if raw["ci_low"] <= 0 <= raw["ci_high"] else
               f"{'tracks' if raw['value'] > 0 else 'runs against'} clean accuracy")
    return (f"**Across {len(models)} networks, alignment with the best CNN {verdict}.** Among "
            f"{int(raw['n_models'])} trained networks of {int(raw['n_clusters'])} families, Spearman rho "
            f"{raw['value']:+.2f} [{raw['ci_low']:+.2f}, {raw['ci_high']:+.2f}] (cluster bootstrap over families), "
            f"and {part['value']:+.2f} [{part['ci_low']:+.2f}, {part['ci_high']:+.2f}] once unit count and depth "
            "are partialled out.")


def _speed(root: Path) -> str:
    files = sorted((root / "benchmarks" / "results").glob("bench_correlation-*.txt"))
    if not files:
        raise FileNotFoundError("no benchmarks/results/bench_correlation-*.txt")
    rows = {m[1]: m for m in re.finditer(r"^\((\d)\).*?\s{2,}(\S.*?)\s{2,}(.*)$", files[-1].read_text(), re.M)}
    return (f"**Exact, and fast.** The blocked engine returns the formula's number {rows['1'][2]} faster than the "
            f"original per-pair loop, and scores 100,000 x 100,000 units at {rows['3'][2]} "
            f"(`{files[-1].relative_to(root)}`).")


def findings(root: Path) -> str:
    """The README's five findings as a markdown list."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(
        [_chance_level(), _own_nulls(root), _placement(root), _population(root), _speed(root)], 1))
