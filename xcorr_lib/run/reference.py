"""``make reference`` and ``make reference-population``: the README's reference runs, resumable.

Each seed of ``paper-fashion`` (notebooks 01 and 02; 03 too for the first seed) runs in its
own results folder, ``results/reference/paper-fashion/seed-N/``, in portable mode; when it
finishes, its small files are copied to ``reference/paper-fashion/seed-N/``
(:func:`xcorr_lib.report.reference.collect_seed`), ready to commit. A seed whose committed
files were made under the recipe this code would record (:func:`expected_recipes`) is
skipped, so a stopped run loses at most the seeds in progress, and a change that alters the
recipe reruns every seed rather than mixing them. ``--jobs 2`` runs two seeds side by side;
on 2 cores that was slower than one after another (a seed's torch ops use every core, so two
seeds oversubscribe them: about 23 min per seed beside another run, 6 min alone).

    python -m xcorr_lib.run.reference fashion --seeds 0-9 --jobs 1
    python -m xcorr_lib.run.reference fashion --seeds 0-9 --dry-run   # what would run
    python -m xcorr_lib.run.reference population
    python -m xcorr_lib.run.reference verify --seeds 0 --note "Intel, no AVX-512"   # same bytes elsewhere?
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from xcorr_lib.common import devices, numerics, provenance
from xcorr_lib.report import reference
from xcorr_lib.run import pipeline

__all__ = ["PROFILE", "SEED_NOTEBOOKS", "FIRST_SEED_NOTEBOOKS", "VERIFY_TABLES", "compare_tables", "expected_recipes",
           "pending_seeds", "parse_seeds", "run_seed", "verify", "main"]

PROFILE = "paper-fashion"
SEED_NOTEBOOKS = ("01_fcn_correlations", "02_cnn_vs_fcn")
FIRST_SEED_NOTEBOOKS = (*SEED_NOTEBOOKS, "03_transfer_attack")  # the attack runs for the lowest seed only
POPULATION_NOTEBOOKS = ("08_population",)


def expected_recipes(notebooks: Sequence[str], seed: int | None = None, *, profile: str = PROFILE,
                     portable: bool = True, notebooks_dir: Path | None = None) -> dict[str, str]:
    """{notebook: recipe} that a run of ``notebooks`` with ``profile`` (and ``seed``), portable
    or native, would record here, computed without running (the runner's own plan and
    parameters; ``tests/smoke`` checks it against what the smoke run recorded)."""
    notebooks_dir = Path(notebooks_dir or provenance.project_root() / "notebooks")
    override = {} if seed is None else {"seed": seed}
    runs, _ = pipeline.plan(profile, notebooks_dir=notebooks_dir, only=list(notebooks), params_override=override)
    env, _ = numerics.numeric_environment(portable)
    portable = env.get("XCORR_PORTABLE") == "1"
    out = {}
    with numerics.environment(env):
        for name, path, params in runs:
            effective = provenance.effective_parameters(path, params)
            device = devices.describe_device(effective["device"]) if "device" in effective else ""
            out[name] = provenance.run_recipe(name, effective, portable=portable, device=device)
    return out


def _collected(folder: Path) -> dict[str, set[str]]:
    found = reference.recipes_of(folder)
    return {nb: set(rows["recipe"]) for nb, rows in found.groupby("notebook")}


def seed_notebooks(seed: int, seeds: Sequence[int]) -> tuple[str, ...]:
    return FIRST_SEED_NOTEBOOKS if seed == min(seeds) else SEED_NOTEBOOKS


def pending_seeds(seeds: Sequence[int], dest: Path = reference.FASHION) -> dict[int, str]:
    """{seed: why it must run} for the ``seeds`` whose files under ``dest`` are missing or were
    made under another recipe than :func:`expected_recipes`; the others are done."""
    root = provenance.project_root()
    pending = {}
    for seed in seeds:
        want = expected_recipes(seed_notebooks(seed, seeds), seed)
        have = _collected(root / dest / f"seed-{seed}")
        if not have:
            pending[seed] = "not collected yet"
        elif stale := [nb for nb, recipe in want.items() if have.get(nb) != {recipe}]:
            pending[seed] = f"{', '.join(stale)} made under another recipe"
    return pending


def _run(notebooks: Sequence[str], out: Path, log: Path, seed: int | None, portable: bool = True) -> None:
    """One run of ``notebooks`` (portable unless told) into the fresh results folder ``out`` (its log: ``log``)."""
    shutil.rmtree(out, ignore_errors=True)  # a stopped run's leftovers are never trusted
    out.mkdir(parents=True)
    env = {**os.environ, "XCORR_RESULTS_DIR": str(out), "XCORR_FIGURES_DIR": str(out / "figures")}
    cmd = [sys.executable, "-m", "xcorr_lib.run", "--profile", PROFILE, "--portable" if portable else "--no-portable",
           "--only", *notebooks,
           "--out", str(out / "notebooks"), "--no-progress"]
    if seed is not None:
        cmd += ["--param", f"seed={seed}"]
    with log.open("w") as fh:
        code = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                              cwd=provenance.project_root()).returncode
    if code:
        raise RuntimeError(f"{' '.join(notebooks)} failed (exit {code}); see {log}")


def run_seed(seed: int, seeds: Sequence[int], runs: Path, dest: Path) -> list[Path]:
    """Run one seed into ``runs/seed-N`` and collect it into ``dest/seed-N``; returns the files
    collected. Raises when the run fails or recorded another recipe than expected."""
    notebooks = seed_notebooks(seed, seeds)
    out = runs / f"seed-{seed}"
    _run(notebooks, out, runs / f"seed-{seed}.log", seed)
    files = reference.collect_seed(out, dest / f"seed-{seed}")
    want, have = expected_recipes(notebooks, seed), _collected(dest / f"seed-{seed}")
    if odd := [nb for nb in want if have.get(nb) != {want[nb]}]:
        raise RuntimeError(f"seed {seed}: {', '.join(odd)} recorded another recipe than expected; "
                           f"was the code edited during the run?")
    return files


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0 1 5"`` or ``"0,2-4"`` -> sorted distinct seeds."""
    seeds: set[int] = set()
    for part in text.replace(",", " ").split():
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"seeds: {part!r} is not N or N-M")
        seeds.update(range(int(lo), int(hi or lo) + 1))
    if not seeds:
        raise ValueError("seeds: none given")
    return sorted(seeds)


