"""The preflight of `make all`: every input a profile needs, checked in seconds, before any work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xcorr_lib.run import pipeline, preflight

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NOTEBOOKS = ROOT / "notebooks"

pytestmark = pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="needs ../shared/data")


@pytest.fixture
def offline_machine(tmp_path, monkeypatch):
    """This machine as CI sees it: ../shared/data, no cached ImageNet weights, no mirror."""
    monkeypatch.setenv("XCORR_DATA_DIR", str(SHARED))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("XCORR_DATA_MIRROR", raising=False)
    return tmp_path


def _report(profile: str):
    runs, _ = pipeline.plan(profile, notebooks_dir=NOTEBOOKS)
    others = {p: pipeline.plan(p, notebooks_dir=NOTEBOOKS)[0]
              for p in pipeline.list_profiles(NOTEBOOKS / "profiles") if p != profile}
    return preflight.check(profile, runs, other_profiles=others)


def test_the_paper_profile_names_every_missing_input_and_the_profiles_that_run(offline_machine) -> None:
    report = _report("paper")
    assert not report.ok and report.runnable == ["paper-fashion", "smoke"]
    text = report.text()
    for name in ("dataset mnist (protocol 'original')", "train-images-idx3-ubyte.gz", "dataset kmnist",
                 "dataset afro-mnist", "Ethiopic_MNIST_X_train.npy", "pretrained ImageNet weights",
                 "resnet152-", "PROFILE=paper-fashion", "XCORR_DATA_MIRROR"):
        assert name in text, name
    assert "fashion-mnist" not in text  # present in ../shared/data
    assert "t10k-images-idx3-ubyte.gz" not in text.split("dataset kmnist")[0]  # MNIST's test file is here
    assert _report("paper-fashion").ok and _report("smoke").ok


def test_a_local_mirror_folder_counts_as_present(offline_machine, tmp_path, monkeypatch) -> None:
    mirror = tmp_path / "mirror" / "kmnist"
    mirror.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mirror / name).write_bytes(b"a copy")
    monkeypatch.setenv("XCORR_DATA_MIRROR", str(tmp_path / "mirror"))
    text = _report("paper").text()
    assert "dataset kmnist" not in text and "dataset mnist" in text


def test_make_all_stops_before_any_training_with_one_table(offline_machine, tmp_path) -> None:
    env = {**os.environ, "XCORR_RESULTS_DIR": str(tmp_path / "results")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xcorr_lib.run", "--profile", "paper"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and time.perf_counter() - t0 < 60
    assert proc.stderr.count("preflight: profile 'paper' cannot run here") == 1
    assert proc.stderr.count("dataset kmnist") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "results" / "notebooks").exists()  # nothing ran


def test_preflight_and_the_loader_read_one_dataset_plan(monkeypatch) -> None:
    """For every dataset split every profile's notebooks load, the files the preflight checks are
    exactly the files load_dataset asks for (both come from data.datasets.dataset_plan)."""
    from xcorr_lib.data import datasets
    from xcorr_lib.data.availability import needed_files

    asked: list = []

    class Stop(Exception):
        pass

    def fake_ensure(spec, files, **_):
        asked.append([f.filename for f in files])
        raise Stop

    monkeypatch.setattr(datasets, "ensure_files", fake_ensure)
    notebooks = ROOT / "notebooks"
    seen = set()
    for profile in pipeline.list_profiles(notebooks / "profiles"):
        runs, _ = pipeline.plan(profile, notebooks_dir=notebooks)
        for _, path, params in runs:
            splits, _, _ = preflight.notebook_inputs(preflight.full_parameters(path, params))
            seen.update(splits)
    assert {(d, p) for d, _, p in seen} >= {("fashion-mnist", "original"), ("mnist", "test-split"), ("digits", "official")}
    for dataset, split, protocol in sorted(seen):
        asked.clear()
        try:
            datasets.load_dataset(dataset, split, protocol=protocol, download=False)
        except Stop:
            pass
        else:
            assert dataset == "digits"  # embedded in scikit-learn: no file at all
        assert (asked[0] if asked else []) == [f.filename for f in needed_files(dataset, split, protocol)]
