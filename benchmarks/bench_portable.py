"""What portable numerics cost: notebook 01 run natively and in portable mode, in one run.

For each profile, notebook 01 (the five FCNs of Table 1 trained, then scored) runs twice in
fresh results folders (no checkpoint is reused), once ``--no-portable`` and once
``--portable``, alternating so both see the same machine load. Reported: wall time of
each run, their ratio, the vector level each run's manifest records, and how far the two
runs' Table 1 accuracies lie apart (portable mode trains with other kernels, so the weights
differ from a native run's; what it buys is the same weights on every x86-64 machine).

Usage::

    python benchmarks/bench_portable.py [--profiles smoke,paper-fashion] [--keep DIR]

Timings depend on the machine and its load; print the table, don't assert on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_fcn_correlations"
#: As the Makefile: the shared data folder beside the clone when present, else ./data.
DATA = ROOT.parent / "shared" / "data" if (ROOT.parent / "shared" / "data").is_dir() else ROOT / "data"


def run_once(profile: str, portable: bool, folder: Path) -> dict:
    """Notebook 01 of ``profile`` in ``folder`` (fresh); wall seconds, mode recorded, accuracies."""
    env = {"XCORR_DATA_DIR": str(DATA), **os.environ, "XCORR_RESULTS_DIR": str(folder),
           "XCORR_FIGURES_DIR": str(folder / "figures")}
    cmd = [sys.executable, "-m", "xcorr_lib.run", "--profile", profile, "--only", NOTEBOOK, "--out",
           str(folder / "notebooks"), "--no-progress", "--no-preflight", "--portable" if portable else "--no-portable"]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    manifest = pd.read_csv(folder / "manifest.csv")
    machine = json.loads(manifest.loc[manifest["kind"] == "notebook", "machine"].iloc[-1])
    accuracy = pd.read_csv(folder / "tables" / "table1_accuracy.csv")
    return {"seconds": seconds, "capability": machine["cpu_capability"], "portable": machine["portable"],
            "accuracy": accuracy}


def accuracy_gap(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest absolute difference of test and validation accuracy between two Table 1 files, in points."""
    return 100 * max(float((a[c] - b[c]).abs().max()) for c in ("test_acc", "valid_acc"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="smoke,paper-fashion", help="comma-separated profiles")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        rows = []
        for k, profile in enumerate(args.profiles.split(","), 1):
            native = run_once(profile, False, base / f"{profile}-native")
            portable = run_once(profile, True, base / f"{profile}-portable")
            rows.append((f"({k}) {profile}, notebook {NOTEBOOK}, portable / native",
                         f"{portable['seconds'] / native['seconds']:.2f}x",
                         f"native {native['seconds']:.0f} s ({native['capability']}), portable "
                         f"{portable['seconds']:.0f} s ({portable['capability']}, portable={portable['portable']}); "
                         f"Table 1 accuracies differ by up to {accuracy_gap(native['accuracy'], portable['accuracy']):.2f} "
                         "points between the modes"))
    print(f"load average {load:.1f}, {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows)
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:>8}  {detail}")


if __name__ == "__main__":
    main()
