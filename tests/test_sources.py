"""Model sources through the real loaders, offline: tiny transformers models built from configs
and saved with save_pretrained, a timm ResNet with pretrained=False, safetensors files,
torch.export programs; `xcorr layers`, `--layers auto`, `--map` and the chance-corrected score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xcorr_lib import neuron_correlation
from xcorr_lib.cli import command as cli
from xcorr_lib.measures.layer_map import layer_map, map_matrices
from xcorr_lib.nets.capture import capture_activations
from xcorr_lib.nets.layers import candidate_layers, list_layers, pair_by_depth
from xcorr_lib.nets.model_files import ModelFileError
from xcorr_lib.nets.sources import load_source

transformers = pytest.importorskip("transformers")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"the a cat dog sat on mat ran fast slow red blue big small".split()]
TEXTS = ["the cat sat on the mat", "a dog ran fast", "the big red dog", "a small blue cat sat", "the mat",
         "dog dog cat", "a slow cat", "the blue mat ran", "big dog on a mat", "red cat blue dog"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders as save_pretrained writes them: a 2-layer BERT (+ tokenizer), a 2-layer ViT (+ image processor)."""
    root = tmp_path_factory.mktemp("hub")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    bert = transformers.BertModel(transformers.BertConfig(vocab_size=len(VOCAB), max_position_embeddings=64, **small))
    bert.save_pretrained(root / "bert")
    transformers.BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "bert")
    vit = transformers.ViTModel(transformers.ViTConfig(image_size=32, patch_size=8, **small))
    vit.save_pretrained(root / "vit")
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "vit")
    (root / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    return {"bert": root / "bert", "vit": root / "vit", "texts": root / "texts.txt", "root": root}


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 10)).eval()


def permuted(net: nn.Sequential, seed: int = 1) -> nn.Sequential:
    """A functionally identical copy whose first two hidden layers' units are permuted."""
    out = mlp()
    out.load_state_dict(net.state_dict())
    g = torch.Generator().manual_seed(seed)
    p1, p2 = torch.randperm(24, generator=g), torch.randperm(16, generator=g)
    with torch.no_grad():
        out[1].weight.copy_(net[1].weight[p1]), out[1].bias.copy_(net[1].bias[p1])
        out[3].weight.copy_(net[3].weight[p2][:, p1]), out[3].bias.copy_(net[3].bias[p2])
        out[5].weight.copy_(net[5].weight[:, p2])
    return out


