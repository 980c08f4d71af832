"""README's generated sections, each a function of the project root that returns markdown made
from committed files: the reference runs (:mod:`.reference`), the benchmark outputs under
``benchmarks/results/`` and code that needs no data (the chance levels). :data:`SECTIONS` maps
each README marker to its function; the site's "ours vs paper" page shows some of them too.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import pandas as pd

from xcorr_lib.common.paper import table4 as published_table4
from xcorr_lib.studies import fcn_tables, population, transfer_attack
from xcorr_lib.studies.fcn_tables.null import null_markdown

from . import bench
from .findings import ci_text, findings, recipes_and_machines
from .placement import offset, percentile_of, place
from .reference import (FASHION, MAIN_NET4, NULL_TABLES, POPULATION, VERIFICATIONS, published_tables, read_reference,
                        read_verifications, reference_cpus, reproduced_elsewhere)

__all__ = ["SECTIONS", "spread"]


# --- formatting ------------------------------------------------------------------------

def spread(values: pd.Series, fmt: str = ".3f") -> str:
    """``mean (min-max)`` over seeds; one value alone is printed as it is."""
    if len(values) == 1:
        return format(values.iloc[0], fmt)
    return f"{values.mean():{fmt}} ({values.min():{fmt}}-{values.max():{fmt}})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


# --- the Fashion-MNIST reference run ---------------------------------------------------

CHANCE_LINE = 0.2  # test accuracy below this on 10 classes: the network did not learn


def fashion_setup(root: Path) -> str:
    """Which run the Fashion-MNIST sections come from: seeds, commits, software, run time."""
    folder = root / FASHION
    manifest = read_reference(folder, "manifest")
    runtime = read_reference(folder, "runtime")
    seeds = sorted(manifest["seed"].unique())
    per_seed = runtime[runtime["notebook"].isin(["01_fcn_correlations", "02_cnn_vs_fcn"])].groupby("seed")["seconds"].sum()
    commits = ", ".join(sorted(manifest["git_commit"].astype(str).unique()))
    software = "; ".join(sorted(manifest["software"].dropna().astype(str).unique())) or "software not recorded"
    return (f"Seeds {', '.join(map(str, seeds))} (profile `{manifest['profile'].iloc[0]}`, commits {commits}; "
            f"{software}; {recipes_and_machines(manifest)}). Notebooks 01 + 02 took {spread(per_seed / 60, '.0f')} "
            f"min per seed on 2 cores, most of them beside another reference run (alone, a seed takes the shortest of "
            f"these times); cells show the mean over seeds and, in "
            f"brackets, the lowest and highest value over the seeds. Files: `{FASHION}/`.")


def fashion_verified(root: Path) -> str:
    """The reruns of seed 0's notebook 01 compared byte for byte with the committed Tables 1 and 2
    (``make reference-verify``, logged in :data:`VERIFICATIONS`), and whether any of them ran on
    another CPU model than the reference's."""
    log = read_verifications(root / VERIFICATIONS)
    if log.empty:
        return f"No rerun has been compared with the committed tables yet (no `{VERIFICATIONS}`)."
    manifest = read_reference(root / FASHION, "manifest")
    rows = [[r.date, f"`{r.commit}`", f"{r.cpu}{', AVX-512' if r.avx512 else ', no AVX-512'}, {r.cores} cores",
             str(r.torch_threads), "portable" if r.portable else "native", r.note or "-",
             "identical" if r.identical else f"differ: {r.differing}"] for r in log.itertuples()]
    identical, portable = log["identical"].astype(bool), log["portable"].astype(bool)
    elsewhere = reproduced_elsewhere(log, manifest)
    verdict = (f"Portable reruns were identical on {len(elsewhere)} CPU model{'s' if len(elsewhere) > 1 else ''} other "
               f"than the reference's: {', '.join(elsewhere)}." if elsewhere else
               f"Every rerun so far ran on the reference's CPU model ({', '.join(sorted(reference_cpus(manifest)))}); "
               "a rerun on another x86-64 CPU with AVX2 is still missing.")
    if n := int((~identical & portable).sum()):
        verdict += f" {n} portable rerun{'s' if n > 1 else ''} differed: there the numbers depend on the machine."
    if n := int((~identical & ~portable).sum()):
        verdict += (f" {n} native rerun{'s' if n > 1 else ''} (the negative control: kernels chosen by the CPU) "
                    f"differed, as {'they' if n > 1 else 'it'} should: the comparison can fail.")
    if n := int((identical & ~portable).sum()):
        verdict += f" {n} native rerun{'s' if n > 1 else ''} gave the same bytes: on that CPU native kernels agree with AVX2."
    return (f"{len(log)} rerun{'s' if len(log) > 1 else ''} of seed 0's notebook 01, Tables 1 and 2 compared byte "
            f"for byte with the committed files (`{VERIFICATIONS}`):\n\n"
            + _table(["date", "commit", "machine", "torch threads", "mode", "what differed from the reference run",
                      "Tables 1-2"], rows) + f"\n\n{verdict}")


