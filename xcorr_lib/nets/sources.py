"""Where models come from: one loader for every model source the library and the CLI accept.

``load_source(spec)`` reads a model specification and returns a :class:`Source`: an eager
``nn.Module`` in eval mode whose named submodules can be hooked by
:func:`xcorr_lib.nets.capture.capture_activations`, plus what the command line needs to
say about it. The forms of ``spec``:

==========================  ==================================================================
``resnet18`` (a zoo name)   torchvision, :mod:`xcorr_lib.nets.zoo` (``weights``: default / none / a name)
``timm:NAME``               ``timm.create_model(NAME)``; ``weights``: ``default`` (timm's pretrained
                            weights through its cache), ``none`` (seeded random init) or the path
                            of a local checkpoint (``.safetensors`` / ``.pth``)
``hf:ID_OR_DIR``            ``transformers.AutoModel.from_pretrained`` (``local_files_only``
                            honoured); its units are the hidden states (``output_hidden_states``):
                            modules ``hidden_states.0`` (embeddings) ... ``hidden_states.L``, each
                            averaged over the tokens (padding left out) to one vector per probe.
                            Text probes are tokenized with the model's tokenizer; image probes go
                            through its image processor when the folder has one
``FILE.safetensors``        weights only: ``arch`` (a torchvision name or ``timm:NAME``) builds the
                            network and ``safetensors.torch.load_file`` fills it (strict)
``FILE.pt2``                a ``torch.export`` program; ``torch.export.unflatten`` restores the
                            module hierarchy, so submodules can be hooked by name
``FILE`` (other)            TorchScript (``torch.jit.load``, deprecated by torch: a note says so;
                            outputs tapped, :mod:`.model_files`) or a ``torch.save``-d model
                            (pickles only with ``trust_pickle``)
==========================  ==================================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from xcorr_lib.common import devices
from xcorr_lib.nets import zoo
from xcorr_lib.nets.model_files import ModelFileError, first_line, input_hint, load_model_file, valid_names

__all__ = ["Source", "HiddenStates", "SOURCE_FORMS", "load_source", "is_random"]

#: One line per accepted form of a model specification (for --help).
SOURCE_FORMS = ("NAME (torchvision zoo: xcorr list-models)", "timm:NAME", "hf:HUB_ID or hf:LOCAL_DIR",
                "FILE.safetensors with --arch NAME or --arch timm:NAME", "FILE.pt2 (torch.export)",
                "FILE (TorchScript, deprecated; or a torch.save-d model with --trust-pickle)")
TORCHSCRIPT_NOTE = ("TorchScript is deprecated in this torch; save models with torch.export.save(...) as .pt2, "
                    "or weights with safetensors")


@dataclass
class Source:
    """A loaded model and what to say about it.

    ``model``: eager, eval mode; ``kind``: zoo, timm, hf, safetensors, export, torchscript or
    pickle; ``weights``: a label; ``hint``: the input it expects; ``valid``: module names for
    error messages; ``default_modules``: {name: depth} when the source has a natural choice;
    ``inputs``: "images" or "text"; ``image_transform``: PIL image -> (3, H, W) tensor when the
    model brings its own preprocessing; ``notes``: lines to print (deprecations); ``rebuild``:
    seed -> the same architecture freshly initialized by its own constructor (None when the
    source cannot say how it was built: files other than ``.safetensors``; see :mod:`.twins`).
    """

    model: nn.Module
    spec: str
    kind: str
    weights: str
    hint: str
    valid: str
    default_modules: dict[str, int] | None = None
    inputs: str = "images"
    image_transform: Callable | None = None
    notes: list[str] = field(default_factory=list)
    rebuild: Callable[[int], nn.Module] | None = None


def is_random(weights: str | None) -> bool:
    return weights is None or str(weights).lower() in ("none", "random")


# ----------------------------------------------------------------------------- Hugging Face
class HiddenStates(nn.Module):
    """A transformers model whose hidden states are modules: ``hidden_states.i`` receives
    layer i's output averaged over tokens (B, hidden). ``encode_texts`` tokenizes text probes
    once; the probe tensor is then the texts' indices, so batching works as for images."""

    def __init__(self, hf_model: nn.Module, n_states: int) -> None:
        super().__init__()
        self.hf = hf_model
        self.hidden_states = nn.ModuleList(nn.Identity() for _ in range(n_states))
        self._encoded: dict[str, torch.Tensor] | None = None

    def encode_texts(self, tokenizer: Any, texts: list[str], max_length: int = 128) -> torch.Tensor:
        if not texts:
            raise ValueError("no text probes: the text file is empty")
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        ids = enc["input_ids"]
        if len(texts) > 1 and torch.equal(ids, ids[:1].expand_as(ids)):
            raise ValueError(f"all {len(texts)} texts tokenize to the same ids: every unit would be constant; "
                             "give different texts")
        self._encoded = {k: v for k, v in enc.items() if isinstance(v, torch.Tensor)}
        return torch.arange(len(texts))

    def untrained(self, seed: int) -> "HiddenStates":
        """The same architecture from its config, initialized by transformers from ``seed``, with
        this wrapper's tokenizer and encoded texts."""
        import transformers

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            twin = HiddenStates(transformers.AutoModel.from_config(self.hf.config), len(self.hidden_states))
        twin.tokenizer, twin._encoded = getattr(self, "tokenizer", None), self._encoded
        return twin.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dev = next(self.hf.parameters()).device
        if x.is_floating_point():
            batch, mask = {"pixel_values": x.to(dev)}, None
        elif self._encoded is None:
            raise ValueError("text model: call encode_texts(tokenizer, texts) first (CLI: --text-file)")
        else:
            batch = {k: v[x.cpu()].to(dev) for k, v in self._encoded.items()}
            mask = batch.get("attention_mask")
        states = self.hf(**batch, output_hidden_states=True).hidden_states
        for tap, h in zip(self.hidden_states, states):
            if mask is None:
                tap(h.mean(dim=1) if h.ndim == 3 else h.flatten(2).mean(dim=2))
            else:
                w = mask.to(h.dtype).unsqueeze(-1)
                tap((h * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0))
        return states[-1]