def fashion(seeds: Sequence[int], jobs: int, dry_run: bool) -> int:
    root = provenance.project_root()
    runs, dest = root / "results" / "reference" / PROFILE, root / reference.FASHION
    pending = pending_seeds(seeds)
    for seed in seeds:
        print(f"seed {seed}: {pending.get(seed, 'done under the current recipe, skipped')}", flush=True)
    if dry_run or not pending:
        return 0
    start, failed = time.perf_counter(), []

    def one(seed: int) -> None:
        t0 = time.perf_counter()
        try:
            run_seed(seed, seeds, runs, dest)
            print(f"seed {seed}: collected into {dest / f'seed-{seed}'} in "
                  f"{(time.perf_counter() - t0) / 60:.0f} min; commit it", flush=True)
        except Exception as err:  # one seed's failure does not stop the others
            failed.append(seed)
            print(f"seed {seed}: {err}", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, sorted(pending)))
    print(f"{len(pending) - len(failed)} of {len(pending)} seeds done in "
          f"{(time.perf_counter() - start) / 60:.0f} min" + (f"; failed: {failed}" if failed else ""), flush=True)
    return 1 if failed else 0


def population(dry_run: bool) -> int:
    root = provenance.project_root()
    run, dest = root / "results" / "reference" / "population", root / reference.POPULATION
    want = expected_recipes(POPULATION_NOTEBOOKS)
    if _collected(dest) == {nb: {recipe} for nb, recipe in want.items()}:
        print("population: done under the current recipe, skipped")
        return 0
    print("population: to run")
    if dry_run:
        return 0
    _run(POPULATION_NOTEBOOKS, run, run.parent / "population.log", None)
    files = reference.collect_population(run, dest)
    print(f"population: {len(files)} files -> {dest}; commit them")
    return 0


