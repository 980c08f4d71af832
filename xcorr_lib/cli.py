"""Command line: ``xcorr compare`` (= ``python -m xcorr_lib compare``) and ``xcorr list-models``.

Example::

    xcorr compare resnet18 resnet34 --probe-dir data/imagenet-samples --n 10 --json out.json
    xcorr compare a.pt b.pt --modules-a fc1:0,fc2:1 --modules-b fc1:0 --dataset digits --n 200

A model is a zoo name or a file (TorchScript, or a ``torch.save``-d model: see
``xcorr compare --help`` for how files are loaded safely). Errors the user can fix print
one line ``xcorr: error: ...`` on stderr and exit with status 2, like argparse's usage
errors (``--debug``: the traceback).
"""

from __future__ import annotations

import argparse
import difflib
import json
import platform
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from xcorr_lib.nets import zoo
from xcorr_lib.nets.model_files import (ModelFileError, ScriptTaps, first_line, input_hint, load_model_file,
                                       tap_script_modules, valid_names)

__all__ = ["CLIError", "ScriptTaps", "build_parser", "load_model_file", "main", "parse_modules",
           "tap_script_modules"]


_TRANSFORM = "ResNet18_Weights.IMAGENET1K_V1"  # preprocessing of --probe-dir images


class CLIError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def parse_modules(spec: str) -> dict[str, int]:
    """``"layer3:0,layer4:1"`` -> ``{"layer3": 0, "layer4": 1}``; a name without
    ``:depth`` gets its position in the list."""
    out: dict[str, int] = {}
    for pos, item in enumerate(p.strip() for p in spec.split(",")):
        if not item:
            raise CLIError(f"empty module name in {spec!r}; expected 'name:depth,name:depth'")
        name, _, depth = item.rpartition(":") if ":" in item else (item, "", str(pos))
        try:
            out[name] = int(depth)
        except ValueError:
            raise CLIError(f"depth of module {name!r} in {spec!r} is not an integer: {depth!r}") from None
    return out


def _load_side(spec: str, weights: str, modules: str | None, *, side: str, args: argparse.Namespace
               ) -> dict[str, Any]:
    """Load one model and check its modules; returns a dict describing it."""
    if spec in zoo.MODELS:
        w = None if weights.lower() in ("none", "random") else weights
        try:
            model = zoo.load_model(spec, w, seed=args.seed, device=args.device)
        except (ValueError, zoo.WeightsUnavailableError) as err:
            raise CLIError(str(err)) from err
        mods = parse_modules(modules) if modules else {zoo.MODELS[spec].paper_stage: 0}
        info = {"spec": spec, "kind": "zoo", "weights": model.xcorr_weights,
                "hint": "zoo models expect ImageNet images (N, 3, H, W), e.g. --probe-dir",
                "valid": f"stages {', '.join(zoo.MODELS[spec].stages)} or any module of the "
                         f"torchvision model (e.g. layer4.1.conv2, see model.named_modules())"}
    elif Path(spec).exists() or any(c in spec for c in "/\\.") :
        model, kind = load_model_file(spec, trust_pickle=args.trust_pickle)
        if not modules:
            raise CLIError(f"model {side} is a file: --modules-{side.lower()} is required "
                           f"(valid modules: {valid_names(model)})")
        mods = parse_modules(modules)
        info = {"spec": spec, "kind": kind, "weights": "from file", "hint": input_hint(model),
                "valid": valid_names(model)}
        model = model.to(args.device or "cpu")
    else:
        raise CLIError(f"unknown model {spec!r}: not a file and not a zoo model; "
                       f"zoo models: {', '.join(zoo.MODELS)}")
    known = [n for n, _ in model.named_modules() if n]
    missing = [m for m in mods if m not in known]
    if missing:
        close = sorted({c for m in missing for c in difflib.get_close_matches(m, known, n=2)})
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise CLIError(f"unknown module(s) {', '.join(map(repr, missing))} in model {side} ({spec}){hint}; "
                       f"valid modules: {info['valid']}")
    if isinstance(model, torch.jit.ScriptModule):
        try:
            model = tap_script_modules(model, list(mods))
        except ValueError as err:
            raise CLIError(f"model {side} ({spec}): {err}") from err
    return {**info, "model": model, "modules": mods}


