"""The committed reference runs under ``reference/``: copying a run's small outputs there
(``collect``, ``collect_population``; the ``make reference*`` targets) and reading them back
(:func:`read_reference`). README's generated sections and the site's "ours vs paper" page
both read them through this module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from xcorr_lib.studies import population

__all__ = ["FASHION", "NULLS", "NULL_TABLES", "POPULATION", "POPULATION_TABLES", "REFERENCE_TABLES", "collect",
           "collect_population", "read_reference"]

REFERENCE_TABLES = ("table1_accuracy", "table2_fcn_correlations", "table3_cnn_vs_fcn", "table3_accuracy",
                    "table4_attack", "attack_perturbation")
NULL_TABLES, NULLS = ("table2_nulls", "table3_nulls"), Path("reference/nulls")  # make reference-nulls
FASHION = Path("reference/paper-fashion")


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