def _score_cells(scores: pd.DataFrame, keys: list[str], paper: pd.DataFrame) -> tuple[list[list[str]], pd.DataFrame]:
    labels = [("original-code", MAIN_NET4), ("paper-text", MAIN_NET4), ("original-code", "original")]
    rows, main = [], []
    for key, pub in paper.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = [*key, f"{pub['paper_score'].iloc[0]:.3f}"]
        for setting, net4 in labels:
            sel = scores[(scores["setting"] == setting) & (scores["net4"] == net4)]
            for k, v in zip(keys, key):
                sel = sel[sel[k] == v]
            if sel.empty:
                row += ["", ""] + ([""] if (setting, net4) == labels[0] else [])
                continue
            row += [spread(sel["score"]), f"{sel['score'].mean() - pub['paper_score'].iloc[0]:+.3f}"]
            if (setting, net4) == labels[0]:
                row.append(_percentile(pub["paper_score"].iloc[0], sel["score"], 3))
                main.append({"paper": pub["paper_score"].iloc[0], "mean": sel["score"].mean(),
                             "inside": sel["score"].min() <= pub["paper_score"].iloc[0] <= sel["score"].max()})
        rows.append(row)
    return rows, pd.DataFrame(main)


def _percentile(published: float, seeds: pd.Series, decimals: int) -> str:
    """The published value's percentile among our seeds rounded as it was printed
    (:func:`.placement.percentile_of`), "" for one seed."""
    return f"{percentile_of(published, seeds.round(decimals)):.0f}" if len(seeds) > 1 else ""


def _agreement_line(main: pd.DataFrame) -> str:
    diff = main["mean"] - main["paper"]
    rank = main["mean"].rank().corr(main["paper"].rank())
    return (f"`original-code` (seed mean) vs paper: mean |diff| {diff.abs().mean():.3f}, max {diff.abs().max():.3f}, "
            f"Spearman {rank:.2f} between the orderings; the published value lies inside our seed range in "
            f"{int(main['inside'].sum())} of {len(main)} cells.")


def _score_section(root: Path, table: str) -> str:
    folder = root / FASHION
    if table == "2":
        scores = read_reference(folder, "table2_fcn_correlations")
        keys, paper = ["net_a", "net_b"], fcn_tables.compare_table2(scores).dropna(subset=["paper_score"])
    else:
        scores = read_reference(folder, "table3_cnn_vs_fcn")
        keys, paper = ["net"], fcn_tables.compare_table3(scores).dropna(subset=["paper_score"])
    paper = paper[paper["dataset"] == "fashion-mnist"].drop_duplicates(keys)
    rows, main = _score_cells(scores[scores["dataset"] == "fashion-mnist"], keys, paper)
    header = [*keys, "paper", "original-code", "diff", "pct", "paper-text", "diff", "original-code (Net4 [50,50])", "diff"]
    return _table(header, rows) + "\n\n" + _agreement_line(main)


def fashion_table2(root: Path) -> str:
    """Table 2 on Fashion-MNIST: paper beside our settings (mean and range over seeds)."""
    return _score_section(root, "2")


def fashion_table3(root: Path) -> str:
    """Table 3 on Fashion-MNIST: paper beside our settings (mean and range over seeds)."""
    return _score_section(root, "3")