def _load_probes(args: argparse.Namespace) -> tuple[torch.Tensor, dict[str, Any]]:
    from xcorr_lib import data

    try:
        if args.probe_dir:  # the original preprocessed every model with ResNet-18's transforms
            x, _ = data.load_probe_images(args.probe_dir, n=args.n, seed=args.seed, weights=_TRANSFORM)
            source = {"probe_dir": str(args.probe_dir), "transform": _TRANSFORM}
        else:
            X, _ = data.load_dataset(args.dataset, split=args.split, protocol=args.protocol)
            if args.n is not None:
                X, _ = data.subset(X, np.zeros(len(X), dtype=np.int64), args.n, args.seed)
            x = torch.as_tensor(np.asarray(X, dtype=np.float32))
            source = {"dataset": args.dataset, "split": args.split, "protocol": args.protocol}
    except (OSError, ValueError) as err:  # DatasetUnavailableError is a FileNotFoundError
        raise CLIError(" ".join(str(err).split()) or first_line(err)) from err
    shape = args.input_shape or ([1, *x.shape[1:]] if x.ndim == 3 else list(x.shape[1:]))
    try:
        x = x.reshape(len(x), *shape)
    except RuntimeError:
        raise CLIError(f"cannot reshape probes of shape {tuple(x.shape)} to (N, {', '.join(map(str, shape))}) "
                       "(--input-shape)") from None
    return x, {**source, "n": len(x), "seed": args.seed, "shape": list(x.shape)}


