"""Model Alignment Search (MAS, Grant 2025): a causal similarity between frozen networks.

Each model i gets one learned orthogonal matrix Q_i (n_i x n_i) on the flattened output of
one chosen module (its "layer", n_i units). For an ordered pair (source A, target B) and
inputs (x_src, x_base)::

    z_A = Q_A h_A(x_src);  z_B = Q_B h_B(x_base)    # rotate into the aligned space
    z_B[:d] = z_A[:d];     h_B' = Q_B^T z_B         # swap the first d coordinates, rotate back
    B finishes its forward pass from h_B'           # forward hook on B's module

Layers of different widths share the first d coordinates of their own rotated spaces, so
d <= min_i n_i. The Q's are trained with the models frozen (eval mode, no gradients) by
cross-entropy so that the intervened target outputs the class of x_src; every ordered pair
is trained at once, within-model pairs (A->A, B->B) included: n models, n matrices.
Interchange intervention accuracy (IIA), the fraction of held-out pairs on which the
intervened target outputs that class, is the similarity; chance is 1/n_classes.

Choices: ``counterfactual="true"`` (default) takes the true label of x_src (IIA is then
capped by the source's accuracy), ``"source"`` the source model's prediction on x_src.
``pair_mode="differ"`` (default) uses pairs whose labels differ, so an intervention that
does nothing scores ~0 rather than ~10%; ``"all"`` any two inputs.
Caveat (tests/test_mas.py): an untrained target's random readout can be steered, so
A -> untrained can score high while untrained -> A stays low; read both directions, or
their minimum (:mod:`xcorr_lib.studies.alignment_search`, which also runs the untrained-copy check).
The linear-stitching baseline is in :mod:`xcorr_lib.measures.stitching`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal
from tqdm import tqdm

from xcorr_lib.common.checks import check_option, check_positive_ints
from xcorr_lib.nets.evaluate import predict_labels
from xcorr_lib.nets.hooks import as_inputs, as_labels, frozen, layer_output, model_device, replace_output

Counterfactual = Literal["true", "source"]
PairMode = Literal["differ", "all"]
COUNTERFACTUALS = ("true", "source")
PAIR_MODES = ("differ", "all")


def random_orthogonal(n: int, generator: torch.Generator) -> torch.Tensor:
    """Haar-random orthogonal (n, n) float32 matrix (QR of a Gaussian with sign fix)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def make_pairs(y: np.ndarray | torch.Tensor, n_pairs: int, *, seed: int = 0,
               mode: PairMode = "differ") -> tuple[np.ndarray, np.ndarray]:
    """Seeded (source, base) index pairs into ``y``.

    Returns two int64 arrays of shape (n_pairs,). ``mode="differ"`` keeps only pairs whose
    labels differ (redraws the base until they do); ``"all"`` draws both uniformly.
    """
    check_option("pair_mode", mode, PAIR_MODES)
    labels = np.asarray(y.cpu() if torch.is_tensor(y) else y)
    if n_pairs < 1 or labels.size < 2:
        raise ValueError(f"need n_pairs >= 1 and at least 2 inputs, got {n_pairs}, {labels.size}")
    if mode == "differ" and np.unique(labels).size < 2:
        raise ValueError("pair_mode='differ' needs at least two classes in y")
    return _draw_pairs(labels, n_pairs, np.random.default_rng(seed), mode)


def _draw_pairs(labels: np.ndarray, n_pairs: int, rng: np.random.Generator,
                mode: str) -> tuple[np.ndarray, np.ndarray]:
    src = rng.integers(0, labels.size, n_pairs)
    base = rng.integers(0, labels.size, n_pairs)
    if mode == "differ":
        same = labels[src] == labels[base]
        while same.any():
            base[same] = rng.integers(0, labels.size, int(same.sum()))
            same = labels[src] == labels[base]
    return src.astype(np.int64), base.astype(np.int64)