def fashion_accuracy(root: Path) -> str:
    """Test accuracy (%) per net over seeds beside the "before" column of the paper's Table 4."""
    acc = read_reference(root / FASHION, "table3_accuracy")
    acc = acc[acc["dataset"] == "fashion-mnist"]
    t4 = published_table4()
    published = t4[t4["dataset"] == "fashion-mnist"].set_index("net")["paper_acc_clean"]
    rows = []
    for (net4, net), g in acc.groupby(["net4", "net"], sort=False):
        if net4 != MAIN_NET4 and net != "Net4":
            continue
        label = net if net4 == MAIN_NET4 else f"{net} [{'50, 50' if net4 == 'original' else net4}]"
        rows.append([label, f"{published[net]:.1f}", spread(100 * g["test_acc"], ".1f"),
                     f"{100 * g['test_acc'].mean() - published[net]:+.1f}", _percentile(published[net], 100 * g["test_acc"], 1)])
    chance = acc[acc["test_acc"] < CHANCE_LINE]
    notes = [f"{r.net}{'' if r.net4 == MAIN_NET4 else ' [' + r.net4 + ']'} of seed {r.seed} did not learn "
             f"({100 * r.test_acc:.1f}%, chance is 10%)" for r in chance.itertuples()]
    text = ("\n\n" + "; ".join(notes) + ": it counts in the means and ranges of this table and of Tables 2 and 3 above.") if notes else ""
    return _table(["net", "paper", "ours", "diff", "pct"], rows) + text


def fashion_attack(root: Path) -> str:
    """Table 4 on Fashion-MNIST (the seeds that ran notebook 03), the perturbation and the
    relation between alignment and degradation, ours and the paper's."""
    folder = root / FASHION
    t4 = read_reference(folder, "table4_attack")
    t4 = t4[(t4["dataset"] == "fashion-mnist")]
    seeds = sorted(t4["seed"].unique())
    cells = {}
    for (attack, net4, net), g in t4.groupby(["attack", "net4", "net"], sort=False):
        cells[attack, net4, net] = (f"{spread(100 * g['acc_clean'], '.1f')} -> {spread(100 * g['acc_attacked'], '.1f')} "
                                    f"({spread(100 * g['rel_degradation'], '.1f')}%)")
    paper = transfer_attack.compare_with_paper(t4[(t4["attack"] == "main") & (t4["net4"] == MAIN_NET4)
                                                  & (t4["seed"] == seeds[0])]).set_index("net")["paper"]
    inits = t4.groupby("attack")["substitute_init"].first()
    rows = [[net, cells["main", MAIN_NET4, net], cells.get(("beside", MAIN_NET4, net), ""), paper[net]]
            for net in dict.fromkeys(t4["net"])]
    rows.append(["Net4 [50, 50]", cells["main", "original", "Net4"], cells.get(("beside", "original", "Net4"), ""), paper["Net4"]])
    header = ["net", f"ours, substitute `{inits['main']}`", f"ours, substitute `{inits.get('beside', '-')}`", "paper"]
    pert = read_reference(folder, "attack_perturbation")
    pert = pert[(pert["dataset"] == "fashion-mnist") & (pert["attack"] == "main")]
    scores = read_reference(folder, "table3_cnn_vs_fcn")
    scores = scores[(scores["setting"] == "original-code") & (scores["net4"] == MAIN_NET4)
                    & (scores["dataset"] == "fashion-mnist")]
    ours = [transfer_attack.relation_stats(transfer_attack.join_scores(
        t4[(t4["attack"] == "main") & (t4["net4"] == MAIN_NET4) & (t4["seed"] == s)], scores[scores["seed"] == s])).iloc[0]
        for s in seeds]
    published = transfer_attack.relation_stats(transfer_attack.paper_relation(["fashion-mnist"])).iloc[0]
    cleaned = transfer_attack.relation_stats(transfer_attack.paper_relation(["fashion-mnist"], copy_errors=False)).iloc[0]
    minutes = read_reference(folder, "runtime").query("notebook == '03_transfer_attack'")["seconds"] / 60
    text = (f"Seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}. After the last round the mean L-inf "
            f"distance of the main attack is {spread(pert['linf_mean_255'], '.1f')}/255 "
            f"({spread(100 * pert['frac_images_at_bound'], '.0f')}% of images reach the "
            f"{pert['linf_bound_255'].iloc[0]:.0f}/255 bound), mean L2 {spread(pert['l2_mean'], '.2f')}. Across the five "
            f"FCNs, alignment with the CNN (Table 3, original-code) and degradation: Spearman "
            f"{' / '.join(f'{r.spearman:+.1f} (p = {r.spearman_p:.2f})' for r in ours)} here; the paper's own "
            f"Fashion-MNIST columns give {published.spearman:+.1f} as published, {cleaned.spearman:.1f} "
            f"(p = {cleaned.spearman_p:.1f}, four nets) without the copy-error cell of Net5. Notebook 03 (both attacks) "
            f"took {spread(minutes, '.0f')} min on 2 cores.")
    return _table(header, rows) + "\n\n" + text


