"""Untrained twins (xcorr_lib.nets.twins) of every rebuildable source, and the CLI's nulls and interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xcorr_lib.cli import command as cli
from xcorr_lib.nets.models import make_model
from xcorr_lib.nets.sources import load_source
from xcorr_lib.nets.twins import TwinUnavailableError, twin_seeds, twin_source, untrained_twin

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*:FutureWarning")


def same_architecture_new_weights(model: nn.Module, twin: nn.Module) -> None:
    sa, sb = model.state_dict(), twin.state_dict()
    assert type(model) is type(twin) and list(sa) == list(sb)
    assert all(sa[k].shape == sb[k].shape for k in sa)
    weights = [k for k, v in sa.items() if v.is_floating_point() and v.ndim >= 2]
    assert weights and all(not torch.equal(sa[k], sb[k]) for k in weights)


def same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def trained(model: nn.Module) -> nn.Module:
    """Weights moved away from any initialization (stands in for training)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    return model


@pytest.mark.parametrize("name", ["Net2", "CNN"])
def test_the_papers_networks_are_rebuilt_from_their_spec(name) -> None:
    model = trained(make_model(name, seed=0))
    twin = untrained_twin(model, seed=5)
    same_architecture_new_weights(model, twin)
    assert same(twin, untrained_twin(model, seed=5)) and not same(twin, untrained_twin(model, seed=6))
    assert same(twin, make_model(name, seed=5))  # exactly the constructor's initialization
    assert not twin.training


def test_a_generic_module_is_reset_and_a_bare_parameter_is_refused() -> None:
    model = trained(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)))
    twin = untrained_twin(model, seed=1)
    same_architecture_new_weights(model, twin)
    assert torch.equal(twin[1].weight, torch.ones(6))  # BatchNorm reset too
    assert same(twin, untrained_twin(model, seed=1))

    class WithToken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.token = nn.Parameter(torch.zeros(3))
            self.fc = nn.Linear(3, 3)

    with pytest.raises(TwinUnavailableError, match="parameter.*token.*no module with reset_parameters"):
        untrained_twin(WithToken(), seed=0)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_compiled_programs_have_no_twin(tmp_path) -> None:
    net = make_model("Net1", seed=0).eval()
    with pytest.raises(TwinUnavailableError, match="compiled program"):
        untrained_twin(torch.jit.trace(net, torch.rand(2, 784)))
    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(net, (torch.rand(4, 784),), dynamic_shapes=({0: batch},)),
                      str(tmp_path / "net.pt2"))
    with pytest.raises(TwinUnavailableError, match="compiled program"):
        twin_source(load_source(str(tmp_path / "net.pt2")))


@pytest.mark.parametrize("spec,arch", [("resnet18", None), ("timm:resnet18", None), ("file", "timm:resnet18")])
def test_zoo_timm_and_safetensors_twins_use_their_own_constructor(spec, arch, tmp_path) -> None:
    from safetensors.torch import save_file

    if spec == "file":
        save_file(trained(load_source("timm:resnet18", weights="none", seed=0).model).state_dict(),
                  str(tmp_path / "r.safetensors"))
        spec = str(tmp_path / "r.safetensors")
    src = load_source(spec, weights="none", arch=arch, seed=0)
    twin = twin_source(src, seed=7)
    same_architecture_new_weights(src.model, twin.model)
    assert twin.weights == "untrained twin (seed 7)" and twin.default_modules == src.default_modules
    assert same(twin.model, twin_source(src, seed=7).model)
    assert same(twin.model, load_source(spec if arch is None else arch, weights="none", seed=7).model)


def test_hf_twin_from_config_keeps_the_tokenized_probes(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=20, max_position_embeddings=16)
    transformers.BertModel(config).save_pretrained(tmp_path / "bert")
    src = load_source(f"hf:{tmp_path / 'bert'}", local_files_only=True)
    src.model._encoded = {"input_ids": torch.randint(0, 30, (4, 6)), "attention_mask": torch.ones(4, 6, dtype=torch.long)}
    twin = twin_source(src, seed=2)
    same_architecture_new_weights(src.model, twin.model)
    assert twin.model(torch.arange(4)).shape == (4, 6, 16)  # the same encoded texts run through it


def test_twin_seeds_are_stable_and_never_the_seed_itself() -> None:
    assert twin_seeds(0, 3) == twin_seeds(0, 3) and len(set(twin_seeds(0, 3))) == 3
    assert 0 not in twin_seeds(0, 3) and twin_seeds(1, 3) != twin_seeds(0, 3)


# ----------------------------------------------------------------------------- the command line
@pytest.fixture
def fcn_files(tmp_path: Path) -> Path:
    for name, seed in (("Net1", 1), ("Net2", 2)):
        torch.save(trained(make_model(name, seed=seed)), tmp_path / f"{name}.pt")
    return tmp_path


def compare(d: Path, *extra: str) -> list[str]:
    return ["compare", str(d / "Net1.pt"), str(d / "Net2.pt"), "--trust-pickle", "--modules-a", "layers.relu0:0",
            "--modules-b", "layers.relu0:0,layers.relu1:1", "--dataset", "digits", "--n", "60", "--quiet", *extra]


def test_cli_prints_and_writes_nulls_and_interval(fcn_files, capsys) -> None:
    out = fcn_files / "res.json"
    rc = cli.main(compare(fcn_files, "--null", "shuffle,untrained", "--n-null", "40", "--n-twins", "2",
                          "--interval", "--n-boot", "30", "--json", str(out)))
    printed = capsys.readouterr().out
    assert rc == 0
    rec = json.loads(out.read_text())
    shuffle, untrained = rec["nulls"]["shuffle"], rec["nulls"]["untrained"]
    assert 1 / 41 <= shuffle["p_value"] <= 1 and shuffle["n"] == 40 and len(shuffle["draws"]) == 40
    assert untrained["n"] == 2 and rec["twin_seeds"] == twin_seeds(0, 2)
    assert rec["interval"]["low"] <= rec["score"] <= rec["interval"]["high"]
    assert rec["null_used"] == "shuffle" and rec["chance_level"] == pytest.approx(shuffle["mean"])
    assert rec["chance_corrected"] == pytest.approx(rec["score"] - shuffle["mean"])
    band = f"score {rec['score']:.4f} [{rec['interval']['low']:.4f}, {rec['interval']['high']:.4f}]"
    assert band in printed and f"null shuffle {shuffle['mean']:.4f} +- " in printed
    assert f"p = {shuffle['p_value']:.3g}" in printed and "null untrained" in printed


def test_cli_default_stays_analytic_and_says_how_to_ask_for_more(fcn_files, capsys) -> None:
    assert cli.main(compare(fcn_files)) == 0
    printed = capsys.readouterr().out
    assert "independent-unit level" in printed and "--null shuffle --null untrained --interval" in printed


def test_cli_untrained_null_of_an_export_file_is_one_line(fcn_files, tmp_path, capsys) -> None:
    net = make_model("Net2", seed=0).eval()
    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(net, (torch.rand(4, 1, 28, 28),), dynamic_shapes=({0: batch},)),
                      str(tmp_path / "net2.pt2"))
    args = compare(fcn_files, "--null", "untrained")
    args[2] = str(tmp_path / "net2.pt2")
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("xcorr: error: --null untrained: no untrained twin")


def test_cli_rejects_unknown_null_kinds(fcn_files, capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(compare(fcn_files, "--null", "bootstrap"))
    assert "unknown null 'bootstrap'" in capsys.readouterr().err
