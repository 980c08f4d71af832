"""README sections made from committed result files (``make readme``, ``make readme-check``).

Every number the README quotes from a run sits between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` and is made here from files in the repository: the reference runs
under ``reference/`` (small CSVs, their manifest and run times, copied there by
``collect`` from a ``make reference`` run), the benchmark outputs under
``benchmarks/results/``, and code that needs no data (the chance levels). ``--write``
rewrites those sections; ``--check`` exits 1, naming each section that differs, when the
README and the files disagree (``make test`` runs it).

    python -m xcorr_lib.readme --check
    python -m xcorr_lib.readme --write
    python -m xcorr_lib.readme collect results/reference/paper-fashion reference/paper-fashion
    python -m xcorr_lib.readme collect-population results/reference/population reference/population
    python -m xcorr_lib.readme collect-nulls results/reference/nulls reference/nulls
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

from xcorr_lib.common.paper import table4 as published_table4
from xcorr_lib.common.provenance import atomic_write, project_root
from xcorr_lib.studies import fcn_tables, population, transfer_attack
from xcorr_lib.studies.fcn_tables.null import null_markdown

__all__ = ["SECTIONS", "render", "update", "check", "collect", "main"]

REFERENCE_TABLES = ("table1_accuracy", "table2_fcn_correlations", "table3_cnn_vs_fcn", "table3_accuracy",
                    "table4_attack", "attack_perturbation")
NULL_TABLES, NULLS = ("table2_nulls", "table3_nulls"), Path("reference/nulls")  # make reference-nulls
MARK = re.compile(r"<!-- (?P<name>[a-z0-9-]+):start -->\n(?:(?P<body>.*?)\n)?<!-- (?P=name):end -->", re.S)


# --- collecting a run ----------------------------------------------------------------

def collect(runs: Path, dest: Path, tables: tuple[str, ...] = REFERENCE_TABLES) -> list[Path]:
    """Copy the small outputs of ``runs/seed-*/`` (a ``make reference`` run) to ``dest/seed-*/``.

    Per seed: the ``tables`` (default :data:`REFERENCE_TABLES`) that exist, ``manifest.csv`` and
    ``runtime.csv`` (``notebook, seconds`` from papermill's metadata of each executed
    notebook). ``dest`` is replaced as a whole. Returns the files written.
    """
    seeds = sorted(p for p in Path(runs).glob("seed-*") if p.is_dir())
    if not seeds:
        raise FileNotFoundError(f"no seed-* folders under {runs}; run `make reference` first")
    if Path(dest).exists():
        shutil.rmtree(dest)
    written = []
    for run in seeds:
        out = Path(dest) / run.name
        out.mkdir(parents=True)
        for name in tables:
            if (run / "tables" / f"{name}.csv").is_file():
                written.append(Path(shutil.copy2(run / "tables" / f"{name}.csv", out)))
        written.append(Path(shutil.copy2(run / "manifest.csv", out)))
        times = [{"notebook": nb.stem, "seconds": round(json.loads(nb.read_text())["metadata"]["papermill"]["duration"])}
                 for nb in sorted((run / "notebooks").glob("*.ipynb"))]
        pd.DataFrame(times, columns=["notebook", "seconds"]).to_csv(out / "runtime.csv", index=False)
        written.append(out / "runtime.csv")
    return written


def read_reference(folder: Path, name: str) -> pd.DataFrame:
    """One table of every seed under ``folder`` stacked, with a ``seed`` column (seeds lacking it skipped)."""
    frames = [pd.read_csv(p / f"{name}.csv", keep_default_na=False, na_values=[""]).assign(seed=int(p.name[5:]))
              for p in sorted(Path(folder).glob("seed-*")) if (p / f"{name}.csv").is_file()]
    if not frames:
        raise FileNotFoundError(f"no {name}.csv under {folder}/seed-*")
    return pd.concat(frames, ignore_index=True)


POPULATION = Path("reference/population")
POPULATION_TABLES = ("population_models", "population_prediction", "population_measure_differences")


def collect_population(run: Path, dest: Path) -> list[Path]:
    """Copy the small outputs of a paper-profile run of notebook 08 (``run`` = its results
    folder) to ``dest``: :data:`POPULATION_TABLES`, ``manifest.csv``, ``runtime.csv``, and
    ``population_reference_pairs.csv``, the rows of ``population_pairs.csv`` whose
    ``model_b`` is the best CNN (each model's alignment with the reference). ``dest`` is
    replaced as a whole."""
    run, dest = Path(run), Path(dest)
    if not (run / "tables" / "population_models.csv").is_file():
        raise FileNotFoundError(f"no tables/population_models.csv under {run}; run `make reference-population` first")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    written = [Path(shutil.copy2(run / "tables" / f"{n}.csv", dest)) for n in POPULATION_TABLES]
    written.append(Path(shutil.copy2(run / "manifest.csv", dest)))
    models = pd.read_csv(dest / "population_models.csv")
    pairs = pd.read_csv(run / "tables" / "population_pairs.csv")
    ref = population.references(models)["best_cnn"]
    pairs[pairs["model_b"] == ref].to_csv(dest / "population_reference_pairs.csv", index=False)
    nb = json.loads((run / "notebooks" / "08_population.ipynb").read_text())
    pd.DataFrame([{"notebook": "08_population", "seconds": round(nb["metadata"]["papermill"]["duration"])}]
                 ).to_csv(dest / "runtime.csv", index=False)
    return [*written, dest / "population_reference_pairs.csv", dest / "runtime.csv"]


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

FASHION = Path("reference/paper-fashion")
CHANCE_LINE = 0.2  # test accuracy below this on 10 classes: the network did not learn
MAIN_NET4 = "paper"


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
            f"{software}). Notebooks 01 + 02 took {spread(per_seed / 60, '.0f')} min per seed "
            f"on 2 cores with two seeds running at once; cells show the mean over seeds and, in brackets, the "
            f"lowest and highest value over the seeds. Files: `{FASHION}/`.")


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
                row += ["", ""]
                continue
            row += [spread(sel["score"]), f"{sel['score'].mean() - pub['paper_score'].iloc[0]:+.3f}"]
            if (setting, net4) == labels[0]:
                main.append({"paper": pub["paper_score"].iloc[0], "mean": sel["score"].mean(),
                             "inside": sel["score"].min() <= pub["paper_score"].iloc[0] <= sel["score"].max()})
        rows.append(row)
    return rows, pd.DataFrame(main)


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
    header = [*keys, "paper", "original-code", "diff", "paper-text", "diff", "original-code (Net4 [50,50])", "diff"]
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
                     f"{100 * g['test_acc'].mean() - published[net]:+.1f}"])
    chance = acc[acc["test_acc"] < CHANCE_LINE]
    notes = [f"{r.net}{'' if r.net4 == MAIN_NET4 else ' [' + r.net4 + ']'} of seed {r.seed} did not learn "
             f"({100 * r.test_acc:.1f}%, chance is 10%)" for r in chance.itertuples()]
    text = ("\n\n" + "; ".join(notes) + ": it counts in the means and ranges of this table and of Tables 2 and 3 above.") if notes else ""
    return _table(["net", "paper", "ours", "diff"], rows) + text


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
        f"{row['data']}. Notebook 08 took {minutes:.0f} min on 2 cores (training, attack, every pair matrix). "
        f"Files: `{POPULATION}/`.",
        population.describe_population(models),
        population.describe_prediction(prediction, reference="best_cnn"),
        population.describe_prediction(prediction, reference="mean"),
        "Which measure predicts clean accuracy best (trained networks, best CNN as reference; |rho_a| - |rho_b| "
        "with a paired cluster-bootstrap 95% interval):\n\n" + fcn_tables.markdown_table(diffs, index=False),
        population.describe_memory(population.memory_claim(models, align)),
    ])


# --- code and benchmarks --------------------------------------------------------------

def null_table(root: Path) -> str:
    """The Table 3 chance levels (no data needed)."""
    return null_markdown(fcn_tables.null_paper_settings())


def null_cells(root: Path) -> str:
    """Every published cell of Tables 2 and 3 beside its three nulls (``make reference-nulls``)."""
    folder = root / NULLS
    row, minutes = read_reference(folder, "manifest").iloc[-1], read_reference(folder, "runtime")["seconds"].sum() / 60
    return (f"From `{NULLS}/` (profile `{row['profile']}`, seed {row['seed']}, commit {row['git_commit']}; notebooks "
            f"01 + 02 took {minutes:.0f} min on 2 cores). Means over the cells of each row:\n\n"
            + fcn_tables.nulls_markdown(*(read_reference(folder, name) for name in NULL_TABLES)))


def bench_table(root: Path, name: str) -> str:
    """The newest ``benchmarks/results/<name>-*.txt``: one table per block of its lines (a
    ``#`` line opens a block and becomes its caption; a line starting with ``(`` is a row)."""
    files = sorted((root / "benchmarks" / "results").glob(f"{name}-*.txt"))
    if not files:
        raise FileNotFoundError(f"no benchmarks/results/{name}-*.txt")
    blocks: list[tuple[list[str], list[list[str]]]] = []
    for line in files[-1].read_text().splitlines():
        if line.startswith("#") or not blocks:
            blocks.append(([line.lstrip("# ").strip()], []))
        elif line.startswith("("):
            blocks[-1][1].append(re.split(r"\s{2,}", line.strip(), maxsplit=2))
        elif line.strip():
            blocks[-1][0].append(line.strip())
    parts = [f"From `benchmarks/results/{files[-1].name}`:"]
    parts += ["`" + "; ".join(caption) + "`\n\n" + _table(["case", "result", "details"], rows)
              for caption, rows in blocks if rows]
    return "\n\n".join(parts)


SECTIONS: dict[str, Callable[[Path], str]] = {
    "null-table": null_table,
    **{f"bench-{name}": functools.partial(bench_table, name=f"bench_{name}")
       for name in ("correlation", "pairs", "site", "portable")},
    "fashion-setup": fashion_setup,
    "fashion-table2": fashion_table2, "fashion-table3": fashion_table3, "fashion-accuracy": fashion_accuracy,
    "fashion-attack": fashion_attack, "population-answer": population_answer, "null-cells": null_cells,
}


# --- README ----------------------------------------------------------------------------

def render(root: Path | None = None) -> dict[str, str]:
    """Every generated section's text, from the files under ``root`` (default: the project)."""
    root = Path(root or project_root())
    return {name: make(root) for name, make in SECTIONS.items()}


def update(text: str, sections: dict[str, str]) -> str:
    """``text`` with each marked section's body replaced; a marker without a section is an error."""
    def replace(m: re.Match) -> str:
        if m["name"] not in sections:
            raise KeyError(f"README marks a section {m['name']!r} that no code makes; known: {sorted(sections)}")
        return f"<!-- {m['name']}:start -->\n{sections[m['name']]}\n<!-- {m['name']}:end -->"

    return MARK.sub(replace, text)


def marked_sections(text: str) -> dict[str, str]:
    """{name: body} of every marked section in ``text`` (an empty section's body is "")."""
    return {m["name"]: m["body"] or "" for m in MARK.finditer(text)}


def check(readme: Path, sections: dict[str, str]) -> list[str]:
    """Names of the sections whose README text differs from ``sections`` (and of sections the README lacks)."""
    found = marked_sections(readme.read_text())
    return [name for name in sections if found.get(name) != sections[name]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xcorr_lib.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=["collect", "collect-population", "collect-nulls"],
                        help="copy a reference run's small files")
    parser.add_argument("paths", nargs="*", help="collect: RUNS DEST")
    parser.add_argument("--check", action="store_true", help="exit 1 when README and the files disagree")
    parser.add_argument("--write", action="store_true", help="rewrite README's generated sections")
    parser.add_argument("--readme", type=Path, default=None, help="default: README.md of the project")
    args = parser.parse_args(argv)
    if args.action:
        runs, dest = (Path(p) for p in args.paths)
        files = (collect_population(runs, dest) if args.action == "collect-population"
                 else collect(runs, dest, NULL_TABLES if args.action == "collect-nulls" else REFERENCE_TABLES))
        print(f"{len(files)} files -> {dest}")
        return 0
    readme = args.readme or project_root() / "README.md"
    sections = render()
    if args.write:
        atomic_write(readme, lambda tmp: tmp.write_text(update(readme.read_text(), sections)))
        print(f"README: {len(sections)} sections written")
        return 0
    stale, in_readme = check(readme, sections), marked_sections(readme.read_text())
    for name in stale:
        found = in_readme.get(name)
        print(f"README section {name!r} " + ("is missing" if found is None else "differs from its files:"))
        if found is not None:
            sys.stdout.writelines(difflib.unified_diff(found.splitlines(True), sections[name].splitlines(True),
                                                       "README", "files", n=0))
            print()
    if stale:
        print("run `make readme` to regenerate, or fix the files")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
