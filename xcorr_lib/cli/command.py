"""Command line: ``xcorr compare`` (= ``python -m xcorr_lib compare``), ``xcorr layers`` and
``xcorr list-models``.

Example::

    xcorr compare resnet18 resnet34 --probe-dir data/imagenet-samples --n 10 --json out.json
    xcorr compare timm:resnet18 net.safetensors --arch-b resnet18 --probe-dir imgs --layers auto --map map.png
    xcorr compare hf:bert-dir hf:other-bert-dir --text-file texts.txt --local-files-only
    xcorr layers model.pt2 --dataset digits

A model is a zoo name, ``timm:NAME``, ``hf:ID_OR_DIR``, a ``.safetensors`` file with ``--arch``,
a ``torch.export`` ``.pt2`` file, or another file (TorchScript, or a ``torch.save``-d model:
see ``xcorr compare --help`` for how files are loaded safely; :mod:`xcorr_lib.nets.sources`). Errors the user can fix print
one line ``xcorr: error: ...`` on stderr and exit with status 2, like argparse's usage
errors (``--debug``: the traceback).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from xcorr_lib.cli.inputs import (CLIError, auto_layers, capture_side, check_modules, layer_table, load_probes,
                                  load_side, parse_modules)
from xcorr_lib.common.devices import resolve_device
from xcorr_lib.nets import zoo
from xcorr_lib.nets.layers import choose_layers
from xcorr_lib.nets.model_files import ModelFileError, ScriptTaps, load_model_file, tap_script_modules
from xcorr_lib.nets.sources import SOURCE_FORMS
from xcorr_lib.nets.twins import TwinUnavailableError, twin_seeds, twin_source
from xcorr_lib.score.inference import NULL_KINDS

__all__ = ["CLIError", "ScriptTaps", "build_parser", "load_model_file", "main", "parse_modules",
           "tap_script_modules"]


def _modules(src, spec: str | None, side: str, args: argparse.Namespace) -> dict[str, int] | None:
    if spec:
        return check_modules(src, parse_modules(spec), side)
    if args.layers is not False:
        return None  # chosen with the other model's (--layers auto[:K]; K is None for auto)
    if src.default_modules:
        return src.default_modules
    raise CLIError(f"model {side} is a file: --modules-{side.lower()} is required (or --layers auto) "
                   f"(valid modules: {src.valid})")


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``xcorr compare``: print the result and return the JSON-ready record."""
    from xcorr_lib.score.correlation import neuron_correlation

    a = load_side(args.model_a, weights=args.weights_a, arch=args.arch_a, args=args)
    b = load_side(args.model_b, weights=args.weights_b, arch=args.arch_b, args=args)
    mods_a, mods_b = _modules(a, args.modules_a, "A", args), _modules(b, args.modules_b, "B", args)
    (xa, probes), (xb, probes_b) = load_probes(a, args), load_probes(b, args)
    if len(xa) != len(xb):
        raise CLIError(f"the two models got {len(xa)} and {len(xb)} probes; they need the same probes")
    chosen = None
    if mods_a is None or mods_b is None:
        chosen = auto_layers(a, xa, b, xb, args.layers)
        mods_a = mods_a or dict(zip(chosen["module_a"], chosen["depth"].astype(int)))
        mods_b = mods_b or dict(zip(chosen["module_b"], chosen["depth"].astype(int)))
        print("layers auto (same relative depth): " + ", ".join(
            f"{r.module_a} <-> {r.module_b}" for r in chosen.itertuples())
              + f" (A's from {chosen['source_a'].iloc[0]}, B's from {chosen['source_b'].iloc[0]})")
    for note in dict.fromkeys(a.notes + b.notes):
        print(f"note: {note}")
    nulls = list(dict.fromkeys(args.null or []))
    _announce_cost(a, mods_a, xa, b, mods_b, xb, args, nulls)
    seeds = twin_seeds(args.seed, args.n_twins) if "untrained" in nulls else []
    try:  # before any capture: a model that has no twin fails at once
        twins = [twin_source(b, seed=s, device=args.device) for s in seeds]
    except TwinUnavailableError as err:
        raise CLIError(f"--null untrained: {err}") from err
    cap_a, cap_b = capture_side(a, mods_a, xa, args, "A"), capture_side(b, mods_b, xb, args, "B")
    twin_acts = [capture_side(t, mods_b, xb, args, f"B (untrained twin, seed {s})").acts for t, s in zip(twins, seeds)]
    try:
        res = neuron_correlation(cap_a.acts, cap_a.layer_ids, cap_b.acts, cap_b.layer_ids, variant=args.variant,
                                 direction=args.direction, constant=args.constant, matching=args.matching,
                                 block_size=args.block_size, device=args.device, null=nulls or None,
                                 n_null=args.n_null, twins=twin_acts or None, interval=args.interval,
                                 n_boot=args.n_boot, seed=args.seed, progress=not args.quiet)
    except ValueError as err:
        raise CLIError(str(err)) from err
    table, mods = res.layer_breakdown.copy(), {"a->b": (mods_a, mods_b), "b->a": (mods_b, mods_a)}
    for pos, col, k in ((2, "layer_u", 0), (4, "layer_match", 1)):  # depth ids -> module names
        table.insert(pos, col.replace("layer", "modules"), [
            "-" if pd.isna(d) else "+".join(n for n, i in mods[s][k].items() if i == int(d))
            for s, d in zip(table["side"], table[col])])
    band = res.interval
    record = {"score": res.score, "interval": None if band is None else {
                  "low": band.low, "high": band.high, "level": band.level, "method": band.method,
                  "n_invalid": band.n_invalid},
              "nulls": {k: n.as_dict() for k, n in res.nulls.items()}, "twin_seeds": seeds,
              "independent_unit_level": res.independent_unit_level, "chance_level": res.chance_level,
              "null_used": res.null_used, "chance_corrected": res.chance_corrected, "n_probes": res.n_probes,
              "device": args.device, "probes": probes, "versions": _versions(),
              **{k: getattr(args, k) for k in ("variant", "direction", "constant", "matching", "channels", "spatial",
                                               "block_size", "seed", "argv")}}
    if probes_b != probes:
        record["probes_b"] = probes_b
    if chosen is not None:
        record["layers_auto"] = json.loads(chosen.to_json(orient="records"))
    for key, side, mods_s, acts, n_const in (("model_a", a, mods_a, cap_a.acts, res.n_constant_a),
                                             ("model_b", b, mods_b, cap_b.acts, res.n_constant_b)):
        record[key] = {"spec": side.spec, "kind": side.kind, "weights": side.weights, "modules": mods_s,
                       "n_units": int(acts.shape[1]), "n_constant": n_const}
        if str(side.weights).startswith("random-init"):
            print(f"note: {side.spec} has random weights ({side.weights}): the score checks "
                  "the plumbing only and means nothing about trained models")
    record["breakdown"] = json.loads(table.to_json(orient="records"))
    _print_score(res, args)
    for label, r in (("A", record["model_a"]), ("B", record["model_b"])):
        print(f"model {label}: {r['spec']} [{r['weights']}] modules "
              f"{','.join(f'{n}:{d}' for n, d in r['modules'].items())}: "
              f"{r['n_units']} units, {r['n_constant']} constant")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.map:
        record["map"] = _layer_map(cap_a, cap_b, args)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return record


