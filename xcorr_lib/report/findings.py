"""README's "What we found": five findings, each one sentence or two around numbers read from
committed files (the Fashion reference, the population run, the benchmark outputs) or from
code that needs no data (the chance level). The site's findings page gives each at length.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from xcorr_lib.studies import fcn_tables

from . import bench
from .placement import offset, place
from .reference import (FASHION, NULL_TABLES, POPULATION, VERIFICATIONS, published_tables, read_reference,
                        read_verifications, reproduced_elsewhere)

__all__ = ["ci_text", "findings", "recipes_and_machines"]


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


def recipes_and_machines(manifest: pd.DataFrame) -> str:
    """"recipes 01 ab12..., 02 cd34...; machine AMD EPYC, portable (torch AVX2), ..." from a manifest."""
    runs = manifest[manifest["kind"] == "notebook"] if "kind" in manifest else manifest.iloc[:0]
    if "recipe" not in runs or runs["recipe"].isna().all():
        return "recipe and machine not recorded"
    recipes = ", ".join(f"{nb[:2]} `{r}`" for nb, r in runs.groupby("notebook")["recipe"].first().items())
    machines = sorted({(m["cpu"], m["cores"], m["portable"], m["cpu_capability"], m["torch_threads"])
                       for m in runs["machine"].map(json.loads)})
    shown = "; ".join(f"{cpu}, {cores} cores, {'portable' if portable else 'native'} (torch {capability}), "
                      f"{threads} torch threads" for cpu, cores, portable, capability, threads in machines)
    return f"recipes {recipes}; machine{'s' if len(machines) > 1 else ''} {shown}"


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
            f"setting): {'; '.join(parts)}{z}. The seeds share {recipes_and_machines(manifest := read_reference(root / FASHION, 'manifest'))}"
            f"{_verified(root, manifest)}.")


def _verified(root: Path, manifest: pd.DataFrame) -> str:
    """"; rerunning seed 0 (...) gave the same Tables 1-2 byte for byte in 2 of 2 portable reruns, ..."
    from the verification log, ``manifest`` being the seeds' (``""`` when it has no portable rerun)."""
    log = read_verifications(root / VERIFICATIONS)
    portable = log[log["portable"].astype(bool)]
    if portable.empty:
        return ""
    same = portable[portable["identical"].astype(bool)]
    others = reproduced_elsewhere(log, manifest)
    where = f"on {', '.join(others)} too" if others else "none yet on another CPU model"
    return (f"; rerunning seed 0 (`make reference-verify`) gave the same Tables 1-2 byte for byte in {len(same)} of "
            f"{len(portable)} portable reruns, {where}")


#: How the findings name the population's measures.
MEASURE_NAMES = {"score_paper": "the score", "score_original": "the original variant of the score",
                 "linear_cka": "linear CKA", "linear_cka_debiased": "debiased linear CKA", "rsa": "RSA",
                 "mutual_knn": "mutual k-NN", "cknna": "CKNNA"}


def ci_text(row: pd.Series, value: str = "value") -> str:
    """``+0.33 [-0.19, +0.64]``: a row's ``value`` with its ``ci_low`` and ``ci_high``."""
    return f"{row[value]:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def _population(root: Path) -> str:
    pred = pd.read_csv(root / POPULATION / "population_prediction.csv")
    sel = pred[(pred["group"] == "trained") & (pred["reference"] == "best_cnn") & (pred["target"] == "acc_clean")]
    score = sel[sel["measure"] == "score_paper"].set_index("statistic")
    raw, part = score.loc["spearman"], score.loc["partial_spearman"]
    models = pd.read_csv(root / POPULATION / "population_models.csv")
    verdict = ("is no reliable guide to clean accuracy" if raw["ci_low"] <= 0 <= raw["ci_high"] else
               f"{'tracks' if raw['value'] > 0 else 'runs against'} clean accuracy")
    text = (f"Among {int(raw['n_models'])} trained networks of {int(raw['n_clusters'])} families, Spearman rho "
            f"{ci_text(raw)} (cluster bootstrap over families), and {ci_text(part)} once unit count and depth are "
            "partialled out.")
    spearman = sel[sel["statistic"] == "spearman"].set_index("measure")
    best = spearman["value"].abs().idxmax()
    head = f"**Across {len(models)} networks, the score's alignment with the best CNN {verdict}"
    if best != "score_paper":
        diffs = pd.read_csv(root / POPULATION / "population_measure_differences.csv")
        diffs = diffs[(diffs["reference"] == "best_cnn") & (diffs["target"] == "acc_clean")]
        pair = diffs[(diffs["measure_a"] == best) & (diffs["measure_b"] == "score_paper")]
        if len(pair):  # |rho_best| - |rho_score|, as wanted
            gain = pair.iloc[0][["difference", "ci_low", "ci_high"]]
        else:  # the file holds |rho_score| - |rho_best|: turn it around
            pair = diffs[(diffs["measure_a"] == "score_paper") & (diffs["measure_b"] == best)].iloc[0]
            gain = pair[["difference", "ci_low", "ci_high"]].mul(-1).rename({"ci_low": "ci_high", "ci_high": "ci_low"})
        kept = sel[(sel["measure"] == best) & (sel["statistic"] == "partial_spearman")].iloc[0]
        clear = not gain["ci_low"] <= 0 <= gain["ci_high"]
        name = MEASURE_NAMES.get(best, best)
        head += f"; {name}'s {'does better' if clear else 'is the best of the measures, though not clearly'}"
        text += (f" Of the {spearman.index.nunique()} measures, {name}'s alignment tracks clean accuracy most closely: rho {ci_text(spearman.loc[best])}, "
                 f"{ci_text(kept)} partialled, {gain['difference']:.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] "
                 "more |rho| than the score (paired cluster bootstrap).")
    return head + ".** " + text


def _speed(root: Path) -> str:
    path = bench.newest(root, "bench_correlation")
    cases = {case.split(")")[0].lstrip("("): result for case, result, _ in bench.rows(path)}
    text = (f"**Exact, and fast.** The blocked engine returns the formula's number {cases['1']} faster than the "
            f"original per-pair loop, and scores 100,000 x 100,000 units at {cases['3']} "
            f"(`{path.relative_to(root)}`).")
    try:
        pairs = bench.newest(root, "bench_pairs")
    except FileNotFoundError:
        return text
    zoo = {int(m[1]): result for case, result, _ in bench.rows(pairs) if (m := re.match(r"\(2\) (\d+) models,", case))}
    if zoo:
        text += (f" A {max(zoo)}-model pair matrix costs {zoo[max(zoo)]}x the bare matrix products it cannot avoid "
                 f"(`{pairs.relative_to(root)}`).")
    return text


def findings(root: Path) -> str:
    """The README's five findings as a markdown list."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(
        [_chance_level(), _own_nulls(root), _placement(root), _population(root), _speed(root)], 1))
