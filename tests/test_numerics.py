"""Portable numerics (common.numerics), recipes (common.fingerprints), IPC kernels (common.kernels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xcorr_lib.common import fingerprints, kernels, numerics

ROOT = Path(__file__).resolve().parents[1]
TRAIN = """
import json, torch
from xcorr_lib.common.fingerprints import model_fingerprint
from xcorr_lib.common.numerics import machine
from xcorr_lib.data import load_dataset
from xcorr_lib.nets.models import CNN, FCN
from xcorr_lib.nets.training import FCN_RECIPE, train
X, y = load_dataset("digits", split="train")
hashes = {}
for name, make in (("fcn", lambda: FCN([32, 16])), ("cnn", lambda: CNN(channels=(4, 8), fc_units=16))):
    torch.manual_seed(0)
    net = make()
    train(net, X[:300], y[:300], FCN_RECIPE.with_epochs(1), seed=0, progress=False)
    hashes[name] = model_fingerprint(net)
print(json.dumps({"hashes": hashes, "capability": machine()["cpu_capability"], "portable": machine()["portable"]}))
"""


def train_in_child(asked: str, portable: bool) -> dict:
    """Train two small nets in a fresh process whose environment asks for ``asked`` kernels."""
    base = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_ENV}
    base.update(ATEN_CPU_CAPABILITY=asked, MKL_CBWR="COMPATIBLE" if asked == "default" else "AUTO")
    env, _ = numerics.numeric_environment(portable, base=base)
    out = subprocess.run([sys.executable, "-c", TRAIN], env=env, capture_output=True, text=True, timeout=300,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not numerics.has_avx2(), reason="portable mode needs an x86-64 CPU with AVX2")
def test_portable_mode_gives_one_weight_hash_whatever_the_machine_asks_for() -> None:
    asks = ["avx512", "default"] if "avx512f" in numerics.cpu_flags() else ["avx2", "default"]
    native = [train_in_child(a, portable=False) for a in asks]
    portable = [train_in_child(a, portable=True) for a in asks]
    assert [p["capability"] for p in portable] == ["AVX2", "AVX2"] and all(p["portable"] for p in portable)
    assert portable[0]["hashes"] == portable[1]["hashes"]
    # the same training asked natively on different kernels gives different weights: the test can fail
    assert native[0]["capability"] != native[1]["capability"]
    assert native[0]["hashes"] != native[1]["hashes"]


def test_a_machine_without_avx2_runs_native_and_says_so(monkeypatch) -> None:
    monkeypatch.setattr(numerics, "has_avx2", lambda: False)
    env, note = numerics.numeric_environment(True, base={"PATH": "/bin", "ATEN_CPU_CAPABILITY": "default"})
    assert env == {"PATH": "/bin", "ATEN_CPU_CAPABILITY": "default", "XCORR_PORTABLE": "0"}
    assert "needs an x86-64 CPU with AVX2" in note and "\n" not in note
    env, note = numerics.numeric_environment(False, base={"PATH": "/bin", **numerics.PORTABLE_ENV})
    assert env == {"PATH": "/bin", "XCORR_PORTABLE": "0"} and note == ""  # a native child of a portable run


def test_machine_names_cpu_kernels_blas_and_mode() -> None:
    info = numerics.machine()
    for key in ("cpu", "cores", "avx2", "portable", "cpu_capability", "torch_blas", "blas", "mkl_cbwr",
                "torch_threads", "pinned"):
        assert key in info
    json.dumps(info)  # JSON-ready
    assert info["portable"] == numerics.is_portable()


def test_recipe_ignores_docs_comments_and_seeds_but_not_code_or_mode(tmp_path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "report" / "book").mkdir(parents=True)
    (pkg / "core.py").write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # note\n')
    (pkg / "report" / "book" / "site.py").write_text("X = 1\n")
    fingerprints.package_fingerprint.cache_clear()

    def recipe(params: dict, portable: bool = True) -> str:
        fingerprints.package_fingerprint.cache_clear()
        return fingerprints.recipe_fingerprint(pkg, None, params, portable)

    first = recipe({"seed": 0, "epochs": 3})
    assert recipe({"seed": 7, "epochs": 3, "profile": "x"}) == first
    assert recipe({"seed": 0, "epochs": 4}) != first and recipe({"seed": 0, "epochs": 3}, False) != first
    (pkg / "core.py").write_text('"""Another doc."""\n\n\ndef f(x):\n    return x + 1\n')
    (pkg / "report" / "book" / "site.py").write_text("X = 2\n")
    assert recipe({"seed": 0, "epochs": 3}) == first
    (pkg / "core.py").write_text("def f(x):\n    return x + 2\n")
    assert recipe({"seed": 0, "epochs": 3}) != first


def test_kernels_run_over_ipc_not_tcp() -> None:
    km = kernels.IPCKernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        info = json.loads(Path(km.connection_file).read_text())
        assert info["transport"] == "ipc" and km.transport == "ipc"
        client.execute("x = 6 * 7", reply=True, timeout=60)
        client.stop_channels()
        folder = Path(km.connection_file).parent
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
    finally:
        km.shutdown_kernel(now=True)
    assert not folder.exists()


@pytest.mark.skipif(not numerics.has_avx2(), reason="portable mode needs an x86-64 CPU with AVX2")
def test_nbval_replays_a_notebook_in_the_mode_it_ran_in(tmp_path) -> None:
    import nbformat
    from types import SimpleNamespace

    path = tmp_path / "ran.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    kernels.mark_numeric_mode(path, {"portable": True, "cpu_capability": "AVX2"})
    assert nbformat.read(str(path), as_version=4).metadata["xcorr"] == {"portable": True, "cpu_capability": "AVX2"}
    saved = dict(os.environ)
    config = SimpleNamespace(_xcorr_environ={k: v for k, v in saved.items() if k not in numerics.PORTABLE_ENV})
    item = SimpleNamespace(parent=SimpleNamespace(path=path), config=config)
    try:
        kernels.pytest_runtest_setup(item)
        assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and os.environ["XCORR_PORTABLE"] == "1"
        kernels.mark_numeric_mode(path, {"portable": False})
        kernels.pytest_runtest_setup(item)
        assert "ATEN_CPU_CAPABILITY" not in os.environ and os.environ["XCORR_PORTABLE"] == "0"
    finally:
        os.environ.clear()
        os.environ.update(saved)
