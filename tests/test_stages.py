"""Real models as their libraries name them (nets.layers.choose_layers), the cost line before a run,
the device chosen by itself, and the one-line errors for identical probes and Dask without a main guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from xcorr_lib.cli import command as cli
from xcorr_lib.common.devices import resolve_device
from xcorr_lib.nets.layers import choose_layers, list_layers
from xcorr_lib.nets.models import make_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ROOT = Path(__file__).resolve().parents[1]


def chosen(model: nn.Module, x: torch.Tensor) -> tuple[list[str], str]:
    return choose_layers(model, list_layers(model, x))


def test_timm_models_use_feature_info_without_their_stem() -> None:
    timm = pytest.importorskip("timm")
    x = torch.rand(2, 3, 64, 64)
    names, source = chosen(timm.create_model("resnet18"), x)
    assert names == ["layer1", "layer2", "layer3", "layer4"] and source == "timm feature_info"
    names, source = chosen(timm.create_model("vit_tiny_patch16_224", img_size=64), x)
    assert names == [f"blocks.{i}" for i in range(12)] and source == "timm feature_info"


@pytest.mark.parametrize("build,expected,source", [
    (torchvision.models.densenet121, [f"features.denseblock{i}" for i in range(1, 5)], "DenseNet dense blocks"),
    (torchvision.models.efficientnet_b0, [f"features.{i}" for i in range(1, 8)], "EfficientNet blocks"),
    (torchvision.models.resnet18, ["layer1", "layer2", "layer3", "layer4"], "ResNet stages"),
])
def test_torchvision_families_use_their_known_stages(build, expected, source) -> None:
    names, said = chosen(build(), torch.rand(2, 3, 64, 64))
    assert names == expected and source in said


def test_hf_hidden_states_and_the_fallback_never_picks_plumbing(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    from xcorr_lib.nets.sources import HiddenStates

    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=20, max_position_embeddings=16)
    wrapper = HiddenStates(transformers.BertModel(config), 4).eval()
    wrapper._encoded = {"input_ids": torch.randint(0, 30, (2, 5)), "attention_mask": torch.ones(2, 5, dtype=torch.long)}
    names, source = chosen(wrapper, torch.arange(2))
    assert names == [f"hidden_states.{i}" for i in range(4)] and source == "Hugging Face hidden states"
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.1), nn.Conv2d(4, 4, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    names, source = chosen(net, torch.rand(2, 1, 16, 16))
    assert names == ["0", "1", "4", "5"] and source.startswith("top-level children")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    return tmp_path


def test_cli_layers_says_where_the_choice_came_from(images, capsys) -> None:
    pytest.importorskip("timm")
    assert cli.main(["layers", "timm:resnet18", "--weights", "none", "--probe-dir", str(images), "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 chosen by timm feature_info" in out
    marked = [ln.split()[1] for ln in out.splitlines()[2:] if ln.rstrip().endswith("*")]  # order, module, ...
    assert marked == ["layer1", "layer2", "layer3", "layer4"]


def test_cli_auto_layers_pair_the_residual_stages_with_a_cost_line_first(images, tmp_path, capsys) -> None:
    pytest.importorskip("timm")
    out_json = tmp_path / "r.json"
    rc = cli.main(["compare", "timm:resnet18", "timm:resnet34", "--weights-a", "none", "--weights-b", "none",
                   "--probe-dir", str(images), "--n", "4", "--layers", "auto", "--spatial", "mean", "--quiet",
                   "--json", str(out_json)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "layer1 <-> layer1, layer2 <-> layer2, layer3 <-> layer3, layer4 <-> layer4" in out
    assert "timm feature_info" in out
    assert out.index("cost: A 960 units, B 960 units, 4 probes, 1 engine pass: about") < out.index("score ")
    assert json.loads(out_json.read_text())["device"] == resolve_device("auto") == (
        "cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def fcn_file(tmp_path: Path) -> Path:
    torch.save(make_model("Net1", seed=0), tmp_path / "net.pt")
    return tmp_path / "net.pt"


def compare_fcn(path: Path, *extra: str) -> list[str]:
    return ["compare", str(path), str(path), "--trust-pickle", "--modules-a", "layers.relu0:0", "--modules-b",
            "layers.relu0:0", "--dataset", "digits", "--n", "30", "--quiet", *extra]


def test_a_long_run_says_how_to_be_faster_and_asks_only_at_a_terminal(fcn_file, monkeypatch, capsys) -> None:
    from xcorr_lib.score import cost

    monkeypatch.setattr(cost, "estimate", lambda *a, **k: cost.Cost(600.0, 2**20, 1, 1e9))
    assert cli.main(compare_fcn(fcn_file)) == 0  # not a terminal: no question, it runs
    out = capsys.readouterr().out
    assert "about 10.0 min" in out and "--spatial mean" in out and "score " in out
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert cli.main(compare_fcn(fcn_file)) == 2
    assert "stopped before scoring (pass --yes" in capsys.readouterr().err
    assert cli.main(compare_fcn(fcn_file, "--yes")) == 0


def test_identical_probes_are_one_line(images, tmp_path, capsys) -> None:
    from PIL import Image

    same = tmp_path / "same"
    same.mkdir()
    for i in range(3):
        Image.open(images / "im0.png").save(same / f"copy{i}.png")
    rc = cli.main(["compare", "resnet18", "resnet18", "--weights-a", "none", "--weights-b", "none",
                   "--probe-dir", str(same), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "all 3 probes are the same input after preprocessing" in err


def test_texts_that_tokenize_alike_are_one_line(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    from xcorr_lib.nets.sources import HiddenStates

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat"]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    config = transformers.BertConfig(vocab_size=6, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=8, max_position_embeddings=16)
    wrapper = HiddenStates(transformers.BertModel(config), 2)
    with pytest.raises(ValueError, match="all 2 texts tokenize to the same ids"):
        wrapper.encode_texts(tokenizer, ["The cat", "the CAT"])


def test_dask_from_a_script_without_a_main_guard_is_one_clear_line(tmp_path) -> None:
    script = tmp_path / "noguard.py"
    script.write_text("import numpy as np\nfrom xcorr_lib.measures import pair_matrix\n"
                      "models = {f'm{i}': (np.random.default_rng(i).standard_normal((20, 8)), np.zeros(8, int)) "
                      "for i in range(3)}\npair_matrix(models, scheduler='dask')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode != 0 and "Nanny" not in out.stderr
    assert 'put the code that calls pair_matrix under `if __name__ == "__main__":`' in last
