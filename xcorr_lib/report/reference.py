"""The committed reference runs under ``reference/``: copying a run's small outputs there
(``collect``, ``collect_population``; the ``make reference*`` targets) and reading them back
(:func:`read_reference`). README's generated sections and the site's "ours vs paper" page
both read them through this module.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pandas as pd

from xcorr_lib.common import paper
from xcorr_lib.common.provenance import atomic_write
from xcorr_lib.studies import population

__all__ = ["FASHION", "NULL_TABLES", "POPULATION", "POPULATION_TABLES", "REFERENCE_TABLES", "RecipeMismatch",
           "MAIN_NET4", "VERIFICATIONS", "check_one_recipe", "collect", "collect_seed", "collect_population", "published_tables",
           "read_reference", "read_verifications", "recipes", "recipes_of", "record_verification", "reference_cpus", "reproduced_elsewhere",
           "verification_row"]

NULL_TABLES = ("table2_nulls", "table3_nulls")  # every published cell beside its nulls (notebooks 01, 02)
REFERENCE_TABLES = ("table1_accuracy", "table2_fcn_correlations", "table3_cnn_vs_fcn", "table3_accuracy",
                    "table4_attack", "attack_perturbation", *NULL_TABLES)
FASHION = Path("reference/paper-fashion")


def collect_seed(run: Path, dest: Path, tables: tuple[str, ...] = REFERENCE_TABLES) -> list[Path]:
    """Copy one finished seed's small outputs (``run`` = its results folder, e.g.
    ``results/reference/paper-fashion/seed-3``) to ``dest`` (``reference/paper-fashion/seed-3``).

    Written: the ``tables`` (default :data:`REFERENCE_TABLES`) that exist, ``manifest.csv`` and
    ``runtime.csv`` (``notebook, seconds`` from papermill's metadata of each executed notebook).
    The copy is made beside ``dest`` and then renamed over it, so a killed collect leaves the
    old seed or the new one, never half of each. Returns the files written.
    """
    run, dest = Path(run), Path(dest)
    if not (run / "manifest.csv").is_file():
        raise FileNotFoundError(f"{run} has no manifest.csv: not a finished run")
    partial = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    names = [f"{name}.csv" for name in tables if (run / "tables" / f"{name}.csv").is_file()]
    for name in names:
        shutil.copy2(run / "tables" / name, partial)
    shutil.copy2(run / "manifest.csv", partial)
    times = [{"notebook": nb.stem, "seconds": round(json.loads(nb.read_text())["metadata"]["papermill"]["duration"])}
             for nb in sorted((run / "notebooks").glob("*.ipynb"))]
    pd.DataFrame(times, columns=["notebook", "seconds"]).to_csv(partial / "runtime.csv", index=False)
    old = dest.parent / f".{dest.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    partial.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return [dest / name for name in (*names, "manifest.csv", "runtime.csv")]


def collect(runs: Path, dest: Path, tables: tuple[str, ...] = REFERENCE_TABLES) -> list[Path]:
    """:func:`collect_seed` for every ``runs/seed-*/`` into ``dest/seed-*/``; seeds already
    under ``dest`` that ``runs`` lacks are kept. Returns the files written."""
    seeds = sorted(p for p in Path(runs).glob("seed-*") if p.is_dir())
    if not seeds:
        raise FileNotFoundError(f"no seed-* folders under {runs}; run `make reference` first")
    return [path for run in seeds for path in collect_seed(run, Path(dest) / run.name, tables)]


class RecipeMismatch(ValueError):
    """The seeds of one reference folder were made under different recipes and cannot be pooled."""


def _seed_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in Path(folder).glob("seed-*") if p.is_dir()), key=lambda p: int(p.name[5:]))


def recipes_of(run: Path) -> pd.DataFrame:
    """The recipes one run folder (a ``seed-N`` folder, or the population's) recorded in its
    ``manifest.csv``: columns notebook, recipe ("" where the run recorded none, i.e. made before
    recipes were recorded); empty when the folder has no manifest."""
    path = Path(run) / "manifest.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["notebook", "recipe"])
    manifest = pd.read_csv(path, keep_default_na=False, dtype=str)
    recipe = manifest["recipe"] if "recipe" in manifest else pd.Series("", index=manifest.index)
    notebook = manifest["notebook"] if "notebook" in manifest else pd.Series("", index=manifest.index)
    rows = [{"notebook": nb, "recipe": r} for nb, found in recipe.groupby(notebook, sort=True) for r in sorted(set(found))]
    return pd.DataFrame(rows, columns=["notebook", "recipe"])


def recipes(folder: Path) -> pd.DataFrame:
    """:func:`recipes_of` every seed under ``folder``: columns seed, notebook, recipe."""
    frames = [recipes_of(seed_dir).assign(seed=int(seed_dir.name[5:])) for seed_dir in _seed_dirs(folder)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["seed", "notebook", "recipe"])
    return pd.concat(frames, ignore_index=True)[["seed", "notebook", "recipe"]]


def check_one_recipe(folder: Path) -> None:
    """Raise :class:`RecipeMismatch`, naming the seeds of each recipe, when the seeds under
    ``folder`` ran one notebook under different recipes (or one under none): such seeds are
    rerun under one recipe, never pooled. Checked once per state of the seeds' manifests (a
    render reads many tables of one folder)."""
    manifests = [p / "manifest.csv" for p in _seed_dirs(folder) if (p / "manifest.csv").is_file()]
    _check_one_recipe(str(Path(folder).resolve()),
                      tuple((str(m), st.st_mtime_ns, st.st_size) for m in manifests for st in [m.stat()]))


@functools.lru_cache(maxsize=16)
def _check_one_recipe(folder: str, manifests: tuple) -> None:
    found = recipes(Path(folder))
    problems = []
    for notebook, rows in found.groupby("notebook", sort=True):
        if rows["recipe"].nunique() > 1:
            groups = [f"{recipe or 'no recipe recorded'} (seed{'s' if len(g) > 1 else ''} "
                      f"{', '.join(map(str, sorted(g['seed'])))})" for recipe, g in rows.groupby("recipe", sort=True)]
            problems.append(f"{notebook}: {'; '.join(groups)}")
    if problems:
        raise RecipeMismatch(f"{folder}: seeds made under different recipes cannot be pooled; rerun the "
                             f"odd ones under the current recipe (`make reference`): " + " | ".join(problems))


def read_reference(folder: Path, name: str) -> pd.DataFrame:
    """One table of every seed under ``folder`` stacked, with a ``seed`` column (seeds lacking it
    skipped). Raises :class:`RecipeMismatch` when the seeds' recipes differ (:func:`check_one_recipe`)."""
    check_one_recipe(folder)
    frames = [pd.read_csv(p / f"{name}.csv", keep_default_na=False, na_values=[""]).assign(seed=int(p.name[5:]))
              for p in _seed_dirs(folder) if (p / f"{name}.csv").is_file()]
    if not frames:
        raise FileNotFoundError(f"no {name}.csv under {folder}/seed-*")
    return pd.concat(frames, ignore_index=True)


MAIN_NET4 = "paper"  # the Net4 whose cells are compared with the paper (as printed, [196, 392])


def published_tables(root: Path) -> list[tuple[str, pd.DataFrame, pd.DataFrame, list[str], int]]:
    """(table, ours, published, keys, decimals) for Tables 2, 3 and 4's "before" column: ours per
    cell and seed in ``value`` (``original-code``, Net4 as printed), the paper's in ``paper``."""
    folder = root / FASHION
    acc = read_reference(folder, "table3_accuracy")
    acc = acc[acc["net4"] == MAIN_NET4].assign(value=lambda d: 100 * d["test_acc"])
    main = [read_reference(folder, name).query("setting == 'original-code' and net4 == @MAIN_NET4")
            .rename(columns={"score": "value"}) for name in ("table2_fcn_correlations", "table3_cnn_vs_fcn")]
    t4 = paper.table4().rename(columns={"paper_acc_clean": "paper"})[["dataset", "net", "paper"]]
    return [("2", main[0], paper.table2().rename(columns={"paper_score": "paper"}), ["dataset", "net_a", "net_b"], 3),
            ("3", main[1], paper.table3().rename(columns={"paper_score": "paper"}), ["dataset", "net"], 3),
            ("4, before", acc, t4, ["dataset", "net"], 1)]


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


# --- reruns compared byte for byte with the committed seed (``make reference-verify``) --

VERIFICATIONS = FASHION / "verifications.csv"
VERIFICATION_COLUMNS = ("date", "commit", "recipe", "seed", "cpu", "avx512", "cores", "torch_threads", "portable",
                        "cpu_capability", "note", "identical", "differing")


def verification_row(run: Path, seed: int, problems: list[str], *, avx512: bool, note: str = "") -> dict:
    """One row of :data:`VERIFICATIONS` for a rerun of ``seed`` in the results folder ``run``:
    its commit, recipe and machine as its own ``manifest.csv`` recorded them (the notebook's
    kernel, so the thread count and numeric mode are the run's), ``avx512`` (did the CPU report
    it; portable mode keeps every library at AVX2 either way), the free-text ``note`` (what
    differs from the reference's machine), and the verdict: ``identical`` (bool) and
    ``differing`` (the tables of ``problems``, ``;``-joined)."""
    manifest = pd.read_csv(Path(run) / "manifest.csv", keep_default_na=False, dtype=str)
    notebooks = manifest[manifest["kind"] == "notebook"]
    if notebooks.empty:
        raise ValueError(f"{run}/manifest.csv records no finished notebook: not a finished rerun")
    last = notebooks.iloc[-1]
    machine = json.loads(last["machine"])
    return {"date": last["timestamp"][:10], "commit": last["git_commit"], "recipe": last["recipe"], "seed": seed,
            "cpu": machine["cpu"], "avx512": bool(avx512), "cores": machine["cores"],
            "torch_threads": machine["torch_threads"], "portable": machine["portable"],
            "cpu_capability": machine["cpu_capability"], "note": note, "identical": not problems,
            "differing": "; ".join(p.split(" ", 1)[0] for p in problems)}


def record_verification(path: Path, row: dict) -> Path:
    """Append ``row`` to the log ``path`` (created with :data:`VERIFICATION_COLUMNS`); the file is
    rewritten whole and renamed into place, so a killed write leaves the old log. A rerun of
    uncommitted code (commit ``...-dirty`` or ``unknown``) is refused with a ValueError: its
    row could not say which code it checked."""
    if str(row["commit"]).endswith("-dirty") or row["commit"] in ("", "unknown"):
        raise ValueError(f"not logged: the rerun ran uncommitted code (commit {row['commit'] or 'unknown'}); "
                         "commit or stash your changes and rerun")
    path = Path(path)
    old = read_verifications(path)
    new = pd.DataFrame([row], columns=list(VERIFICATION_COLUMNS))
    log = pd.concat([old, new], ignore_index=True) if len(old) else new
    return atomic_write(path, lambda tmp: log.to_csv(tmp, index=False))


def read_verifications(path: Path) -> pd.DataFrame:
    """The log of byte-for-byte reruns (:data:`VERIFICATION_COLUMNS`); empty when there is none."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=list(VERIFICATION_COLUMNS))
    log = pd.read_csv(path, keep_default_na=False, dtype={"commit": str, "recipe": str, "note": str, "differing": str})
    if missing := [c for c in VERIFICATION_COLUMNS if c not in log]:
        raise ValueError(f"{path}: columns {missing} missing; expected {list(VERIFICATION_COLUMNS)}")
    return log[list(VERIFICATION_COLUMNS)]


def reference_cpus(manifest: pd.DataFrame) -> set[str]:
    """The CPU models that the seeds' ``manifest`` (:func:`read_reference` of ``"manifest"``) recorded."""
    return {json.loads(m)["cpu"] for m in manifest["machine"].dropna() if m}


def reproduced_elsewhere(log: pd.DataFrame, manifest: pd.DataFrame) -> list[str]:
    """The CPU models, other than those the seeds' ``manifest`` recorded, on which a portable
    rerun of the verification ``log`` gave the same bytes."""
    same = log["identical"].astype(bool) & log["portable"].astype(bool)
    return sorted(set(log.loc[same, "cpu"]) - reference_cpus(manifest))
