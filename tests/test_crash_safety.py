"""A killed run never leaves a file a later run trusts; reruns give byte-identical tables.

Real processes, real SIGKILL: a training process killed in the middle of writing its
checkpoint, a notebook run killed in the middle of the notebook, then reruns compared
with uninterrupted runs. And the same profile and seed run twice (two smoke notebooks)
give byte-identical table CSVs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

TRAIN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    from xcorr_lib.nets.training import Recipe, load_or_train
    if sys.argv[1] == "die":
        real_save = torch.save
        def dying_save(obj, f):  # half a checkpoint reaches the disk, then the process is killed
            real_save(obj, f)
            with open(f, "r+b") as fh:
                fh.truncate(os.path.getsize(f) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 28, 28), dtype=np.float32), rng.integers(0, 10, 200)
    net = load_or_train("Net1", X, y, Recipe("sgd", 0.1, 2, 32), seed=3, key={"dataset": "crash-test"},
                        progress=False)
    print("trained" if net.train_history_ is not None else "?", net.checkpoint_path_)
""")


SHARED = ROOT.parent / "shared" / "data"


def _env(results: Path) -> dict:
    data = {"XCORR_DATA_DIR": str(SHARED)} if SHARED.is_dir() and "XCORR_DATA_DIR" not in os.environ else {}
    return {**os.environ, **data, "XCORR_RESULTS_DIR": str(results), "XCORR_ROOT": str(ROOT),
            "PYTHONWARNINGS": "always"}


def test_killed_while_writing_a_checkpoint_leaves_nothing_trusted(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    run = [sys.executable, "-c", TRAIN]
    died = subprocess.run([*run, "die"], env=_env(killed), capture_output=True, text=True, timeout=300)
    assert died.returncode == -signal.SIGKILL
    ckpt = killed / "checkpoints"
    assert not list(ckpt.glob("Net1-*.pt")), "a half-written checkpoint sits under its final name"
    assert len(list(ckpt.glob(".Net1-*.tmp.pt"))) == 1  # the partial temporary file, never read
    again = subprocess.run([*run, "ok"], env=_env(killed), capture_output=True, text=True, timeout=300, check=True)
    subprocess.run([*run, "ok"], env=_env(clean), capture_output=True, text=True, timeout=300, check=True)
    (a,), (b,) = list(ckpt.glob("Net1-*.pt")), list((clean / "checkpoints").glob("Net1-*.pt"))
    assert a.name == b.name and "retraining" not in again.stderr
    sa, sb = torch.load(a, weights_only=True)["state_dict"], torch.load(b, weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sb)  # the rerun trained exactly what an uninterrupted run did


def test_a_corrupt_checkpoint_is_retrained_with_a_warning_naming_it(tmp_path: Path) -> None:
    run = [sys.executable, "-c", TRAIN, "ok"]
    subprocess.run(run, env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=True)
    (path,) = list((tmp_path / "checkpoints").glob("Net1-*.pt"))
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])  # e.g. a file copied in half
    out = subprocess.run(run, env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=True)
    assert f"could not read checkpoint {path.name}" in out.stderr and "retraining" in out.stderr
    assert torch.load(path, weights_only=True)["state_dict"].keys() == torch.load(
        __import__("io").BytesIO(good), weights_only=True)["state_dict"].keys()


NOTEBOOK_BODY = '''
from pathlib import Path
import time
import numpy as np
import pandas as pd
from xcorr_lib.common import provenance
from xcorr_lib.nets.evaluate import evaluate
from xcorr_lib.nets.training import Recipe, load_or_train
ctx = provenance.context("01_crash", globals(), notebooks_dir=Path.cwd())
rng = np.random.default_rng(seed)
X, y = rng.random((300, 28, 28), dtype=np.float32), rng.integers(0, 10, 300)
net = load_or_train("Net2", X, y, Recipe("sgd", 0.1, 2, 32), seed=seed, key={"dataset": "crash"}, progress=False)
ctx.save_table(pd.DataFrame({"acc": [evaluate(net, X, y)], "w": [float(net.layers.fc0.weight.sum())]}), "first")
Path(marker).write_text("halfway") if marker else None
time.sleep(pause)
ctx.save_table(pd.DataFrame({"w2": [float(net.layers.out.weight.abs().sum())]}), "second")
'''


def _notebook_project(tmp_path: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbs = tmp_path / "notebooks"
    (nbs / "profiles").mkdir(parents=True)
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell('profile = "smoke"\nseed = 0\npause = 0\nmarker = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(NOTEBOOK_BODY)]
    nbformat.write(nb, str(nbs / "01_crash.ipynb"))
    (nbs / "profiles" / "t.yaml").write_text("01_crash: {}\n")
    return nbs


def _pipeline(nbs: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xcorr_lib.run", "--profile", "t", "--notebooks", str(nbs),
            "--out", str(results / "notebooks"), "--no-progress", "--no-preflight", *extra]


@pytest.mark.slow
def test_killed_in_the_middle_of_a_notebook_then_rerun_gives_the_same_tables(tmp_path: Path) -> None:
    nbs = _notebook_project(tmp_path)
    killed, clean, marker = tmp_path / "killed", tmp_path / "clean", tmp_path / "halfway"
    proc = subprocess.Popen(_pipeline(nbs, killed, "--param", "pause=120", "--param", f"marker={marker}"),
                            env=_env(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the notebook never reached its middle"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel, mid-notebook
    proc.wait(timeout=30)
    assert (killed / "tables" / "first.csv").is_file() and not (killed / "tables" / "second.csv").exists()
    subprocess.run(_pipeline(nbs, killed), env=_env(killed), capture_output=True, timeout=300, check=True)
    subprocess.run(_pipeline(nbs, clean), env=_env(clean), capture_output=True, timeout=300, check=True)
    for name in ("first.csv", "second.csv"):
        assert (killed / "tables" / name).read_bytes() == (clean / "tables" / name).read_bytes(), name
    assert not list((killed / "tables").glob(".*.tmp*"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["00_quickstart", "04_imagenet_partial"])
def test_the_same_profile_and_seed_twice_give_byte_identical_tables(tmp_path: Path, notebook: str) -> None:
    runs = []
    for k in range(2):  # separate results folders: nothing is reused from a cache
        results = tmp_path / f"run{k}"
        cmd = [sys.executable, "-m", "xcorr_lib.run", "--profile", "smoke", "--only", notebook,
               "--out", str(results / "notebooks"), "--no-progress"]
        env = {**_env(results), "XCORR_FIGURES_DIR": str(results / "figures")}
        subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=600, check=True)
        runs.append({p.name: p.read_bytes() for p in sorted((results / "tables").glob("*.csv"))})
    assert runs[0] and runs[0] == runs[1]