def _load_hf(ref: str, local_files_only: bool) -> Source:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars are noise here

    try:
        model = transformers.AutoModel.from_pretrained(ref, local_files_only=local_files_only).eval()
    except (OSError, ValueError) as err:
        raise ModelFileError(f"cannot load hf:{ref}: {first_line(err)} (a Hugging Face hub id needs the network "
                             "or its files in the local cache; a folder needs save_pretrained's files)") from None
    n_states = int(getattr(model.config, "num_hidden_layers", 0)) + 1
    wrapper = HiddenStates(model, n_states).eval()
    tokenizer = processor = None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(ref, local_files_only=local_files_only)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if tokenizer is None:
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(ref, local_files_only=local_files_only)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    wrapper.tokenizer = tokenizer
    inputs = "text" if tokenizer is not None else "images"
    transform = None if processor is None else (lambda img: processor(img, return_tensors="pt")["pixel_values"][0])
    names = [f"hidden_states.{i}" for i in range(n_states)]
    hint = ("text probes (--text-file), tokenized with its tokenizer" if inputs == "text" else
            f"images (N, {getattr(model.config, 'num_channels', 3)}, {getattr(model.config, 'image_size', 'H')}, "
            f"{getattr(model.config, 'image_size', 'W')})" + (", preprocessed by its image processor" if processor else ""))
    return Source(wrapper, f"hf:{ref}", "hf", "from_pretrained", hint, ", ".join(names),
                  {n: i for i, n in enumerate(names)}, inputs, transform, rebuild=wrapper.untrained)