def _capture(side: dict[str, Any], x: torch.Tensor, args: argparse.Namespace, label: str
             ) -> tuple[torch.Tensor, np.ndarray]:
    from xcorr_lib.nets.capture import capture_activations

    try:
        return capture_activations(side["model"], x, side["modules"], batch_size=args.batch_size,
                                   channels=args.channels, spatial=args.spatial, device=args.device,
                                   progress=False if args.quiet else None)
    except (RuntimeError, ValueError, TypeError) as err:
        raise CLIError(f"model {label} ({side['spec']}) rejected the probes of shape {tuple(x.shape)}: "
                       f"{first_line(err)}; {side['hint']}") from err


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``xcorr compare``: print the result and return the JSON-ready record."""
    from xcorr_lib.score.correlation import neuron_correlation

    a = _load_side(args.model_a, args.weights_a, args.modules_a, side="A", args=args)
    b = _load_side(args.model_b, args.weights_b, args.modules_b, side="B", args=args)
    x, probes = _load_probes(args)
    (acts_a, layers_a), (acts_b, layers_b) = _capture(a, x, args, "A"), _capture(b, x, args, "B")
    try:
        res = neuron_correlation(acts_a, layers_a, acts_b, layers_b, variant=args.variant,
                                 direction=args.direction, constant=args.constant,
                                 block_size=args.block_size, device=args.device)
    except ValueError as err:
        raise CLIError(str(err)) from err
    table, mods = res.layer_breakdown.copy(), {"a->b": (a, b), "b->a": (b, a)}
    for pos, col, k in ((2, "layer_u", 0), (4, "layer_match", 1)):  # depth ids -> module names
        table.insert(pos, col.replace("layer", "modules"), [
            "-" if pd.isna(d) else "+".join(n for n, i in mods[s][k]["modules"].items() if i == int(d))
            for s, d in zip(table["side"], table[col])])
    record = {"score": res.score, "n_probes": res.n_probes, "probes": probes, "versions": _versions(),
              **{k: getattr(args, k) for k in ("variant", "direction", "constant", "channels", "spatial",
                                               "block_size", "seed", "argv")}}
    for key, side, acts, n_const in (("model_a", a, acts_a, res.n_constant_a), ("model_b", b, acts_b, res.n_constant_b)):
        record[key] = {**{k: side[k] for k in ("spec", "kind", "weights", "modules")},
                       "n_units": int(acts.shape[1]), "n_constant": n_const}
        if str(side["weights"]).startswith("random-init"):
            print(f"note: {side['spec']} has random weights ({side['weights']}): the score checks "
                  "the plumbing only and means nothing about trained models")
    record["breakdown"] = json.loads(table.to_json(orient="records"))
    print(f"score {res.score:.4f}  (variant {args.variant}, direction {args.direction}, "
          f"constant units {args.constant}, {res.n_probes} probes)")
    for label, r in (("A", record["model_a"]), ("B", record["model_b"])):
        print(f"model {label}: {r['spec']} [{r['weights']}] modules "
              f"{','.join(f'{n}:{d}' for n, d in r['modules'].items())}: "
              f"{r['n_units']} units, {r['n_constant']} constant")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return record


def _versions() -> dict[str, str]:
    import torchvision

    from xcorr_lib import __version__
    return {"xcorr_lib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def list_models() -> str:
    """Text of ``xcorr list-models``: every zoo model, its weights and stages."""
    lines = []
    for entry in zoo.MODELS.values():
        stages = ", ".join(s + ("*" if s == entry.paper_stage else "") for s in entry.stages)
        lines.append(f"{entry.name:16s} {entry.family:12s} weights: "
                     f"{'/'.join(zoo.available_weights(entry.name))}  default: {zoo.default_weights(entry.name)}"
                     f"\n{'':16s} stages: {stages}")
    lines.append("* = the paper's stage (default for --modules); default = torchvision's Weights.DEFAULT, "
                 "what the original scripts loaded")
    return "\n".join(lines)


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:  # argparse turns this into a usage error naming the option
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


_COMPARE_HELP = textwrap.fill(
    "Score Corr(A, B) of two models on the same probes. MODEL is a zoo name (xcorr "
    "list-models) or a file. Files: TorchScript archives are loaded with torch.jit.load; "
    "other files with torch.load(weights_only=True), which refuses to run code. A fully "
    "pickled nn.Module needs weights_only=False, which can execute arbitrary code from the "
    "file: that is only done with --trust-pickle. Probes: --probe-dir images get the ResNet-18 "
    "ImageNet preprocessing (224x224, as the original); --dataset images are shaped "
    "(N, 1, 28, 28) unless --input-shape says otherwise.", 88)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``xcorr`` command."""
    parser = argparse.ArgumentParser(prog="xcorr", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list-models", help="list zoo models, their weights and stages")
    c = sub.add_parser(
        "compare", help="cross-model neuronal correlation of two models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_COMPARE_HELP)
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    for s in ("a", "b"):
        c.add_argument(f"--weights-{s}", default="default", metavar="W",
                       help="zoo weights: default (torchvision's DEFAULT, see list-models), none (seeded "
                            "random init) or a torchvision weights name such as IMAGENET1K_V1")
        c.add_argument(f"--modules-{s}", metavar="NAME:DEPTH,...",
                       help="modules to compare with their depth ids (default for zoo models: the "
                            "paper's stage at depth 0; required for files)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--probe-dir", metavar="FOLDER", help="folder of images (ImageNet preprocessing)")
    src.add_argument("--dataset", help="mnist, fashion-mnist, kmnist, afro-mnist or digits")
    c.add_argument("--split", default="test", choices=("train", "test"), help="dataset split (default test)")
    c.add_argument("--protocol", default="official", choices=("official", "original", "test-split"),
                   help="which images form the split (see xcorr_lib.data.load_dataset)")
    c.add_argument("--input-shape", metavar="C,H,W", type=_int_list,
                   help="reshape each probe to this (default: dataset images (1, 28, 28))")
    c.add_argument("--n", type=int, help="number of probes (default: all)")
    c.add_argument("--seed", type=int, default=0, help="seed of the probe draw and of random inits")
    for flag, choices in (("--variant", ("paper", "original")), ("--direction", ("both", "forward")),
                          ("--constant", ("zero", "exclude", "minus-one")), ("--spatial", ("flatten", "mean"))):
        c.add_argument(flag, default=choices[0], choices=choices, help=f"default {choices[0]}")
    c.add_argument("--channels", type=_int_list, metavar="0,1,...",
                   help="keep only these channels of conv outputs (the original used 0)")
    c.add_argument("--block-size", type=int, help="units per correlation block (memory)")
    c.add_argument("--batch-size", type=int, default=64, help="probes per forward pass")
    c.add_argument("--device", help="cpu (default) or cuda")
    c.add_argument("--trust-pickle", action="store_true",
                   help="allow torch.load(weights_only=False) for pickled models: runs code from the file")
    c.add_argument("--json", metavar="PATH", help="write score, parameters, breakdown and versions")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``xcorr`` / ``python -m xcorr_lib``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        if args.command == "list-models":
            print(list_models())
        else:
            compare(args)
    except BrokenPipeError:  # e.g. `xcorr list-models | head`
        return 0
    except (CLIError, ModelFileError, zoo.WeightsUnavailableError) as err:
        if args.debug:
            raise
        print(f"xcorr: error: {' '.join(str(err).split())}", file=sys.stderr)  # one line
        return 2
    return 0
