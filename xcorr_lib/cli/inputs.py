"""The command line's inputs: models (every source of :mod:`xcorr_lib.nets.sources`), their
modules (given, the source's default, or ``--layers auto``), probes per model, and captures.

Errors a user can fix are :class:`CLIError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xcorr_lib.nets import zoo
from xcorr_lib.nets.layers import choose_layers, list_layers, pair_by_depth
from xcorr_lib.nets.model_files import ModelFileError, first_line, tap_script_modules
from xcorr_lib.nets.sources import Source, is_random, load_source

__all__ = ["CLIError", "parse_modules", "load_side", "load_probes", "check_modules", "auto_layers", "capture_side"]

TRANSFORM = "ResNet18_Weights.IMAGENET1K_V1"  # preprocessing of --probe-dir images (as the original)


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


def load_side(spec: str, *, weights: str, arch: str | None, args: argparse.Namespace) -> Source:
    """Load one model; a zoo name that is not known lists the zoo."""
    if spec not in zoo.MODELS and not spec.startswith(("timm:", "hf:")) and not Path(spec).exists() \
            and not any(c in spec for c in "/\\."):
        raise CLIError(f"unknown model {spec!r}: not a file, timm:NAME, hf:ID or a zoo model; "
                       f"zoo models: {', '.join(zoo.MODELS)}")
    try:
        return load_source(spec, weights=None if is_random(weights) else weights, arch=arch, seed=args.seed,
                           trust_pickle=args.trust_pickle, local_files_only=args.local_files_only, device=args.device)
    except (ValueError, zoo.WeightsUnavailableError) as err:
        raise CLIError(str(err)) from err


def check_modules(src: Source, mods: dict[str, int], side: str) -> dict[str, int]:
    """``mods`` when every name is a module of the model, else a CLIError naming the valid ones."""
    known = [n for n, _ in src.model.named_modules() if n]
    missing = [m for m in mods if m not in known]
    if missing:
        close = sorted({c for m in missing for c in difflib.get_close_matches(m, known, n=2)})
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise CLIError(f"unknown module(s) {', '.join(map(repr, missing))} in model {side} ({src.spec}){hint}; "
                       f"valid modules: {src.valid}")
    return mods


def load_probes(src: Source, args: argparse.Namespace) -> tuple[torch.Tensor, dict[str, Any]]:
    """The probes as ``src`` takes them: token indices of ``--text-file`` lines, ``--probe-dir``
    images (the model's own image processor when it has one, else ResNet-18's ImageNet
    preprocessing), or ``--dataset`` images reshaped to ``--input-shape``."""
    from xcorr_lib import data

    if getattr(args, "text_file", None):
        if src.inputs != "text":
            raise CLIError(f"{src.spec} takes images, not text (--text-file); give --probe-dir or --dataset")
        texts = [t for t in Path(args.text_file).read_text(encoding="utf-8").splitlines() if t.strip()]
        if args.n is not None:
            texts = texts[: args.n]
        try:
            return src.model.encode_texts(src.model.tokenizer, texts), {"text_file": str(args.text_file), "n": len(texts)}
        except ValueError as err:
            raise CLIError(f"{args.text_file}: {err}") from err
    if src.inputs == "text":
        raise CLIError(f"{src.spec} is a text model: give --text-file (one text per line)")
    try:
        if args.probe_dir:
            kw = {"transform": src.image_transform} if src.image_transform else {"weights": TRANSFORM}
            x, _ = data.load_probe_images(args.probe_dir, n=args.n, seed=args.seed, **kw)
            source = {"probe_dir": str(args.probe_dir), "transform": "the model's image processor"
                      if src.image_transform else TRANSFORM}
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
    if len(x) > 1 and torch.equal(x, x[:1].expand_as(x)):
        raise CLIError(f"all {len(x)} probes are the same input after preprocessing ({source}): every unit would be "
                       "constant and the score meaningless; give different probes")
    return x, {**source, "n": len(x), "seed": args.seed, "shape": list(x.shape)}


def _rejected(src: Source, x: torch.Tensor, side: str, err: BaseException) -> CLIError:
    """The one-line error for probes a model's forward pass refused, with the input it expects."""
    return CLIError(f"model {side} ({src.spec}) rejected the probes of shape {tuple(x.shape)}: "
                    f"{first_line(err)}; {src.hint}")


def layer_table(src: Source, x: torch.Tensor, side: str) -> pd.DataFrame:
    """:func:`list_layers` of one model, its probe errors as CLIError."""
    try:
        return list_layers(src.model, x)
    except (RuntimeError, ValueError, TypeError) as err:
        raise _rejected(src, x, side, err) from err


def auto_layers(a: Source, xa: torch.Tensor, b: Source, xb: torch.Tensor, k: int | None) -> pd.DataFrame:
    """``--layers auto[:K]``: K stages of each model at the same relative depths (see nets.layers);
    columns ``source_a`` / ``source_b`` say where each model's stages came from."""
    (names_a, source_a), (names_b, source_b) = (choose_layers(a.model, layer_table(a, xa, "A")),
                                                choose_layers(b.model, layer_table(b, xb, "B")))
    try:
        return pair_by_depth(names_a, names_b, k).assign(source_a=source_a, source_b=source_b)
    except ValueError as err:
        raise CLIError(str(err)) from err


def capture_side(src: Source, mods: dict[str, int], x: torch.Tensor, args: argparse.Namespace, label: str):
    """:func:`xcorr_lib.nets.capture.capture` of the chosen modules (TorchScript outputs tapped)."""
    from xcorr_lib.nets.capture import capture

    model = src.model
    if isinstance(model, torch.jit.ScriptModule):
        try:
            model = tap_script_modules(model, list(mods))
        except ValueError as err:
            raise CLIError(f"model {label} ({src.spec}): {err}") from err
    try:
        return capture(model, x, mods, batch_size=args.batch_size, channels=args.channels, spatial=args.spatial,
                       device=args.device, progress=False if args.quiet else None)
    except (RuntimeError, ValueError, TypeError) as err:
        raise _rejected(src, x, label, err) from err
    except ModelFileError as err:
        raise CLIError(str(err)) from err