# ----------------------------------------------------------------------------- timm, files
def _timm_model(name: str, weights: str | None, seed: int) -> tuple[nn.Module, str]:
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if is_random(weights):
            return timm.create_model(name, pretrained=False), f"random-init (seed {seed})"
        if weights not in (None, "default", "pretrained"):
            if not Path(weights).is_file():
                raise ModelFileError(f"timm:{name}: weights {weights!r} is neither default, none nor a checkpoint file")
            return timm.create_model(name, pretrained=False, checkpoint_path=str(weights)), f"checkpoint {weights}"
        try:
            return timm.create_model(name, pretrained=True), "timm pretrained"
        except Exception as err:  # no network and no cached file
            raise zoo.WeightsUnavailableError(
                f"timm:{name}: pretrained weights are not in timm's cache and could not be downloaded "
                f"({first_line(err)}); use --weights none, or a local checkpoint path") from None


def _arch_model(arch: str | None, seed: int) -> nn.Module:
    if not arch:
        raise ModelFileError("a .safetensors file holds weights only: give the architecture with --arch "
                             "(a torchvision name such as resnet18, or timm:NAME)")
    if arch.startswith("timm:"):
        return _timm_model(arch[5:], "none", seed)[0]
    from torchvision.models import get_model

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return get_model(arch, weights=None)
    except ValueError as err:
        raise ModelFileError(f"unknown --arch {arch!r}: {first_line(err)}") from None


def _load_safetensors(path: Path, arch: str | None, seed: int) -> Source:
    from safetensors.torch import load_file

    model = _arch_model(arch, seed)
    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path} does not fit --arch {arch}: {first_line(err)}") from None
    except Exception as err:  # a corrupt or foreign file
        raise ModelFileError(f"cannot read {path}: {first_line(err)}") from None
    model.eval()
    return Source(model, str(path), "safetensors", f"{path.name} on {arch}", input_hint(model), valid_names(model),
                  rebuild=lambda s: _arch_model(arch, s))


def _load_export(path: Path) -> Source:
    try:
        program = torch.export.load(str(path))
    except Exception as err:
        raise ModelFileError(f"cannot read torch.export program {path}: {first_line(err)}") from None
    model = torch.export.unflatten(program)
    return Source(model, str(path), "export", "from file", input_hint(model), valid_names(model))


# ----------------------------------------------------------------------------- the loader
def load_source(spec: str, *, weights: str | None = "default", arch: str | None = None, seed: int = 0,
                trust_pickle: bool = False, local_files_only: bool = False,
                device: str | torch.device | None = None) -> Source:
    """Load the model named by ``spec`` (forms in the module docstring) in eval mode.

    Raises
    ------
    ModelFileError : a file that cannot be used, an unknown arch, an unloadable hub model.
    zoo.WeightsUnavailableError : pretrained weights neither cached nor downloadable.
    ValueError : an unknown zoo name or weights name.
    """
    if spec.startswith("hf:"):
        src = _load_hf(spec[3:], local_files_only)
    elif spec.startswith("timm:"):
        model, label = _timm_model(spec[5:], weights, seed)
        src = Source(model.eval(), spec, "timm", label, input_hint(model), valid_names(model),
                     rebuild=lambda s: _timm_model(spec[5:], "none", s)[0])
    elif spec in zoo.MODELS:
        model = zoo.load_model(spec, None if is_random(weights) else weights, seed=seed, device=device)
        entry = zoo.MODELS[spec]
        src = Source(model, spec, "zoo", model.xcorr_weights, "ImageNet images (N, 3, H, W), e.g. --probe-dir",
                     f"stages {', '.join(entry.stages)} or any module of the torchvision model",
                     {entry.paper_stage: 0}, rebuild=lambda s: zoo.load_model(spec, None, seed=s))
    else:
        path = Path(spec)
        if not path.is_file():
            raise ModelFileError(f"cannot read model file {spec!r}: no such file (and not a zoo model, "
                                 "timm:NAME or hf:ID)")
        if path.suffix == ".safetensors":
            src = _load_safetensors(path, arch, seed)
        elif path.suffix == ".pt2":
            src = _load_export(path)
        else:
            model, kind = load_model_file(path, trust_pickle=trust_pickle)
            src = Source(model, spec, kind, "from file", input_hint(model), valid_names(model),
                         notes=[TORCHSCRIPT_NOTE] if kind == "torchscript" else [])
    if device is not None:
        src.model = src.model.to(devices.torch_device(device))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src.model.eval()
    return src
