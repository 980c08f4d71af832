"""The ``device`` parameter: ``"auto"`` resolves by itself, reaches training, capture, the engine,
the attack and MAS in every study, is recorded in the manifest, and leaves what a CPU run keys
its caches with (checkpoints, stored activations, recipes) as it was before devices existed.

No GPU is needed: a spy stands in for :func:`xcorr_lib.common.devices.torch_device` (every layer
resolves its device through it), records which module asked for which device and answers the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from xcorr_lib.run import pipeline
from xcorr_lib.common import devices, provenance
from xcorr_lib.nets.models import make_model
from xcorr_lib.nets.training import training_conditions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ASKED = "cuda:7"  # no machine here has it: only the spy lets a run through


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """``[(calling module, device asked for)]``; every request is answered with the CPU."""
    calls: list[tuple[str, str]] = []

    def fake(device: object = "auto") -> torch.device:
        calls.append((sys._getframe(1).f_globals["__name__"], str(device)))
        return torch.device("cpu")

    monkeypatch.setattr(devices, "torch_device", fake)
    return calls


def asked_by(calls: list[tuple[str, str]]) -> set[str]:
    return {module.removeprefix("xcorr_lib.") for module, device in calls if device == ASKED}


STAGES = {"nets.training", "nets.capture", "score._inputs", "nets.evaluate"}  # train, capture, score, evaluate


# ---------------------------------------------------------------- resolving


def test_auto_is_a_gpu_when_torch_sees_one_but_never_in_portable_mode(monkeypatch) -> None:
    monkeypatch.delenv("XCORR_PORTABLE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == devices.resolve_device(None) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto") == "cuda" and devices.resolve_device("cpu") == "cpu"
    monkeypatch.setenv("XCORR_PORTABLE", "1")  # same numbers on any x86-64 machine: the CPU
    assert devices.resolve_device("auto") == "cpu" and devices.resolve_device("cuda:1") == "cuda:1"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_one_line_wherever_it_is_asked_for() -> None:
    from xcorr_lib.nets.capture import capture_activations
    from xcorr_lib.nets.training import FCN_RECIPE, train
    from xcorr_lib.score.correlation import neuron_correlation

    net, x = make_model("Net1", seed=0), torch.rand(8, 28, 28)
    acts, layers = capture_activations(net, x, net.unit_modules())
    for call in (lambda: train(net, x, torch.arange(8) % 2, FCN_RECIPE, seed=0, device="cuda"),
                 lambda: capture_activations(net, x, net.unit_modules(), device="cuda"),
                 lambda: neuron_correlation(acts, layers, acts, layers, device="cuda")):
        with pytest.raises(ValueError, match=r"^device 'cuda' requested but CUDA is not available here") as err:
            call()
        assert "\n" not in str(err.value)


# ---------------------------------------------------------------- keys of a CPU run stay the same


def test_cpu_keys_are_unchanged_and_a_gpu_is_part_of_them(monkeypatch) -> None:
    cpu = training_conditions()
    assert training_conditions("cpu") == training_conditions("auto") == cpu and "device" not in cpu
    monkeypatch.setattr(devices, "torch_device", lambda device="auto": torch.device("cuda"))
    assert training_conditions("cuda") == {**cpu, "device": "cuda"}


def test_stored_activations_of_another_device_are_another_file(spy, tmp_path) -> None:
    from xcorr_lib.nets.store import stored_acts

    net, x = make_model("Net1", seed=0), np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    on_cpu, _ = stored_acts(net, x, stem="n", folder=tmp_path)
    assert stored_acts(net, x, stem="n", folder=tmp_path, device="cpu")[0] == on_cpu
    assert "nets.store" in {m.removeprefix("xcorr_lib.") for m, _ in spy}


# ---------------------------------------------------------------- every notebook and profile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_takes_device_and_hands_it_on(path: Path) -> None:
    assert pipeline.notebook_parameters(path).get("device") == '"auto"'
    code = "\n".join(c.source for c in nbformat.read(str(path), as_version=4).cells
                     if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    assert "**ctx.params" in code or "device=device" in code, f"{path.name} never uses its device"


def test_profiles_say_auto_and_the_runner_hands_it_to_every_notebook(tmp_path) -> None:
    profiles = ROOT / "notebooks" / "profiles"
    for profile in pipeline.list_profiles(profiles):
        assert pipeline.profile_options(profile, profiles)["device"] == "auto"
        runs, _ = pipeline.plan(profile, notebooks_dir=ROOT / "notebooks")
        assert runs and all(params["device"] == "auto" for _, _, params in runs)
    runs, _ = pipeline.plan("smoke", notebooks_dir=ROOT / "notebooks", params_override={"device": "cpu"})
    assert {params["device"] for _, _, params in runs} == {"cpu"}
    bad = tmp_path / "profiles"
    bad.mkdir()
    (bad / "x.yaml").write_text("device: gpu\n")
    with pytest.raises(pipeline.ProfileError, match="device must be auto, cpu, cuda or cuda:N"):
        pipeline.profile_options("x", bad)


def test_the_manifest_records_the_device_and_a_cpu_recipe_is_as_before(tmp_path) -> None:
    ctx = provenance.context("00_quickstart", {**_defaults("00_quickstart"), "profile": "smoke"})
    assert ctx.device == "cpu" or ctx.device.startswith("cuda:")
    ctx.save_table(pd.DataFrame({"a": [1]}), "t_device")
    provenance.record(tmp_path / "x.csv", "table", notebook="00_quickstart", params=ctx.params)
    rows = pd.read_csv(provenance.results_dir() / "manifest.csv", keep_default_na=False)
    assert list(rows["device"]) == [ctx.device, ""]
    if ctx.device == "cpu":
        assert rows["recipe"].nunique() == 1  # the CPU is not part of the recipe
    if not torch.cuda.is_available():  # a GPU asked for but absent stops the notebook at its first cell
        with pytest.raises(ValueError, match="^device 'cuda:7' requested"):
            provenance.context("00_quickstart", {**_defaults("00_quickstart"), "profile": "smoke", "device": ASKED})


def _defaults(notebook: str) -> dict:
    import ast

    return {k: ast.literal_eval(v) for k, v in pipeline.notebook_parameters(ROOT / "notebooks" / f"{notebook}.ipynb").items()}


# ---------------------------------------------------------------- the studies hand it on


@pytest.mark.usefixtures("one_torch_thread")
def test_tables_and_the_attack_train_capture_score_and_evaluate_where_asked(spy, shared_data, monkeypatch) -> None:
    from xcorr_lib.score.settings import DEFAULT_SETTINGS
    from xcorr_lib.studies import fcn_tables, transfer_attack

    monkeypatch.setenv("XCORR_DATA_DIR", str(shared_data))
    common = dict(datasets=["fashion-mnist"], protocol={"fashion-mnist": "original"}, n_train=300, n_test=60,
                  fcn_epochs=1, cnn_epochs=1, net4="paper", net4_variants=["paper"], seed=0, progress=False)
    run = fcn_tables.run_tables("cnn", **common, settings=DEFAULT_SETTINGS, original_probe={"fashion-mnist": "noise"},
                                n_probes=10, device=ASKED)
    assert STAGES <= asked_by(spy)
    spy.clear()
    fcn_tables.setting_ablation(run, n_probes=10, device=ASKED)
    assert {"nets.capture", "score._inputs"} <= asked_by(spy)
    spy.clear()
    transfer_attack.run_attack(**common, rounds=1, eps_255=10, substitute_epochs=1, loss="original",
                               substitute_init="fresh", n_probes=10, n_examples=2, device=ASKED)
    assert STAGES | {"nets.attack"} <= asked_by(spy)


@pytest.mark.usefixtures("one_torch_thread")
def test_filter_subspace_audit_and_alignment_hand_the_device_on(spy) -> None:
    from xcorr_lib.measures.mas import train_mas
    from xcorr_lib.nets.capture import capture_all
    from xcorr_lib.nets.hooks import on_device
    from xcorr_lib.studies import alignment_search, audit, filter_subspace as fss

    base, task = fss.Task("base", "digits", seed=0, n_train=200), fss.Task("t", "digits", seed=1, n_train=100)
    models = fss.build_models(base, [task], n_atoms=2, base_epochs=1, finetune_epochs=1, cache=False,
                              progress=False, device=ASKED)
    fss.accuracy_table(models, [base, task], n_test=50, device=ASKED)
    x = np.random.default_rng(0).random((12, 28, 28), dtype=np.float32)
    fss.pair_table(models, {"noise": x}, progress=False, device=ASKED)
    assert STAGES <= asked_by(spy)

    spy.clear()
    nets = on_device({"Net1": make_model("Net1", seed=0), "Net2": make_model("Net2", seed=1)}, ASKED)
    assert asked_by(spy) == {"nets.hooks"}  # MAS and stitching run where on_device put the nets
    layers = {"Net1": "layers.relu0", "Net2": "layers.relu1"}
    alignment_search.pair_measures(nets, layers, x, [("Net1", "Net2")], device=ASKED)
    assert {"score._inputs"} <= asked_by(spy)
    y = np.arange(12) % 3
    assert train_mas(nets, layers, x, y, d=2, steps=2, batch_size=4, seed=0, progress=False).rotations

    spy.clear()
    acts = capture_all(nets, x)
    audit.null_calibration(acts, [("Net1", "Net2")], [6], untrained=acts, device=ASKED)
    audit.probe_size_table({"noise": acts}, [("Net1", "Net2")], [6], device=ASKED)
    audit.seed_runs({0: nets}, x, y, x, [("Net1", "Net2")], device=ASKED)
    assert {"score._inputs", "nets.capture", "nets.evaluate"} <= asked_by(spy)


def test_population_trains_attacks_captures_and_scores_where_asked(spy, monkeypatch) -> None:
    """run_population's calls, each replaced by a recorder of the device it was given."""
    from xcorr_lib.studies.population import workflow

    given: dict[str, object] = {}
    X, y = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32), np.arange(20) % 10
    split = type("S", (), {"X_train": X, "y_train": y, "X_test": X, "y_test": y, "key": {}, "describe": lambda s: "d"})()
    nets = {}

    def train_spec(spec, *a, device=None, **k):
        given["train"] = device
        return nets.setdefault(spec.name, make_model("Net1", seed=len(nets)))

    def attack(*a, device=None, **k):
        given["attack"] = device
        return type("A", (), {"X_adv": X})()

    def evaluate(*a, device=None, **k):
        given["evaluate"] = device
        return pd.DataFrame({"net": list(nets), "acc_clean": 1.0, "acc_attacked": 0.5, "rel_degradation": 0.5})

    def stored(model, probe, *, device=None, **k):
        given["capture"] = device
        return np.zeros((20, 3), np.float32), np.zeros(3, int)

    def matrix(sources, measure, *, device=None, **k):
        given.setdefault("score", device) if measure == "score" else given.setdefault("other", device)
        return pd.DataFrame(0.0, index=list(sources), columns=list(sources))

    for name, fake in {"load_split": lambda *a, **k: split, "train_spec": train_spec, "attack_like_notebook_03": attack,
                       "evaluate_attack": evaluate, "stored_acts": stored, "pair_matrix": matrix}.items():
        monkeypatch.setattr(workflow, name, fake)
    workflow.run_population(dataset="d", protocol="p", n_train=None, n_test=None, size="smoke", n_probes=5,
                            probes=["noise"], measures=["score_paper", "linear_cka"], attack={}, progress=False,
                            device=ASKED)
    assert given == {"train": ASKED, "attack": ASKED, "evaluate": ASKED, "capture": ASKED, "score": ASKED,
                     "other": None}


def test_quickstart_on_cpu_is_what_it_was(one_torch_thread) -> None:
    """auto on this machine gives the same numbers as no device at all (bit-identical on CPU)."""
    from xcorr_lib.nets.capture import capture_activations
    from xcorr_lib.nets.training import FCN_RECIPE, train
    from xcorr_lib.score.correlation import neuron_correlation

    X = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
    y = np.arange(64) % 10
    out = []
    for device in (None, "auto"):
        net = make_model("Net1", seed=0)
        train(net, X, y, FCN_RECIPE.with_epochs(1), seed=0, progress=False, device=device)
        acts, layers = capture_activations(net, X, net.unit_modules(), device=device)
        out.append((acts, neuron_correlation(acts, layers, acts.flip(0), layers, device=device).score))
    if devices.resolve_device("auto") == "cpu":
        assert torch.equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]