def swap_subspace(h_base: torch.Tensor, z_src: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Replace the first d rotated coordinates of ``h_base`` by ``z_src``.

    h_base: (batch, n) target activations; z_src: (batch, d) source's aligned coordinates;
    Q: (n, n) the target's orthogonal matrix. Returns ``Q^T [z_src, (Q h_base)[d:]]`` (batch, n).
    """
    z = h_base @ Q.T
    d = z_src.shape[1]
    return torch.cat([z_src, z[:, d:]], dim=1) @ Q


@dataclass
class MASResult:
    """One trained orthogonal matrix per model: ``rotations[name]`` (n_i, n_i) float32 CPU.

    Also the models, layers (module names), widths n_i, d, the training settings and
    ``losses`` (mean cross-entropy per step).
    """

    models: dict[str, nn.Module]
    layers: dict[str, str]
    rotations: dict[str, torch.Tensor]
    widths: dict[str, int]
    d: int
    counterfactual: str
    pair_mode: str
    seed: int
    steps: int
    batch_size: int
    lr: float
    losses: list[float] = field(default_factory=list)


def train_mas(models: Mapping[str, nn.Module], layers: Mapping[str, str],
              X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *, d: int,
              steps: int = 1000, batch_size: int = 128, lr: float = 1e-2, seed: int = 0,
              counterfactual: Counterfactual = "true", pair_mode: PairMode = "differ",
              progress: bool = True) -> MASResult:
    """Learn one orthogonal matrix per model so that interchange interventions transfer class.

    Parameters
    ----------
    models : name -> frozen classifier returning logits (batch, n_classes).
    layers : name -> module name whose (flattened) output is aligned, width n_i.
    X, y : training inputs (N, ...) in the models' input shape, integer labels (N,).
    d : size of the swapped subspace, 1 <= d <= min_i n_i.
    steps, batch_size, lr : Adam steps, input pairs per step, learning rate.
    seed : seeds the initial (Haar-random) rotations and the pair draws.
    counterfactual : "true" (label of x_src) or "source" (source model's prediction on x_src).
    pair_mode : "differ" (labels of x_src, x_base differ) or "all".

    Every step draws ``batch_size`` pairs and averages the cross-entropy over all ordered
    (source, target) pairs, within-model ones included. Each target runs once on x_base and
    its hook tiles the intervened state for every source, so the rest of its forward pass
    after the aligned module must act row by row (true for the paper's nets; otherwise a
    shape error). All models on one device. Train/eval modes and ``requires_grad`` flags
    are restored afterwards.
    """
    check_positive_ints(d=d, steps=steps, batch_size=batch_size)
    if not models or set(models) != set(layers):
        raise ValueError(f"models and layers need the same (non-empty) keys, got "
                         f"{sorted(models)} and {sorted(layers)}")
    check_option("counterfactual", counterfactual, COUNTERFACTUALS)
    check_option("pair_mode", pair_mode, PAIR_MODES)
    names = list(models)
    device = model_device(models[names[0]])
    Xt = as_inputs(X, device)
    labels = as_labels(y, len(Xt))
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels_np = labels.numpy()
    make_pairs(labels_np, 1, mode=pair_mode)  # validates labels for the pair mode
    with frozen(list(models.values())):
        widths = {k: layer_output(models[k], layers[k], Xt[:2]).shape[1] for k in names}
        if d > min(widths.values()):
            raise ValueError(f"d={d} exceeds the smallest layer width {min(widths.values())} "
                             f"(widths: {widths})")
        preds = ({k: predict_labels(models[k], Xt, batch_size=1024) for k in names}
                 if counterfactual == "source" else {})
        rots = nn.ModuleDict()
        for k in names:
            lin = nn.Linear(widths[k], widths[k], bias=False)
            with torch.no_grad():
                lin.weight.copy_(random_orthogonal(widths[k], gen))
            # Cayley map: ~10x faster than the default matrix_exp at n = 392
            rots[k] = orthogonal(lin, orthogonal_map="cayley")
        rots.to(device)
        opt = torch.optim.Adam(rots.parameters(), lr=lr)
        losses: list[float] = []
        bar = tqdm(range(steps), desc=f"MAS d={d}", disable=not progress, leave=False)
        for step in bar:
            src, base = _draw_pairs(labels_np, batch_size, rng, pair_mode)
            x_src, x_base = Xt[src], Xt[base]
            Q = {k: rots[k].weight for k in names}
            with torch.no_grad():
                h_src = {k: layer_output(models[k], layers[k], x_src) for k in names}
            z_src = torch.cat([h_src[k] @ Q[k][:d].T for k in names])        # (S*B, d)
            if counterfactual == "true":
                target = labels[src].repeat(len(names))
            else:
                target = torch.cat([preds[k][src] for k in names])
            target = target.to(device)
            loss = torch.zeros((), device=device)
            for t in names:  # one forward of x_base; the hook tiles h for every source
                def fn(h: torch.Tensor, t: str = t) -> torch.Tensor:
                    return swap_subspace(h.repeat(len(names), 1), z_src, Q[t])
                with replace_output(models[t], layers[t], fn):
                    logits = models[t](x_base)
                if logits.shape[0] != len(target):
                    raise ValueError(f"{t}: the forward pass after {layers[t]!r} is not row-wise "
                                     f"(got {logits.shape[0]} rows, expected {len(target)})")
                loss = loss + nn.functional.cross_entropy(logits, target)
            loss = loss / len(names)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        with torch.no_grad():
            rotations = {k: rots[k].weight.detach().cpu().clone() for k in names}
    return MASResult(models=dict(models), layers=dict(layers), rotations=rotations,
                     widths=widths, d=int(d), counterfactual=counterfactual,
                     pair_mode=pair_mode, seed=seed, steps=steps, batch_size=batch_size,
                     lr=lr, losses=losses)


def iia(result: MASResult, source: str, target: str, X: np.ndarray | torch.Tensor,
        y: np.ndarray | torch.Tensor, *, n_pairs: int | None = None, seed: int = 1,
        pair_mode: PairMode | None = None, batch_size: int = 512) -> float:
    """Interchange intervention accuracy of ``source -> target`` on held-out input pairs.

    Draws ``n_pairs`` (default ``len(X)``) seeded pairs from ``X, y`` (``pair_mode``
    defaults to the one used in training), swaps the aligned d-subspace of the source's
    layer on x_src into the target's layer on x_base and returns the fraction (in [0, 1])
    of pairs where the target outputs the counterfactual class. Chance: 1/n_classes.
    """
    for name in (source, target):
        if name not in result.models:
            raise ValueError(f"unknown model {name!r}; trained models: {list(result.models)}")
    mode = result.pair_mode if pair_mode is None else pair_mode
    ma, mb = result.models[source], result.models[target]
    device = model_device(mb)
    Xt = as_inputs(X, device)
    labels = as_labels(y, len(Xt))
    src, base = make_pairs(labels, len(Xt) if n_pairs is None else n_pairs, seed=seed, mode=mode)
    Qa = result.rotations[source].to(device)
    Qb = result.rotations[target].to(device)
    d = result.d
    hits = 0
    with frozen([ma, mb]), torch.no_grad():
        for i in range(0, len(src), batch_size):
            s, b = src[i:i + batch_size], base[i:i + batch_size]
            x_src = Xt[s]
            z = layer_output(ma, result.layers[source], x_src) @ Qa[:d].T
            want = labels[s] if result.counterfactual == "true" else predict_labels(ma, x_src, batch_size=1024)
            with replace_output(mb, result.layers[target], lambda h: swap_subspace(h, z, Qb)):
                got = mb(Xt[b]).argmax(1).cpu()
            hits += int((got == want).sum())
    return hits / len(src)


def mas_pair(model_a: nn.Module, layer_a: str, model_b: nn.Module, layer_b: str,
             X_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor,
             X_test: np.ndarray | torch.Tensor, y_test: np.ndarray | torch.Tensor, *,
             d: int, steps: int = 1000, batch_size: int = 128, lr: float = 1e-2,
             seed: int = 0, counterfactual: Counterfactual = "true",
             pair_mode: PairMode = "differ", n_pairs: int | None = None,
             progress: bool = True) -> dict[str, float]:
    """MAS on two models: train on (X_train, y_train), IIA on held-out (X_test, y_test).

    Returns ``{"iia_a_to_b", "iia_b_to_a", "iia_a_to_a", "iia_b_to_b"}`` (each in [0, 1]).
    """
    res = train_mas({"A": model_a, "B": model_b}, {"A": layer_a, "B": layer_b},
                    X_train, y_train, d=d, steps=steps, batch_size=batch_size, lr=lr,
                    seed=seed, counterfactual=counterfactual, pair_mode=pair_mode,
                    progress=progress)
    out = {}
    for s, t in (("A", "B"), ("B", "A"), ("A", "A"), ("B", "B")):
        out[f"iia_{s.lower()}_to_{t.lower()}"] = iia(res, s, t, X_test, y_test,
                                                     n_pairs=n_pairs, seed=seed + 1)
    return out


def iia_table(result: MASResult, X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
              *, pairs: Sequence[tuple[str, str]] | None = None, n_pairs: int | None = None,
              seed: int = 1) -> pd.DataFrame:
    """IIA of every ordered (source, target) pair (default: all, self-pairs included).

    Returns columns source, target, d, iia (one row per ordered pair; same held-out pairs
    for every row, drawn with ``seed``).
    """
    names = list(result.models)
    pairs = [(s, t) for s in names for t in names] if pairs is None else list(pairs)
    rows = [{"source": s, "target": t, "d": result.d,
             "iia": iia(result, s, t, X, y, n_pairs=n_pairs, seed=seed)} for s, t in pairs]
    return pd.DataFrame(rows, columns=["source", "target", "d", "iia"])
