"""Shared test fixtures.

Every test writes into its own temporary results/figures folders, so the suite never
touches the project's ``results/`` or ``figures/``. Real data is read from
``XCORR_DATA_DIR`` or ``../shared/data`` beside the project; tests that need it skip
with a reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The folder with the real data files, or None when this machine has none."""
    candidates = [os.environ.get("XCORR_DATA_DIR"), PROJECT_ROOT.parent / "shared" / "data"]
    for cand in candidates:
        if cand and (Path(cand) / "fashion-mnist").is_dir():
            return Path(cand)
    return None


@pytest.fixture
def shared_data() -> Path:
    """Path of the real data folder; skips the test when it is not on this machine."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data folder not found (set XCORR_DATA_DIR or place ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path_factory.mktemp("xcorr_out")
    monkeypatch.setenv("XCORR_RESULTS_DIR", str(out / "results"))
    monkeypatch.setenv("XCORR_FIGURES_DIR", str(out / "figures"))


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (small tensors on a shared 2-core machine run far
    faster so); the previous thread count is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