#: What a rerun on another machine must reproduce byte for byte (no timing column in either).
VERIFY_TABLES = ("table1_accuracy", "table2_fcn_correlations")


def compare_tables(ours: Path, committed: Path, names: Sequence[str] = VERIFY_TABLES) -> list[str]:
    """The ``names`` whose ``<name>.csv`` under ``ours`` differs from (or lacks) the one under
    ``committed``, each with the first differing line; empty when all are byte-identical."""
    problems = []
    for name in names:
        a, b = Path(ours) / f"{name}.csv", Path(committed) / f"{name}.csv"
        if not a.is_file() or not b.is_file():
            problems.append(f"{name}.csv missing from {a.parent if not a.is_file() else b.parent}")
            continue
        if a.read_bytes() != b.read_bytes():
            lines = zip(a.read_text().splitlines(), b.read_text().splitlines())
            first = next(((i, x, y) for i, (x, y) in enumerate(lines, 1) if x != y), None)
            problems.append(f"{name}.csv differs" + (f" at line {first[0]}: {first[1]!r} here, {first[2]!r} committed"
                                                     if first else " in length"))
    return problems


def verify(seed: int, note: str = "", record: bool = True, portable: bool = True) -> int:
    """Rerun notebook 01 of ``seed`` (portable unless ``portable=False``) and compare :data:`VERIFY_TABLES` with the
    committed reference byte for byte: the check that the numbers do not depend on the machine.
    The verdict, with the machine as the rerun recorded it and ``note``, is appended to
    ``reference/paper-fashion/verifications.csv`` (``record``), ready to commit; 0 when identical.
    ``portable=False`` is the negative control: native kernels (AVX-512 where the CPU has it)
    should give other bytes, which shows that the comparison can fail."""
    root = provenance.project_root()
    committed = root / reference.FASHION / f"seed-{seed}"
    want = expected_recipes(SEED_NOTEBOOKS[:1], seed)
    if _collected(committed).get(SEED_NOTEBOOKS[0]) != {want[SEED_NOTEBOOKS[0]]}:
        print(f"error: {committed} was not made under this code's recipe; nothing to compare", file=sys.stderr)
        return 2
    out = root / "results" / "reference" / "verify" / f"seed-{seed}"
    print(f"rerunning {SEED_NOTEBOOKS[0]} of seed {seed} on {numerics.machine().get('cpu', '?')} -> {out}", flush=True)
    _run(SEED_NOTEBOOKS[:1], out, out.parent / f"seed-{seed}.log", seed, portable)
    problems = compare_tables(out / "tables", committed)
    for line in problems:
        print(line)
    print("identical" if not problems else f"{len(problems)} of {len(VERIFY_TABLES)} tables differ")
    if record:
        row = reference.verification_row(out, seed, problems, avx512="avx512f" in numerics.cpu_flags(), note=note)
        try:
            log = reference.record_verification(root / reference.VERIFICATIONS, row)
            print(f"recorded in {log.relative_to(root)}; commit it")
        except ValueError as err:
            print(err, file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xcorr_lib.run.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["fashion", "population", "verify"],
                        help="verify: rerun notebook 01 of the first --seeds seed and compare it byte for byte")
    parser.add_argument("--seeds", default="0-9", help="paper-fashion seeds, e.g. 0-9 or '0 3 5' (default 0-9)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds side by side (default 1: one seed already uses every core)")
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    parser.add_argument("--note", default="", help="verify: what sets this machine apart, kept in the log")
    parser.add_argument("--no-record", action="store_true", help="verify: leave reference/.../verifications.csv as it is")
    parser.add_argument("--native", action="store_true",
                        help="verify: rerun in native mode, a negative control that should differ on a CPU with AVX-512")
    args = parser.parse_args(argv)
    try:
        if args.what == "population":
            return population(args.dry_run)
        if args.what == "verify":
            return verify(parse_seeds(args.seeds)[0], args.note, not args.no_record, portable=not args.native)
        return fashion(parse_seeds(args.seeds), args.jobs, args.dry_run)
    except (ValueError, RuntimeError, pipeline.ProfileError) as err:  # a failed run names its log
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