def export(net: nn.Module, path: Path) -> Path:
    batch = torch.export.Dim("batch", min=2)
    program = torch.export.export(net, (torch.rand(4, 1, 28, 28),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return path


# ------------------------------------------------------------------ the loaders
def test_hf_text_model_against_itself_scores_one(hub) -> None:
    src = load_source(f"hf:{hub['bert']}", local_files_only=True)
    assert src.kind == "hf" and src.inputs == "text"
    assert list(src.default_modules) == ["hidden_states.0", "hidden_states.1", "hidden_states.2"]
    probe = src.model.encode_texts(src.model.tokenizer, TEXTS)
    acts, layers = capture_activations(src.model, probe, src.default_modules, batch_size=4)
    assert acts.shape == (len(TEXTS), 3 * 32)
    for matching in ("semi", "one-to-one"):
        assert neuron_correlation(acts, layers, acts, layers, matching=matching).score == pytest.approx(1.0, abs=1e-5)


def test_hf_image_model_uses_its_image_processor(hub, tmp_path) -> None:
    from PIL import Image

    src = load_source(f"hf:{hub['vit']}", local_files_only=True)
    assert src.inputs == "images" and src.image_transform is not None
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    assert tuple(src.image_transform(img).shape) == (3, 32, 32)
    acts, _ = capture_activations(src.model, torch.rand(6, 3, 32, 32), src.default_modules)
    assert acts.shape == (6, 3 * 32)


def test_hf_missing_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="cannot load hf:"):
        load_source(f"hf:{tmp_path / 'nothing'}", local_files_only=True)


def test_timm_safetensors_and_export_round_trips(tmp_path) -> None:
    from safetensors.torch import save_file

    timm_model = load_source("timm:resnet18", weights="none", seed=3)
    assert timm_model.kind == "timm" and "layer1.0.conv1" in timm_model.valid
    save_file(timm_model.model.state_dict(), str(tmp_path / "r18.safetensors"))
    again = load_source(str(tmp_path / "r18.safetensors"), arch="timm:resnet18")
    x = torch.rand(4, 3, 32, 32)
    a, la = capture_activations(timm_model.model, x, {"layer3": 0, "layer4": 1})
    b, lb = capture_activations(again.model, x, {"layer3": 0, "layer4": 1})
    assert torch.equal(a, b)
    with pytest.raises(ModelFileError, match="--arch"):
        load_source(str(tmp_path / "r18.safetensors"))
    with pytest.raises(ModelFileError, match="does not fit"):
        load_source(str(tmp_path / "r18.safetensors"), arch="resnet34")
    net = mlp()
    exported = load_source(str(export(net, tmp_path / "mlp.pt2")))
    assert exported.kind == "export"
    got, _ = capture_activations(exported.model, torch.rand(9, 1, 28, 28), {"2": 0, "4": 1})
    assert got.shape == (9, 40)


def test_permuted_copy_scores_one_under_both_matchings(tmp_path) -> None:
    from safetensors.torch import save_file

    net, twin = mlp(), permuted(mlp())
    x = torch.rand(80, 1, 28, 28)
    assert torch.allclose(net(x), twin(x), atol=1e-5)  # the same function
    save_file(twin.state_dict(), str(tmp_path / "twin.safetensors"))
    a = load_source(str(export(net, tmp_path / "net.pt2")))
    mods = {"2": 0, "4": 1}
    acts_a, la = capture_activations(a.model, x, mods)
    acts_b, lb = capture_activations(twin, x, mods)
    for matching in ("semi", "one-to-one"):
        res = neuron_correlation(acts_a, la, acts_b, lb, matching=matching, constant="exclude")  # dead ReLUs: dead in both
        assert res.score == pytest.approx(1.0, abs=1e-5), matching
        assert res.chance_corrected > 0.3


# ------------------------------------------------------------------ layers and maps
def test_list_layers_candidates_and_pairing() -> None:
    table = list_layers(mlp(), torch.rand(2, 1, 28, 28))
    assert list(table["module"]) == ["0", "1", "2", "3", "4", "5"]
    assert table.loc[table["module"] == "1", "shape"].item() == "24" and table["units"].iloc[0] == 784
    assert candidate_layers(table) == ["1", "2", "3", "4"]  # no Flatten, the classifier left out
    pairs = pair_by_depth(["a0", "a1", "a2", "a3", "a4"], ["b0", "b1", "b2"], 3)
    assert list(pairs["module_a"]) == ["a0", "a2", "a4"] and list(pairs["module_b"]) == ["b0", "b1", "b2"]
    with pytest.raises(ValueError, match="cannot choose"):
        pair_by_depth(["a"], ["b"], 2)


def test_layer_map_diagonal_of_a_model_with_itself() -> None:
    rng = np.random.default_rng(0)
    acts = {"l0": rng.standard_normal((40, 6)), "l1": rng.standard_normal((40, 5))}
    table = layer_map(acts, acts)
    mats = map_matrices(table)
    assert set(mats) == {"score", "linear_cka"}
    for mat in mats.values():
        assert np.allclose(np.diag(mat.to_numpy()), 1.0) and mat.shape == (2, 2)
        assert mat.loc["l0", "l1"] < 0.9
    with pytest.raises(ValueError, match="unknown measure"):
        layer_map(acts, acts, measures=["cca"])


# ------------------------------------------------------------------ the command line
def test_cli_hf_text_auto_layers_map_and_json(hub, tmp_path, capsys) -> None:
    out = tmp_path / "res.json"
    rc = cli.main(["compare", f"hf:{hub['bert']}", f"hf:{hub['bert']}", "--text-file", str(hub["texts"]),
                   "--local-files-only", "--layers", "auto:2", "--matching", "one-to-one",
                   "--map", str(tmp_path / "map.png"), "--json", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "layers auto (same relative depth): hidden_states.0 <-> hidden_states.0, hidden_states.2 <-> hidden_states.2" in printed
    assert "score 1.0000" in printed and "independent-unit level" in printed and "layer map, score" in printed
    rec = json.loads(out.read_text())
    assert rec["matching"] == "one-to-one" and rec["score"] == pytest.approx(1.0, abs=1e-5)
    assert rec["chance_corrected"] == pytest.approx(rec["score"] - rec["chance_level"])
    assert [r["module_a"] for r in rec["layers_auto"]] == ["hidden_states.0", "hidden_states.2"]
    assert (tmp_path / "map.png").stat().st_size > 1000 and (tmp_path / "map.csv").is_file()


def test_cli_export_against_timm_file_with_auto_layers(tmp_path, capsys) -> None:
    net = mlp()
    export(net, tmp_path / "net.pt2")
    torch.save(permuted(net), tmp_path / "twin.pt")
    rc = cli.main(["compare", str(tmp_path / "net.pt2"), str(tmp_path / "twin.pt"), "--trust-pickle",
                   "--dataset", "digits", "--n", "60", "--modules-a", "2:0,4:1",
                   "--modules-b", "2:0,4:1", "--constant", "exclude", "--quiet"])
    assert rc == 0 and "score 1.0000" in capsys.readouterr().out
    rc = cli.main(["compare", str(tmp_path / "net.pt2"), "timm:resnet18", "--weights-b", "none",
                   "--dataset", "digits", "--n", "12", "--layers", "auto", "--quiet"])
    assert rc == 2 and "rejected the probes" in capsys.readouterr().err  # 1-channel digits into a 3-channel ResNet


def test_cli_layers_lists_modules_with_shapes(hub, capsys) -> None:
    assert cli.main(["layers", f"hf:{hub['bert']}", "--text-file", str(hub["texts"]), "--local-files-only"]) == 0
    printed = capsys.readouterr().out
    assert "hidden_states.2" in printed and "32" in printed and "*" in printed
    assert cli.main(["layers", "timm:resnet18", "--weights", "none", "--dataset", "digits", "--n", "4",
                     "--input-shape", "1,28,28"]) == 2  # digits are 1-channel: a clear error
    assert "3 input channels" in capsys.readouterr().err


def test_cli_text_and_image_probes_do_not_mix(hub, capsys) -> None:
    rc = cli.main(["compare", f"hf:{hub['bert']}", f"hf:{hub['bert']}", "--dataset", "digits", "--local-files-only"])
    assert rc == 2 and "--text-file" in capsys.readouterr().err


def test_compare_help_lists_every_source(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for form in ("timm:NAME", "hf:HUB_ID", ".safetensors", ".pt2", "TorchScript", "--trust-pickle", "--layers",
                 "--map", "--matching", "--text-file", "--local-files-only"):
        assert form in text, form
