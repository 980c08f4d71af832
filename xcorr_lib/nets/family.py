"""Networks beyond the paper's six: one :class:`ModelSpec` per network of a population.

A spec names an architecture of the paper's two families (an FCN with any hidden widths,
the CNN with any two conv widths) and how it is trained (epochs, dropout, learning rate,
seed), or that it stays untrained (its random initial weights: the null group of the
population study). :func:`train_spec` trains it through the checkpoint cache, so a rerun
and every notebook that needs the same network load it instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from xcorr_lib.common.fingerprints import data_fingerprint
from xcorr_lib.nets.checkpoints import cached_model
from xcorr_lib.nets.models import CNN, FCN
from xcorr_lib.nets.training import CNN_RECIPE, FCN_RECIPE, train, training_conditions

__all__ = ["ModelSpec", "build_model", "train_spec", "n_params"]

FAMILY_FORMAT = 1


@dataclass(frozen=True)
class ModelSpec:
    """One network of a population.

    kind : "fcn" (``widths`` = hidden widths, 1+ layers) or "cnn" (``widths`` = the two
        conv widths; the fc layer keeps 100 units).
    epochs : 0 for an untrained network (random initial weights), else passes over the data.
    dropout, lr : the recipe's (lr None: the paper's, 0.1 SGD for FCNs, 0.002 Adam for CNNs).
    seed : initial weights and training.
    family : the architecture label (seeds and recipes of one architecture are one family,
        the unit of resampling); default made from kind and widths.
    """

    kind: Literal["fcn", "cnn"]
    widths: tuple[int, ...]
    epochs: int
    dropout: float = 0.5
    lr: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("fcn", "cnn"):
            raise ValueError(f"kind must be 'fcn' or 'cnn', got {self.kind!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.kind == "cnn" and len(self.widths) != 2:
            raise ValueError(f"a CNN spec needs two conv widths, got {self.widths}")
        if int(self.epochs) != self.epochs or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs}")

    @property
    def family(self) -> str:
        return f"{self.kind.upper()}[{'-'.join(map(str, self.widths))}]"

    @property
    def trained(self) -> bool:
        return self.epochs > 0

    @property
    def name(self) -> str:
        """Unique within a population: family, recipe and seed."""
        recipe = f"e{self.epochs}-d{self.dropout:g}" + ("" if self.lr is None else f"-lr{self.lr:g}")
        return f"{self.family}-{recipe}-s{self.seed}"

    @property
    def n_layers(self) -> int:
        return len(self.widths)

    def recipe(self) -> Any:
        base = CNN_RECIPE if self.kind == "cnn" else FCN_RECIPE
        return dataclasses.replace(base, epochs=max(self.epochs, 1), lr=base.lr if self.lr is None else self.lr)


def build_model(spec: ModelSpec) -> nn.Module:
    """The untrained network of ``spec`` (initial weights from ``torch.manual_seed(spec.seed)``)."""
    torch.manual_seed(spec.seed)
    if spec.kind == "fcn":
        return FCN(spec.widths, dropout=spec.dropout)
    return CNN(dropout=spec.dropout, channels=spec.widths)


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def train_spec(spec: ModelSpec, X: Any, y: Any, *, key: dict[str, Any], progress: bool = False,
               device: Any = None) -> nn.Module:
    """``spec`` trained on (X, y) on ``device`` (default CPU; cached under a key of the spec, the
    data, ``key`` and a non-CPU device), or its initial weights when ``spec.epochs == 0``.
    CPU, eval mode."""
    if not spec.trained:
        model = build_model(spec).eval()
        return model
    full_key = {"format": FAMILY_FORMAT, "spec": dataclasses.asdict(spec), "arch": build_model(spec).spec,
                "recipe": spec.recipe().as_dict(), "dataset": dict(key), "data": data_fingerprint(X, y),
                **training_conditions(device)}

    def fit() -> nn.Module:
        model = build_model(spec)
        model.train_history_ = train(model, X, y, spec.recipe(), seed=spec.seed, progress=progress,  # type: ignore[assignment]
                                     device=device, desc=spec.name)
        return model

    return cached_model(full_key, spec.family.replace("[", "-").replace("]", ""), lambda: build_model(spec), fit)
