"""Tests for xcorr_lib.nets.zoo: registry, stages, weights handling (all with weights=None)."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch

from xcorr_lib.nets import zoo
from xcorr_lib.studies import imagenet_partial as ip

# Hand-written expectations (torchvision architectures at 224 px) to check stage_units.
EXPECTED_PAPER_STAGE = {
    "resnet18": (512, 7, 7), "resnet34": (512, 7, 7), "resnet50": (2048, 7, 7),
    "resnet101": (2048, 7, 7), "resnet152": (2048, 7, 7),
    "densenet121": (512, 7, 7), "densenet161": (1056, 7, 7), "densenet169": (640, 7, 7),
    "densenet201": (896, 7, 7),
    "efficientnet_b0": (40, 28, 28), "efficientnet_b1": (40, 28, 28),
    "efficientnet_b2": (48, 28, 28), "efficientnet_b3": (48, 28, 28),
    "efficientnet_b4": (56, 28, 28),
}


def test_registry_lists_the_papers_models() -> None:
    assert set(zoo.MODELS) == set(EXPECTED_PAPER_STAGE)
    assert zoo.family_models("resnet") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert len(zoo.family_models("densenet")) == 4
    assert len(zoo.family_models("efficientnet")) == 5
    assert {m.paper_stage for m in zoo.MODELS.values() if m.family == "densenet"} == {"features.transition3"}
    assert set(zoo.EFFICIENTNET_THIRD_STAGE_READINGS) == {"features.2", "features.3"}


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_every_stage_exists_in_the_built_model(name: str) -> None:
    model = zoo.load_model(name, weights=None)
    names = {n for n, _ in model.named_modules()}
    entry = zoo.MODELS[name]
    assert entry.paper_stage in entry.stages
    missing = [s for s in entry.stages if s not in names]
    assert not missing, f"{name}: stages {missing} are not modules of the torchvision model"
    assert not model.training
    assert model.xcorr_weights == "random-init(seed=0)"
    assert zoo.stage_units(name, entry.paper_stage) == EXPECTED_PAPER_STAGE[name]


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "efficientnet_b0"])
def test_stage_units_and_truncate_match_a_full_forward(name: str) -> None:
    model = zoo.load_model(name, weights=None)
    modules = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    for stage in zoo.MODELS[name].stages:
        modules[stage].register_forward_hook(lambda _m, _i, out, s=stage: seen.__setitem__(s, out))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        model(x)
        for stage in zoo.MODELS[name].stages:
            assert zoo.stage_units(name, stage, input_size=64) == tuple(seen[stage].shape[1:])
        reference = dict(seen)  # the hooks stay on and would overwrite `seen`
        entry = zoo.MODELS[name]
        for stage in {entry.stages[0], entry.paper_stage, entry.stages[-1]}:
            part = zoo.truncate(model, stage)
            assert stage in dict(part.named_modules())
            assert torch.equal(part(x), reference[stage]), stage
    with pytest.raises(ValueError, match="cannot truncate"):
        zoo.truncate(model, "a.b.c")


def test_channel_zero_of_resnet_layer4_gives_the_originals_49_units() -> None:
    from xcorr_lib.nets.capture import capture_activations

    model = zoo.load_model("resnet18", weights=None)
    acts, layers = capture_activations(model, torch.rand(3, 3, 224, 224), {"layer4": 0}, channels=[0])
    assert tuple(acts.shape) == (3, 49)
    assert set(layers.tolist()) == {0}
    c, h, w = zoo.stage_units("resnet18", "layer4")
    assert h * w == 49 and c == 512


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="resnet18.*efficientnet_b4"):
        zoo.load_model("resnet19", weights=None)
    with pytest.raises(ValueError, match="layer4"):
        zoo.stage_units("resnet18", "layer5")
    with pytest.raises(ValueError, match="features.transition3"):
        zoo.check_stage("densenet121", "transition3")
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        zoo.resolve_weights("resnet18", "IMAGENET1K_V2")  # resnet18 has only V1
    with pytest.raises(ValueError, match="resnet, densenet, efficientnet"):
        zoo.family_models("vgg")


def test_weight_names_resolve() -> None:
    assert zoo.resolve_weights("resnet50", "default").name == "IMAGENET1K_V2"  # Weights.DEFAULT, as the original
    assert zoo.resolve_weights("resnet50", "DEFAULT").name == "IMAGENET1K_V2"
    assert zoo.resolve_weights("resnet50", "IMAGENET1K_V1").name == "IMAGENET1K_V1"  # still there by name
    assert [zoo.default_weights(n) for n in ("resnet18", "resnet101", "resnet152", "efficientnet_b1",
                                             "densenet121")] == ["IMAGENET1K_V1", "IMAGENET1K_V2", "IMAGENET1K_V2",
                                                                 "IMAGENET1K_V2", "IMAGENET1K_V1"]
    assert zoo.resolve_weights("resnet50", "IMAGENET1K_V2").name == "IMAGENET1K_V2"
    assert zoo.resolve_weights("resnet50", "ResNet50_Weights.IMAGENET1K_V2").name == "IMAGENET1K_V2"
    assert zoo.resolve_weights("resnet50", None) is None
    assert zoo.weights_label("resnet50", None, seed=4) == "random-init(seed=4)"
    assert zoo.available_weights("efficientnet_b1") == ["IMAGENET1K_V1", "IMAGENET1K_V2"]


def test_random_init_is_seeded_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = zoo.load_model("resnet18", weights=None, seed=1)
    assert torch.equal(torch.rand(1), before)
    b = zoo.load_model("resnet18", weights=None, seed=1)
    c = zoo.load_model("resnet18", weights=None, seed=2)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def _offline(*_args: object, **_kwargs: object) -> None:
    raise urllib.error.URLError("no internet (test)")


def test_offline_without_cache_names_file_url_and_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    with pytest.raises(zoo.WeightsUnavailableError) as info:
        zoo.load_model("resnet18")
    msg = str(info.value)
    folder = tmp_path / "hub" / "checkpoints"
    assert "resnet18-f37072fd.pth" in msg
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in msg
    assert str(folder) in msg
    assert "no internet (test)" in msg
    assert not any(folder.glob("*")), "a failed download must not leave files behind"
    with pytest.raises(zoo.WeightsUnavailableError, match="download=False"):
        zoo.load_model("densenet121", download=False)


def test_cached_weights_are_loaded_without_network(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    source = zoo.load_model("resnet18", weights=None, seed=7)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(source.state_dict(), folder / "resnet18-f37072fd.pth")
    model = zoo.load_model("resnet18")
    assert model.xcorr_weights == "IMAGENET1K_V1"
    assert torch.equal(model.fc.weight, source.fc.weight)


class _FakeResponse(io.BytesIO):
    def __enter__(self) -> "_FakeResponse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_fetch_checks_the_hash_prefix(tmp_path, monkeypatch) -> None:
    payload = b"not really a checkpoint"
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(payload))
    good = tmp_path / f"net-{digest[:8]}.pth"
    zoo._fetch("https://example.invalid/x.pth", good, timeout=1)
    assert good.read_bytes() == payload
    bad = tmp_path / "net-00000000.pth"
    with pytest.raises(OSError, match="hash"):
        zoo._fetch("https://example.invalid/x.pth", bad, timeout=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name]



def _brute_symmetric(a: np.ndarray, b: np.ndarray) -> float:
    """One depth per model: mean over units of the best |r|, both ways, constant units -> 0."""
    def side(x: np.ndarray, y: np.ndarray) -> float:
        best = []
        for u in range(x.shape[1]):
            rs = [0.0 if min(x[:, u].std(), y[:, v].std()) == 0 else abs(np.corrcoef(x[:, u], y[:, v])[0, 1])
                  for v in range(y.shape[1])]
            best.append(max(rs))
        return float(np.mean(best))
    return 0.5 * (side(a, b) + side(b, a))


def test_partial_correlation_table_matches_hooks_and_brute_force() -> None:
    torch.manual_seed(0)
    images = torch.rand(6, 3, 96, 96)
    table = ip.partial_correlation_table({"resnet": ["resnet18", "resnet34"]}, images, weights=None,
                                          units_mode="original", seed=5, progress=False)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.model_a, row.model_b, row.stage_a, row.n_probes) == ("resnet18", "resnet34", "layer4", 6)
    assert row.units == "9/9" and row.weights == "random-init(seed=5)" and row.units_mode == "original"
    acts = {}
    for name in ("resnet18", "resnet34"):
        model = zoo.load_model(name, weights=None, seed=5)
        got = {}
        model.layer4.register_forward_hook(lambda _m, _i, o: got.__setitem__("x", o))
        with torch.no_grad():
            model(images)
        acts[name] = got["x"][:, 0].flatten(1).double().numpy()  # channel 0: 3x3 positions
    assert row.score == pytest.approx(_brute_symmetric(acts["resnet18"], acts["resnet34"]), abs=1e-5)
    assert 0 < row.null_independent < 1


def test_each_pair_can_stand_beside_its_nulls_and_interval() -> None:
    """With n_null, a pair also gets its shuffled-probe and untrained-twin nulls (B with a fresh
    random init, here beside random-init models) and its probe interval; the score is unchanged."""
    torch.manual_seed(0)
    images = torch.rand(6, 3, 96, 96)
    plain = ip.partial_correlation_table({"resnet": ["resnet18", "resnet34"]}, images, weights=None,
                                         units_mode="original", seed=5, progress=False)
    table = ip.partial_correlation_table({"resnet": ["resnet18", "resnet34"]}, images, weights=None,
                                         units_mode="original", seed=5, progress=False, n_null=20, n_twins=2, n_boot=20)
    row = table.iloc[0]
    assert row.score == plain.iloc[0].score and row.ci_low <= row.score <= row.ci_high
    assert 0 < row.p_shuffled <= 1 and 0 < row.p_untrained <= 1 and row.null_shuffled_sd > 0
    twin = zoo.load_model("resnet34", weights=None, seed=ip.derive_seed(5, "twin", "resnet34", 0))
    assert not torch.equal(twin.conv1.weight, zoo.load_model("resnet34", weights=None, seed=5).conv1.weight)


def test_full_mode_subsamples_units_per_stage_with_a_seed() -> None:
    model = zoo.load_model("efficientnet_b0", weights=None)
    images = torch.rand(4, 3, 64, 64)
    full, layers = ip.stage_activations(model, images, "features.3", units_mode="full")
    c, h, w = zoo.stage_units("efficientnet_b0", "features.3", input_size=64)
    assert full.shape == (4, c * h * w) == (4, 40 * 8 * 8) and set(layers.tolist()) == {0}
    sub1, _ = ip.stage_activations(model, images, "features.3", units_mode="full", units_per_stage=100, seed=1)
    sub2, _ = ip.stage_activations(model, images, "features.3", units_mode="full", units_per_stage=100, seed=1)
    assert sub1.shape == (4, 100) and torch.equal(sub1, sub2)
    cols = {tuple(full[:, j].tolist()) for j in range(full.shape[1])}
    assert all(tuple(sub1[:, j].tolist()) in cols for j in range(100))
    with pytest.raises(ValueError, match="original, full"):
        ip.stage_activations(model, images, "features.3", units_mode="half")
    with pytest.raises(ValueError, match="applies to units_mode='full'"):
        ip.stage_activations(model, images, "features.3", units_per_stage=10)


def test_pair_matrix_is_symmetric_with_blank_diagonal() -> None:
    table = pd.DataFrame({"family": ["resnet"] * 3, "model_a": ["resnet18", "resnet18", "resnet34"],
                          "model_b": ["resnet34", "resnet50", "resnet50"], "score": [0.1, 0.2, 0.3]})
    mat = ip.pair_matrix(table, "resnet")
    assert list(mat.index) == ["resnet18", "resnet34", "resnet50"]
    assert mat.loc["resnet50", "resnet34"] == mat.loc["resnet34", "resnet50"] == 0.3
    assert np.isnan(np.diag(mat.to_numpy())).all()