def _announce_cost(a, mods_a, xa, b, mods_b, xb, args: argparse.Namespace, nulls: list[str]) -> None:
    """Units, probes, estimated time and memory (a calibration matmul here), before any long work;
    above a minute, how to make it faster, and a question when stdin is a terminal (``--yes``)."""
    from xcorr_lib.score import cost

    def units(src, mods, x, label: str) -> int:  # two probes give the unit count
        try:
            return int(capture_side(src, mods, x[:2], args, label).acts.shape[1])
        except CLIError:
            capture_side(src, mods, x, args, label)  # the same error, naming every probe
            raise

    n_a, n_b = units(a, mods_a, xa, "A"), units(b, mods_b, xb, "B")
    passes = 1 + args.n_null * ("shuffle" in nulls) + args.n_twins * ("untrained" in nulls) + args.n_boot * args.interval
    est = cost.estimate(n_a, n_b, len(xa), device=args.device, passes=passes)
    print(f"cost: A {n_a:,} units, B {n_b:,} units, {len(xa):,} probes, {passes} engine pass"
          f"{'es' * (passes > 1)}: {est.describe()} on {args.device} "
          f"(calibrated here: {est.flops_per_second / 1e9:,.0f} GFLOP/s)", flush=True)
    if est.seconds <= 60:
        return
    print("this is long; faster: --spatial mean (one unit per channel), --channels 0,1,... (fewer channels), "
          "fewer layers (--layers auto:2 or --modules), or fewer probes (--n)", flush=True)
    if sys.stdin.isatty() and not args.yes:
        if input("continue? [y/N] ").strip().lower() not in ("y", "yes"):
            raise CLIError("stopped before scoring (pass --yes to skip the question)")