def _why_outside(protocol: str) -> str:
    """The known reason a published cell can fall outside our seeds: another protocol than the
    original's. (A network that did not learn in some seed only widens our range.)"""
    if protocol != "original":
        return (f"protocol `{protocol}` (the original splits all 70,000 images 75/25; only the test split "
                "is here)")
    return "no known cause"


def fashion_placement(root: Path) -> str:
    """Each published cell's percentile in our seeds, the mean standardized difference per table
    with a leave-one-seed-out interval, and the cells outside our range with their likely cause."""
    tables = published_tables(root)
    acc = next(ours for table, ours, *_ in tables if table.startswith("4"))  # table3_accuracy, Net4 as printed
    protocols, dead = acc.groupby("dataset")["protocol"].first(), acc[acc["test_acc"] < CHANCE_LINE]
    dead_note = "".join(f" {r.net} of seed {r.seed} did not learn ({100 * r.test_acc:.0f}%) and counts, which "
                        f"widens the ranges and SDs of its cells." for r in dead.itertuples())
    rows, outside, n_seeds = [], [], acc["seed"].nunique()
    for table, ours, published, keys, decimals in tables:
        cells = place(ours, published, keys, decimals=decimals)
        for dataset, g in cells.groupby("dataset", sort=False):
            try:
                off = offset(ours[ours["dataset"] == dataset], published[published["dataset"] == dataset], keys,
                             decimals=decimals)
                z = f"{off['mean_z']:+.2f} [{off['low']:+.2f}, {off['high']:+.2f}]"
            except ValueError:  # fewer than 3 seeds
                z = "-"
            rows.append([table, f"{dataset} (`{protocols[dataset]}`)", str(len(g)), f"{g['percentile'].median():.0f}",
                         str(int(g["outside"].sum())), z])
            out = g[g["outside"]]
            if protocols[dataset] != "original" and len(out):  # one cause for all: one line
                side = ("above" if (out["paper"] > out["max"]).all() else
                        "below" if (out["paper"] < out["min"]).all() else "above and below")
                outside.append(f"- Table {table}, {dataset}: {len(out)} of {len(g)} cells, published {side} ours; "
                               f"{_why_outside(protocols[dataset])}.")
                continue
            for _, r in out.iterrows():
                nets = [str(r[k]) for k in keys[1:]]
                z = f"z {r['z']:+.1f}" if pd.notna(r["z"]) else "our seeds agree exactly"
                outside.append(f"- Table {table}, {dataset}, {' -> '.join(nets)}: paper {r['paper']:.{decimals}f}, ours "
                               f"{r['mean']:.{decimals}f} ({r['min']:.{decimals}f}-{r['max']:.{decimals}f}): "
                               f"{z}; {_why_outside(protocols[dataset])}.")
    head = (f"Each published cell among our {n_seeds} seeds (`original-code`, Net4 as printed; Table 4: clean "
            "test accuracy, %; ours rounded as the paper printed). `pct`: the median over the table's cells of "
            "the published value's percentile among our seeds (0 = below every seed, 100 = above). `mean z`: "
            "published minus our mean, over our seed SD, averaged over the cells, with a 95% interval from "
            "leaving out one seed at a time; an interval without 0 is a systematic offset." + dead_note)
    return "\n\n".join([head, _table(["table", "dataset", "cells", "pct", "outside our range", "mean z [95% CI]"], rows),
                         "Outside our range:\n\n" + ("\n".join(outside) if outside else "none")])


# --- the population study (notebook 08, paper profile) --------------------------------

