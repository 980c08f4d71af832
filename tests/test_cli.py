"""Tests for the ``xcorr`` command line (xcorr_lib.cli) on tiny models made here."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from xcorr_lib.cli import command as cli
from xcorr_lib.data import load_dataset

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*:FutureWarning")


class TinyMLP(nn.Module):
    """(N, 1, 28, 28) -> 10 logits through two hidden layers."""

    def __init__(self, hidden: int = 12) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, 8)
        self.act2 = nn.ReLU()
        self.out = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x.flatten(1))))))


class TinyCNN(nn.Module):
    """(N, 3, H, W) -> 10 logits: rejects one-channel probes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).mean((2, 3)))


def _seeded(cls: type[nn.Module], seed: int, **kw: int) -> nn.Module:
    torch.manual_seed(seed)
    return cls(**kw).eval()


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, object]:
    """Two tiny MLPs saved as TorchScript (one scripted, one traced) plus their eager twins."""
    a, b = _seeded(TinyMLP, 1), _seeded(TinyMLP, 2, hidden=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices
        torch.jit.script(a).save(str(tmp_path / "a.pt"))
        torch.jit.trace(b, torch.rand(2, 1, 28, 28)).save(str(tmp_path / "b.pt"))
        torch.jit.script(_seeded(TinyCNN, 3)).save(str(tmp_path / "cnn.pt"))
    return {"a": a, "b": b, "dir": tmp_path}


def _brute_score(acts_a: np.ndarray, acts_b: np.ndarray, la: np.ndarray, lb: np.ndarray) -> float:
    """Paper variant, both directions, constant units score 0: loops, no shortcuts."""
    def side(x: np.ndarray, y: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> float:
        out = []
        for u in range(x.shape[1]):
            if x[:, u].std() <= 1e-6 * max(np.abs(x[:, u]).max(), 1e-30):
                out.append(0.0)
                continue
            best, best_v = -1.0, 0
            for v in range(y.shape[1]):
                if y[:, v].std() <= 1e-6 * max(np.abs(y[:, v]).max(), 1e-30):
                    r = 0.0
                else:
                    r = abs(np.corrcoef(x[:, u], y[:, v])[0, 1])
                if r > best:
                    best, best_v = r, v
            out.append(best / (1 + abs(lx[u] - ly[best_v])))
        return float(np.mean(out))
    return 0.5 * (side(acts_a, acts_b, la, lb) + side(acts_b, acts_a, lb, la))


def _eager_acts(model: nn.Module, x: torch.Tensor, names: list[str]) -> np.ndarray:
    got: dict[str, torch.Tensor] = {}
    hooks = [model.get_submodule(n).register_forward_hook(
        lambda _m, _i, o, n=n: got.__setitem__(n, o.detach())) for n in names]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return np.concatenate([got[n].flatten(1).numpy().astype(np.float64) for n in names], axis=1)


def test_compare_two_torchscript_models_matches_a_brute_force_oracle(tiny, tmp_path, capsys) -> None:
    d = tiny["dir"]
    out_json = tmp_path / "res.json"
    rc = cli.main(["compare", str(d / "a.pt"), str(d / "b.pt"), "--modules-a", "act1:0,act2:1",
                   "--modules-b", "act1:0,act2:1", "--dataset", "digits", "--n", "40",
                   "--seed", "3", "--json", str(out_json), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    rec = json.loads(out_json.read_text())
    # the oracle: same 40 digits, eager twins, loops
    X, y = load_dataset("digits", split="test")
    idx = np.sort(np.random.default_rng(3).choice(len(X), size=40, replace=False))
    x = torch.as_tensor(X[idx]).reshape(40, 1, 28, 28)
    acts_a = _eager_acts(tiny["a"], x, ["act1", "act2"])
    acts_b = _eager_acts(tiny["b"], x, ["act1", "act2"])
    la, lb = np.repeat([0, 1], [12, 8]), np.repeat([0, 1], [9, 8])
    assert rec["score"] == pytest.approx(_brute_score(acts_a, acts_b, la, lb), abs=1e-5)
    assert f"score {rec['score']:.4f}" in printed
    assert rec["model_a"]["kind"] == "torchscript"
    assert rec["model_a"]["modules"] == {"act1": 0, "act2": 1}
    assert rec["model_a"]["n_units"] == 20 and rec["model_b"]["n_units"] == 17
    assert rec["n_probes"] == 40 and rec["probes"]["shape"] == [40, 1, 28, 28]
    assert rec["variant"] == "paper" and rec["direction"] == "both"
    assert set(rec["versions"]) >= {"xcorr_lib", "torch", "torchvision", "numpy", "python"}
    sides = {row["side"] for row in rec["breakdown"]}
    assert sides == {"a->b", "b->a"}
    assert sum(r["n_units"] for r in rec["breakdown"] if r["side"] == "a->b") == 20
    assert {r["modules_u"] for r in rec["breakdown"]} <= {"act1", "act2"}


def test_forward_direction_and_original_variant_reach_the_engine(tiny, tmp_path) -> None:
    d = tiny["dir"]
    out_json = tmp_path / "fwd.json"
    rc = cli.main(["compare", str(d / "a.pt"), str(d / "b.pt"), "--modules-a", "act1:0",
                   "--modules-b", "act1:0", "--dataset", "digits", "--n", "30",
                   "--direction", "forward", "--variant", "original", "--json", str(out_json), "--quiet"])
    assert rc == 0
    rec = json.loads(out_json.read_text())
    assert rec["direction"] == "forward" and rec["variant"] == "original"
    assert {r["side"] for r in rec["breakdown"]} == {"a->b"}


def test_module_entry_point_runs_as_a_subprocess(tiny) -> None:
    d = tiny["dir"]
    proc = subprocess.run([sys.executable, "-m", "xcorr_lib", "compare", str(d / "a.pt"), str(d / "a.pt"),
                           "--modules-a", "act1:0", "--modules-b", "act1:0", "--dataset", "digits",
                           "--n", "20", "--constant", "exclude", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "score 1.0000" in proc.stdout  # a model against itself, dead units excluded


def _err(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.err.startswith("xcorr: error: ")
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1  # one clear line
    return captured.err


def test_unknown_model_lists_the_zoo(capsys) -> None:
    msg = _err(capsys, ["compare", "resnet19", "resnet18", "--dataset", "digits"])
    assert "resnet19" in msg and "resnet18" in msg and "efficientnet_b4" in msg


def test_unknown_module_lists_the_valid_ones(tiny, capsys) -> None:
    d = tiny["dir"]
    msg = _err(capsys, ["compare", str(d / "a.pt"), str(d / "b.pt"), "--modules-a", "fc9:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "'fc9'" in msg and "fc1, act1, fc2, act2, out" in msg
    msg = _err(capsys, ["compare", "resnet18", str(d / "b.pt"), "--weights-a", "none",
                        "--modules-a", "layer9", "--modules-b", "act1", "--dataset", "digits"])
    assert "layer9" in msg and "layer4" in msg


def test_file_without_modules_and_bad_weights_are_explained(tiny, capsys) -> None:
    d = tiny["dir"]
    msg = _err(capsys, ["compare", str(d / "a.pt"), str(d / "b.pt"), "--dataset", "digits"])
    assert "--modules-a is required" in msg and "act1" in msg
    msg = _err(capsys, ["compare", "resnet18", "resnet34", "--weights-a", "IMAGENET1K_V9",
                        "--dataset", "digits"])
    assert "IMAGENET1K_V9" in msg and "IMAGENET1K_V1" in msg


def test_unreadable_and_unsafe_files(tiny, tmp_path, capsys) -> None:
    d = tiny["dir"]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    msg = _err(capsys, ["compare", str(junk), str(d / "b.pt"), "--modules-a", "x:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "cannot read model file" in msg and "junk.pt" in msg
    msg = _err(capsys, ["compare", str(tmp_path / "missing.pt"), str(d / "b.pt"), "--modules-a", "x:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "no such file" in msg
    sd = tmp_path / "state.pt"
    torch.save(tiny["a"].state_dict(), sd)
    msg = _err(capsys, ["compare", str(sd), str(d / "b.pt"), "--modules-a", "x:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "state_dict" in msg
    pickled = tmp_path / "full.pt"
    torch.save(tiny["a"], pickled)
    argv = ["compare", str(pickled), str(d / "b.pt"), "--modules-a", "act1:0",
            "--modules-b", "act1:0", "--dataset", "digits", "--n", "20", "--quiet"]
    msg = _err(capsys, argv)
    assert "--trust-pickle" in msg and "arbitrary code" in msg
    assert cli.main([*argv, "--trust-pickle"]) == 0


def test_wrong_probe_shape_says_what_was_given_and_expected(tiny, capsys) -> None:
    d = tiny["dir"]
    msg = _err(capsys, ["compare", str(d / "cnn.pt"), str(d / "b.pt"), "--modules-a", "act:0",
                        "--modules-b", "act1:0", "--dataset", "digits", "--n", "10"])
    assert "(10, 1, 28, 28)" in msg and "3 input channels" in msg


def test_debug_shows_the_traceback(capsys) -> None:
    with pytest.raises(cli.CLIError):
        cli.main(["--debug", "compare", "resnet19", "resnet18", "--dataset", "digits"])


def test_zoo_model_against_itself_channel_zero(tmp_path, capsys) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    out_json = tmp_path / "zoo.json"
    rc = cli.main(["compare", "resnet18", "resnet18", "--weights-a", "none", "--weights-b", "none",
                   "--probe-dir", str(tmp_path), "--channels", "0", "--constant", "exclude",
                   "--json", str(out_json), "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0
    rec = json.loads(out_json.read_text())
    assert rec["model_a"]["n_units"] == 49  # channel 0 of layer4 at 224 px, as the original
    assert rec["model_a"]["modules"] == {"layer4": 0}
    assert rec["model_a"]["weights"] == "random-init(seed=0)"
    assert rec["score"] == pytest.approx(1.0, abs=1e-5)
    assert "random weights" in printed


def test_parse_modules_and_list_models(capsys) -> None:
    assert cli.parse_modules("layer3:0, layer4:1") == {"layer3": 0, "layer4": 1}
    assert cli.parse_modules("a,b,c") == {"a": 0, "b": 1, "c": 2}
    with pytest.raises(cli.CLIError, match="not an integer"):
        cli.parse_modules("a:x")
    assert cli.main(["list-models"]) == 0
    text = capsys.readouterr().out
    assert "layer4*" in text and "features.transition3*" in text and "efficientnet_b4" in text
    for name in ("resnet50", "resnet101", "resnet152"):
        line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
        assert "default: IMAGENET1K_V2" in line


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Linear(8, 6), nn.ReLU())
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.block(self.act(self.fc1(x))))


@pytest.mark.parametrize("how", ["script", "trace"])
def test_script_taps_give_the_eager_outputs(how: str, tmp_path) -> None:
    torch.manual_seed(0)
    eager = _Net().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.jit.script(eager) if how == "script" else torch.jit.trace(eager, torch.rand(2, 4))
    compiled.save(str(tmp_path / "m.pt"))
    names = ["act", "block.1", "block", "fc1"]  # two ReLUs share one compiled class
    wrapped = cli.tap_script_modules(torch.jit.load(str(tmp_path / "m.pt")), names)
    got: dict[str, torch.Tensor] = {}
    for n in names:
        wrapped.get_submodule(n).register_forward_hook(lambda _m, _i, o, n=n: got.__setitem__(n, o))
    want: dict[str, torch.Tensor] = {}
    for n in names:
        eager.get_submodule(n).register_forward_hook(lambda _m, _i, o, n=n: want.__setitem__(n, o))
    for batch in (5, 3):  # repeated calls (TorchScript's profiling executor re-optimises)
        x = torch.rand(batch, 4)
        with torch.no_grad():
            assert torch.allclose(wrapped(x), eager(x))
        for n in names:
            assert torch.allclose(got[n], want[n]), n
    with pytest.raises(ValueError, match="fc1, act, block"):
        cli.tap_script_modules(torch.jit.load(str(tmp_path / "m.pt")), ["nope"])


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[0-9]{1,2})?", fullmatch=True),
                       st.integers(-3, 50), min_size=1, max_size=6))
def test_parse_modules_round_trips(mods: dict[str, int]) -> None:
    assert cli.parse_modules(",".join(f"{n}:{d}" for n, d in mods.items())) == mods
    assert cli.parse_modules(",".join(mods)) == {n: i for i, n in enumerate(mods)}


def test_truncated_file_closest_module_empty_and_corrupt_probe_folders(tiny, tmp_path, capsys) -> None:
    d = tiny["dir"]
    truncated = tmp_path / "cut.pt"
    whole = (d / "a.pt").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    msg = _err(capsys, ["compare", str(truncated), str(d / "b.pt"), "--modules-a", "act1:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "cannot read model file" in msg and "cut.pt" in msg
    msg = _err(capsys, ["compare", str(d / "a.pt"), str(d / "b.pt"), "--modules-a", "act3:0",
                        "--modules-b", "act1:0", "--dataset", "digits"])
    assert "'act3'" in msg and "closest: act1, act2" in msg and "valid modules:" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    msg = _err(capsys, ["compare", "resnet18", "resnet18", "--weights-a", "none", "--weights-b", "none",
                        "--probe-dir", str(empty)])
    assert "no images" in msg and str(empty) in msg
    bad = tmp_path / "bad"
    bad.mkdir()
    from PIL import Image
    Image.new("RGB", (40, 40)).save(bad / "fine.png")
    (bad / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    msg = _err(capsys, ["compare", "resnet18", "resnet18", "--weights-a", "none", "--weights-b", "none",
                        "--probe-dir", str(bad)])
    assert "broken.jpg" in msg and "cannot read image" in msg