def _print_score(res, args: argparse.Namespace) -> None:
    """The score with its interval, each null, and the chance-corrected score."""
    band = "" if res.interval is None else f" [{res.interval.low:.4f}, {res.interval.high:.4f}]"
    print(f"score {res.score:.4f}{band}  (variant {args.variant}, direction {args.direction}, matching "
          f"{args.matching}, constant units {args.constant}, {res.n_probes} probes)")
    if res.interval is not None:
        print(f"interval: {res.interval.level:.0%} {res.interval.method}; it covers other probe sets of this "
              "size, not other training seeds")
    for null in res.nulls.values():
        print(f"null {null.describe()}")
    if "analytic" not in res.nulls:
        print(f"independent-unit level {res.independent_unit_level:.4f} (independent Gaussian units, same widths, "
              "depths and probes; real networks' units are correlated and usually score below it)")
    print(f"chance-corrected score {res.chance_corrected:+.4f} (score - {res.null_used} "
          f"{'null' if res.nulls else 'level'})")
    if not res.nulls and res.interval is None:
        print("for nulls that fit real networks and an interval: --null shuffle --null untrained --interval")


def _layer_map(cap_a, cap_b, args: argparse.Namespace) -> dict[str, str]:
    """``--map``: every chosen module of A against every one of B; PNG + CSV beside it."""
    import matplotlib

    matplotlib.use("Agg")
    from xcorr_lib.measures.layer_map import layer_map, map_matrices, plot_layer_map

    def per_module(cap) -> dict[str, np.ndarray]:
        return {m: cap.acts[:, np.flatnonzero(cap.units["module"].to_numpy() == m)].numpy()
                for m in dict.fromkeys(cap.units["module"])}

    try:
        table = layer_map(per_module(cap_a), per_module(cap_b), variant=args.variant, direction=args.direction,
                          matching=args.matching)
    except ValueError as err:
        raise CLIError(str(err)) from err
    for measure, mat in map_matrices(table).items():
        print(f"layer map, {measure} (rows: {args.model_a}, columns: {args.model_b}):")
        print(mat.to_string(float_format=lambda v: f"{v:.3f}"))
    png, csv = Path(args.map), Path(args.map).with_suffix(".csv")
    fig = plot_layer_map(table, name_a=args.model_a, name_b=args.model_b)
    fig.savefig(png, dpi=150, bbox_inches="tight")
    table.to_csv(csv, index=False)
    print(f"wrote {png} and {csv}")
    return {"png": str(png), "csv": str(csv)}


def layers(args: argparse.Namespace) -> pd.DataFrame:
    """Run ``xcorr layers``: the hookable modules of one model with their output shapes."""
    src = load_side(args.model, weights=args.weights, arch=args.arch, args=args)
    x, _ = load_probes(src, args)
    table = layer_table(src, x, "A")
    names, source = choose_layers(src.model, table)
    table["auto"] = ["*" if m in set(names) else "" for m in table["module"]]
    print(f"{src.spec} [{src.kind}, {src.weights}]: {len(table)} modules with a tensor output "
          f"(* = candidates of --layers auto: {len(names)} chosen by {source}); input: {src.hint}")
    print(table.drop(columns=["depth"]).to_string(index=False))
    return table


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
    "Score Corr(A, B) of two models on the same probes. MODEL is one of: "
    + "; ".join(SOURCE_FORMS) + ". TorchScript archives are loaded with torch.jit.load "
    "(deprecated by torch); other files with torch.load(weights_only=True), which refuses to run "
    "code. A fully pickled nn.Module needs weights_only=False, which can execute arbitrary code from "
    "the file: that is only done with --trust-pickle. Probes: --probe-dir images get the model's own "
    "image processor (hf) or the ResNet-18 ImageNet preprocessing (224x224, as the original); "
    "--dataset images are shaped (N, 1, 28, 28) unless --input-shape says otherwise; --text-file "
    "lines are tokenized by each hf model's tokenizer. Prints the score, the level independent "
    "units of the same widths, depths and probe count reach, and the difference; --null and "
    "--interval add nulls that fit real networks (B's probes shuffled, B untrained) with a "
    "p-value, and a probe-bootstrap interval.", 88)