def population_answer(root: Path) -> str:
    """The population's size, run time, the answer per target, the measures compared and the memory claim."""
    folder = root / POPULATION
    models = pd.read_csv(folder / "population_models.csv")
    prediction = pd.read_csv(folder / "population_prediction.csv")
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    minutes = pd.read_csv(folder / "runtime.csv")["seconds"].sum() / 60
    row = manifest[manifest["artifact"].str.endswith("population_models.csv")].iloc[-1]
    pairs = pd.read_csv(folder / "population_reference_pairs.csv")
    main = pairs[(pairs["measure"] == "score_paper") & (pairs["probe"] == pairs["probe"].iloc[0])]
    align = main.set_index("model_a")["value"].drop(main["model_b"].iloc[0])
    diffs = pd.read_csv(folder / "population_measure_differences.csv")
    return "\n\n".join([
        f"Profile `{row['profile']}`, commit {row['git_commit']}, {row['software'] or 'software not recorded'}; "
        f"{recipes_and_machines(manifest)}; {row['data']}. The run that finished notebook 08 took {minutes:.0f} min "
        f"on 2 cores; a run reuses the trained networks, stored activations and finished pair tiles that a stopped "
        f"run left, so a resumed run takes less than a fresh one. Files: `{POPULATION}/`.",
        population.describe_population(models),
        population.describe_prediction(prediction, reference="best_cnn"),
        population.describe_prediction(prediction, reference="mean"),
        _measures_by_reference(prediction),
        "Which measure predicts clean accuracy best (trained networks, best CNN as reference; |rho_a| - |rho_b| "
        "with a paired cluster-bootstrap 95% interval):\n\n" + fcn_tables.markdown_table(diffs, index=False),
        population.describe_memory(population.memory_claim(models, align)),
    ])


def _measures_by_reference(prediction: pd.DataFrame) -> str:
    """Every measure's alignment against clean accuracy (trained networks), with the best CNN and
    with its untrained copy as the reference: how much of an association is likeness to a good
    network, and how much any network's reading of the probes."""
    sel = prediction[(prediction["group"] == "trained") & (prediction["target"] == "acc_clean")]
    refs = [r for r in ("best_cnn", "best_cnn_untrained") if r in set(sel["reference"])]
    cell = {(r["measure"], r["reference"], r["statistic"]): ci_text(r) for _, r in sel.iterrows()}
    models = {r: sel.loc[sel["reference"] == r, "reference_model"].iloc[0] for r in refs}
    rows = [[m, *(cell.get((m, r, stat), "") for r in refs for stat in ("spearman", "partial_spearman"))]
            for m in sel["measure"].unique()]
    header = ["measure", *(f"{models[r]}{' (untrained)' if r.endswith('untrained') else ''}: {label}"
                           for r in refs for label in ("rho", "partialled"))]
    return ("Every measure's alignment against clean accuracy (trained networks; Spearman rho, 95% cluster-bootstrap "
            "interval), with the best CNN and with an untrained copy of it as the reference:\n\n" + _table(header, rows))


# --- code and benchmarks --------------------------------------------------------------

def null_table(root: Path) -> str:
    """The Table 3 chance levels (no data needed)."""
    return null_markdown(fcn_tables.null_paper_settings())


def null_cells(root: Path) -> str:
    """Every published cell of Tables 2 and 3 beside its three nulls, from the lowest seed of the
    Fashion reference (notebooks 01 and 02 write them in every seed)."""
    folder = root / FASHION
    tables = [read_reference(folder, name) for name in NULL_TABLES]
    seed = min(int(t["seed"].min()) for t in tables)
    row = read_reference(folder, "manifest").query("seed == @seed").iloc[-1]
    return (f"From `{FASHION}/seed-{seed}/` (profile `{row['profile']}`, seed {seed}, commit {row['git_commit']}). "
            f"Means over the cells of each row:\n\n"
            + fcn_tables.nulls_markdown(*(t[t["seed"] == seed].drop(columns="seed") for t in tables)))


def bench_table(root: Path, name: str) -> str:
    """The newest ``benchmarks/results/<name>-*.txt``: one table per block of its lines
    (:func:`.bench.blocks`: the ``#`` line is its caption)."""
    path = bench.newest(root, name)
    parts = [f"From `benchmarks/results/{path.name}`:"]
    parts += ["`" + "; ".join(caption) + "`\n\n" + _table(["case", "result", "details"], rows)
              for caption, rows in bench.blocks(path) if rows]
    return "\n\n".join(parts)


SECTIONS: dict[str, Callable[[Path], str]] = {
    "findings": findings,
    "null-table": null_table,
    **{f"bench-{name}": functools.partial(bench_table, name=f"bench_{name}")
       for name in ("correlation", "pairs", "site", "portable")},
    "fashion-setup": fashion_setup, "fashion-verified": fashion_verified,
    "fashion-table2": fashion_table2, "fashion-table3": fashion_table3, "fashion-accuracy": fashion_accuracy,
    "fashion-attack": fashion_attack, "fashion-placement": fashion_placement, "population-answer": population_answer, "null-cells": null_cells,
}