def _model_options(c: argparse.ArgumentParser, sides: tuple[str, ...]) -> None:
    for s in sides:
        suffix = f"-{s}" if s else ""
        c.add_argument(f"--weights{suffix}", default="default", metavar="W",
                       help="zoo/timm weights: default (torchvision's DEFAULT, timm's pretrained), none (seeded "
                            "random init), a torchvision weights name such as IMAGENET1K_V1, or (timm) a checkpoint file")
        c.add_argument(f"--arch{suffix}", metavar="NAME", help="architecture of a .safetensors file: a torchvision "
                                                               "name (resnet18) or timm:NAME")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--probe-dir", metavar="FOLDER", help="folder of images (ImageNet preprocessing)")
    src.add_argument("--dataset", help="mnist, fashion-mnist, kmnist, afro-mnist or digits")
    src.add_argument("--text-file", metavar="PATH", help="text probes, one per line (hf text models)")
    c.add_argument("--split", default="test", choices=("train", "test"), help="dataset split (default test)")
    c.add_argument("--protocol", default="official", choices=("official", "original", "test-split"),
                   help="which images form the split (see xcorr_lib.data.load_dataset)")
    c.add_argument("--input-shape", metavar="C,H,W", type=_int_list,
                   help="reshape each probe to this (default: dataset images (1, 28, 28))")
    c.add_argument("--n", type=int, help="number of probes (default: all)")
    c.add_argument("--seed", type=int, default=0, help="seed of the probe draw and of random inits")
    c.add_argument("--device", default="auto", help="auto (default: cuda when torch sees a GPU, else cpu), cpu or cuda")
    c.add_argument("--trust-pickle", action="store_true",
                   help="allow torch.load(weights_only=False) for pickled models: runs code from the file")
    c.add_argument("--local-files-only", action="store_true",
                   help="hf: never download (from_pretrained(local_files_only=True))")


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _null_list(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",")]
    bad = [k for k in kinds if k not in NULL_KINDS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown null {bad[0]!r}; valid: {', '.join(NULL_KINDS)}")
    return kinds


def _layers_spec(text: str) -> int | None:
    if text == "auto":
        return None
    if text.startswith("auto:") and text[5:].isdigit() and int(text[5:]) > 0:
        return int(text[5:])
    raise argparse.ArgumentTypeError(f"expected auto or auto:K, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``xcorr`` command."""
    parser = argparse.ArgumentParser(prog="xcorr", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list-models", help="list zoo models, their weights and stages")
    lay = sub.add_parser("layers", help="hookable modules of a model with their output shapes")
    lay.add_argument("model", metavar="MODEL", help="; ".join(SOURCE_FORMS))
    _model_options(lay, ("",))
    c = sub.add_parser(
        "compare", help="cross-model neuronal correlation of two models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_COMPARE_HELP)
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    _model_options(c, ("a", "b"))
    for s in ("a", "b"):
        c.add_argument(f"--modules-{s}", metavar="NAME:DEPTH,...",
                       help="modules to compare with their depth ids (default for zoo models: the "
                            "paper's stage at depth 0; for hf models: every hidden state; required for files "
                            "unless --layers auto)")
    c.add_argument("--layers", type=_layers_spec, default=False, metavar="auto[:K]",
                   help="choose K layers of each model (default 4) at the same relative depth and pair them "
                        "(for models whose module names differ; see `xcorr layers`)")
    for flag, choices in (("--variant", ("paper", "original")), ("--direction", ("both", "forward")),
                          ("--constant", ("zero", "exclude", "minus-one")), ("--spatial", ("flatten", "mean")),
                          ("--matching", ("semi", "one-to-one"))):
        c.add_argument(flag, default=choices[0], choices=choices, help=f"default {choices[0]}")
    c.add_argument("--channels", type=_int_list, metavar="0,1,...",
                   help="keep only these channels of conv outputs (the original used 0)")
    c.add_argument("--block-size", type=int, help="units per correlation block (memory)")
    c.add_argument("--batch-size", type=int, default=64, help="probes per forward pass")
    c.add_argument("--map", metavar="PNG", help="layer-by-layer map (score and linear CKA of every module of A "
                                                "against every module of B): heatmaps to PNG, table to .csv beside")
    c.add_argument("--null", type=_null_list, action="extend", metavar="KIND[,KIND]",
                   help="nulls beside the score (repeatable): shuffle (B's probes permuted, --n-null draws, a "
                        "p-value), untrained (B's architecture re-initialized, --n-twins seeds), analytic "
                        "(independent Gaussian units). The first is the chance level of the corrected score")
    c.add_argument("--n-null", type=_positive_int, default=200, metavar="N", help="permutations of the shuffle null (200)")
    c.add_argument("--n-twins", type=_positive_int, default=3, metavar="N", help="untrained twins of B (3)")
    c.add_argument("--interval", action="store_true",
                   help="95%% probe-bootstrap interval of the score (probes resampled, --n-boot times)")
    c.add_argument("--n-boot", type=_positive_int, default=200, metavar="N", help="resamples of --interval (200)")
    c.add_argument("--json", metavar="PATH", help="write score, interval, nulls, parameters, breakdown and versions")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("--yes", action="store_true", help="do not ask before a run estimated at over a minute")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``xcorr`` / ``python -m xcorr_lib``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if hasattr(args, "device"):
        args.device = resolve_device(args.device)
    try:
        if args.command == "list-models":
            print(list_models())
        elif args.command == "layers":
            layers(args)
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
