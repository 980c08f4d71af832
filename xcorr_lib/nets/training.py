"""Training the paper's small networks in plain PyTorch, with a checkpoint cache.

The original notebooks trained with skorch's ``NeuralNetClassifier`` defaults; this
module reproduces that recipe without skorch (the site's method page, "The original protocol"):

- loss: our models return logits and we use ``cross_entropy`` (= NLL of
  ``log_softmax``); skorch applied NLL to ``log(p + eps)`` of the softmax output.
- optimizer: plain SGD (no momentum) lr 0.1 for the FCNs, Adam lr 0.002 for the CNN;
  batch size 128; 20 epochs (FCN) / 10 epochs (CNN).
- validation hold-out: skorch's default ``ValidSplit(5, stratified=True)`` keeps the
  first fold of an UNSHUFFLED ``StratifiedKFold(5)`` (20% of every class, taken in
  data order) for validation and trains on the other 80%. We do exactly that whenever
  ``1 / val_fraction`` is an integer; other fractions use a seeded stratified shuffle
  split. The validation part is only used to report ``valid_loss``/``valid_acc`` per
  epoch (no early stopping, as in the original).
- batch order: skorch's DataLoader does not shuffle unless told to
  (``iterator_train__shuffle=True``, which the original did not set), so the paper
  recipes use ``shuffle=False``: the same batches in the same order every epoch.
  ``Recipe(shuffle=True)`` reshuffles every epoch with a seeded generator.

Determinism: :func:`train` draws dropout masks from ``torch.manual_seed`` of a seed
derived from ``seed`` inside a forked RNG (the caller's global RNG is untouched) and
shuffles with its own seeded ``torch.Generator``; together with
``make_model(name, seed=...)`` for the initial weights, the same seed gives bitwise
identical weights on the same machine, library versions and CPU thread count (train
uses one thread by default, see :func:`train`).

Checkpoints: :func:`load_or_train` caches trained weights in ``results/checkpoints/``
under a hash of what determines them (model name and architecture, recipe, seed, the
caller's dataset key, a fingerprint of the training arrays). Loading gives bitwise the
weights training produced, so a notebook replay prints the same numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from torch import nn
from tqdm import tqdm

from xcorr_lib.common import devices, numerics
from xcorr_lib.common.fingerprints import data_fingerprint
from xcorr_lib.nets.checkpoints import cached_model
from xcorr_lib.nets.evaluate import as_tensors
from xcorr_lib.nets.models import FCN_NAMES, MODEL_NAMES, Net4Variant, make_model, model_spec

OPTIMIZERS = ("sgd", "adam")
CHECKPOINT_FORMAT = 1
TRAINING_THREADS = 1  # CPU threads while training (checkpoint keys hold it; see checkpoint_key)
HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_acc")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a network is trained.

    Attributes
    ----------
    optimizer : {"sgd", "adam"}
        Plain SGD (no momentum, no weight decay) or Adam (PyTorch defaults otherwise).
    lr : float (> 0); epochs : int (>= 1) passes over the training part
    batch_size : int
        Mini-batch size (>= 1), also used for the validation pass.
    val_fraction : float
        Fraction held out for validation, in [0, 1); 0 trains on everything.
    shuffle : bool
        Reshuffle the training part every epoch (False = skorch's default).
    """

    optimizer: Literal["sgd", "adam"]
    lr: float
    epochs: int
    batch_size: int = 128
    val_fraction: float = 0.2
    shuffle: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def with_epochs(self, epochs: int | None) -> "Recipe":
        """A copy with another number of epochs (None keeps this one's)."""
        return self if epochs is None else dataclasses.replace(self, epochs=int(epochs))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The original FCN recipe: SGD lr 0.1, 20 epochs, batch 128, 20% validation, no shuffling.
FCN_RECIPE = Recipe(optimizer="sgd", lr=0.1, epochs=20)
#: The original CNN recipe: Adam lr 0.002, 10 epochs, batch 128, 20% validation, no shuffling.
CNN_RECIPE = Recipe(optimizer="adam", lr=0.002, epochs=10)


def derive_seed(seed: int, *labels: object) -> int:
    """A seed in [0, 2**31) derived from ``seed`` and labels (stable across processes)."""
    text = "/".join([str(int(seed)), *map(str, labels)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % (2**31)


def validation_split(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid) of a stratified hold-out of ``fraction`` of ``y``.

    ``1 / fraction`` integer (e.g. 0.2): the first fold of an unshuffled
    ``StratifiedKFold`` (skorch's default, ``seed`` unused); otherwise a
    ``StratifiedShuffleSplit`` seeded with ``seed``; ``fraction == 0``: no hold-out.
    """
    y = np.asarray(y)
    n = len(y)
    if fraction == 0:
        return np.arange(n), np.arange(0)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    k = round(1 / fraction)
    if abs(1 / fraction - k) < 1e-9:
        splitter: Any = StratifiedKFold(n_splits=k)
    else:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train_idx, valid_idx = next(iter(splitter.split(np.zeros(n), y)))
    return np.sort(train_idx), np.sort(valid_idx)


def _device(device: str | torch.device | None) -> torch.device:
    return devices.torch_device("cpu" if device is None else device)


def _make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr)


@torch.no_grad()
def _loss_and_acc(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                  dev: torch.device) -> tuple[float, float]:
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size].to(dev), y[start:start + batch_size].to(dev)
        logits = model(xb)
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return total_loss / len(X), correct / len(X)


def train(model: nn.Module, X: Any, y: Any, recipe: Recipe, *, seed: int, progress: bool = True,
          device: str | torch.device | None = None, desc: str | None = None,
          num_threads: int | None = TRAINING_THREADS) -> pd.DataFrame:
    """Train ``model`` in place with ``recipe``; returns the per-epoch history.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits (B, n_classes); its current weights are the start.
    X : array or tensor (N, 28, 28) (or any shape the model accepts), float in [0, 1]
    y : array or tensor (N,), int class labels
    recipe : Recipe
    seed : int
        Seeds the dropout masks and (if ``recipe.shuffle``) the batch order; also the
        validation split when ``1 / val_fraction`` is not an integer.
    progress : bool
        tqdm bar over epochs (stderr).
    device : str or torch.device, optional
        Where to train (default CPU); the model is moved there and left there.
    num_threads : int or None
        CPU threads torch may use while training (restored afterwards); None leaves
        torch's setting. Default 1: these networks are too small to gain from more
        threads, on a busy 2-core machine two threads were 10-30x slower than one, and
        CPU results are bitwise reproducible only for a fixed thread count.

    Returns
    -------
    pandas.DataFrame
        Columns epoch (1-based), train_loss, valid_loss, valid_acc (NaN without hold-out).
        The model is left in eval mode.
    """
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
    device = _device(device)  # an unusable device fails here, before any work
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        with numerics.portable_torch():  # portable mode: oneDNN off, ATen's pinned kernels
            return _train(model, X, y, recipe, seed=seed, progress=progress, device=device, desc=desc)
    finally:
        torch.set_num_threads(previous)


def _train(model: nn.Module, X: Any, y: Any, recipe: Recipe, *, seed: int, progress: bool,
           device: str | torch.device | None, desc: str | None) -> pd.DataFrame:
    Xt, yt = as_tensors(X, y)
    assert yt is not None
    train_idx, valid_idx = validation_split(yt.numpy(), recipe.val_fraction, seed)
    X_tr, y_tr = Xt[train_idx], yt[train_idx]
    X_va, y_va = Xt[valid_idx], yt[valid_idx]
    dev = _device(device)
    model.to(dev)
    optimizer = _make_optimizer(model, recipe)
    shuffler = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    cuda_devices = [dev.index or 0] if dev.type == "cuda" else []
    rows = []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(derive_seed(seed, "dropout"))
        bar = tqdm(range(1, recipe.epochs + 1), desc=desc or "train", unit="epoch",
                   disable=not progress, leave=False)
        for epoch in bar:
            model.train()
            order = (torch.randperm(len(X_tr), generator=shuffler) if recipe.shuffle
                     else torch.arange(len(X_tr)))
            total = 0.0
            for start in range(0, len(order), recipe.batch_size):
                idx = order[start:start + recipe.batch_size]
                xb, yb = X_tr[idx].to(dev), y_tr[idx].to(dev)
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            model.eval()
            valid_loss, valid_acc = (_loss_and_acc(model, X_va, y_va, recipe.batch_size, dev)
                                     if len(X_va) else (float("nan"), float("nan")))
            rows.append((epoch, total / len(X_tr), valid_loss, valid_acc))
            bar.set_postfix(loss=f"{rows[-1][1]:.4f}", valid_acc=f"{valid_acc:.4f}")
    model.eval()
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


# --- checkpoints -------------------------------------------------------------------

def checkpoint_key(name: str, recipe: Recipe, *, seed: int, key: Mapping[str, Any], data: str,
                   net4: Net4Variant = "paper", device: str | torch.device | None = None) -> dict[str, Any]:
    """Everything that determines a trained network's weights, as a JSON-able dict.

    Besides the model, recipe, seed and data it holds the torch version and the training
    thread count: on one machine the same seed gives other weights under another thread
    count (Fashion-MNIST Net3, 20 epochs: 83.1% test accuracy with 1 thread, 82.2% with 2),
    so a checkpoint trained under other conditions is never silently reused.
    """
    return {"format": CHECKPOINT_FORMAT, "model": name, "spec": model_spec(name, net4),
            "recipe": recipe.as_dict(), "seed": int(seed), "dataset": dict(key), "data": data,
            **training_conditions(device)}


def training_conditions(device: str | torch.device | None = None) -> dict[str, Any]:
    """The torch version, CPU thread count, (when portable) numeric mode and (when not the CPU)
    device training runs under: part of every checkpoint key, so a portable run never reuses
    natively trained weights, nor a CPU run weights trained on a GPU. A CPU key is the same
    as before devices were recorded, so existing CPU checkpoints stay valid."""
    conditions: dict[str, Any] = {"torch": torch.__version__.split("+")[0], "threads": TRAINING_THREADS}
    if numerics.is_portable():
        conditions["numerics"] = "portable-avx2"
    dev = _device(device)
    if dev.type != "cpu":
        conditions["device"] = dev.type
    return conditions


def load_or_train(name: str, X: Any, y: Any, recipe: Recipe, *, seed: int, key: Mapping[str, Any],
                  net4: Net4Variant = "paper", progress: bool = True,
                  device: str | torch.device | None = None) -> nn.Module:
    """Load ``name`` trained with this recipe/seed/data from the cache, or train and save it.

    Parameters
    ----------
    name : "Net1".."Net5" or "CNN"
    X, y : training data (as for :func:`train`)
    recipe : Recipe
    seed : int
        Seeds the initial weights (``make_model(name, seed=seed)``) and training.
    key : mapping
        Describes the data (e.g. ``{"dataset": "fashion-mnist", "protocol": "original",
        "n_train": None}``); JSON-able. The arrays' fingerprint is added automatically.
    net4 : {"paper", "original"}
        Net4's hidden sizes (ignored for the other nets).

    Returns
    -------
    nn.Module on CPU in eval mode, with attributes ``train_history_`` (DataFrame) and
    ``checkpoint_path_`` (Path); the file is ``results/checkpoints/<name>-<hash>.pt``
    (:func:`xcorr_lib.nets.checkpoints.cached_model`).
    """
    full_key = checkpoint_key(name, recipe, seed=seed, key=key, net4=net4, data=data_fingerprint(X, y),
                              device=device)

    def build() -> nn.Module:
        model = make_model(name, net4=net4, seed=seed)
        model.train_history_ = train(model, X, y, recipe, seed=seed, progress=progress,  # type: ignore[assignment]
                                     device=device, desc=name)
        return model

    return cached_model(full_key, name, lambda: make_model(name, net4=net4, seed=seed), build)


def net_seed(name: str, seed: int) -> int:
    """The per-network seed :func:`train_paper_nets` derives from its base seed."""
    return derive_seed(seed, name)


def train_paper_nets(dataset_key: str | Mapping[str, Any], X_train: Any, y_train: Any, *,
                     names: Iterable[str] = MODEL_NAMES, net4: Net4Variant = "paper",
                     fcn_recipe: Recipe = FCN_RECIPE, cnn_recipe: Recipe = CNN_RECIPE,
                     seed: int = 0, progress: bool = True,
                     device: str | torch.device | None = None) -> dict[str, nn.Module]:
    """The paper's networks trained on one dataset (cached, see :func:`load_or_train`).

    Every net gets its own seed ``net_seed(name, seed)``. The original notebooks called
    ``torch.manual_seed(0)`` once and then trained the nets in sequence, so each net's
    weights depended on every net trained before it (and on the order). Per-net seeds
    make each network reproducible on its own, so it can be cached, reused by other
    notebooks and retrained alone.

    Returns ``{name: model}`` in the order of ``names`` (CPU, eval mode).
    """
    key = {"dataset": dataset_key} if isinstance(dataset_key, str) else dict(dataset_key)
    nets: dict[str, nn.Module] = {}
    for name in names:
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
        recipe = cnn_recipe if name == "CNN" else fcn_recipe
        nets[name] = load_or_train(name, X_train, y_train, recipe, seed=net_seed(name, seed), key=key,
                                   net4=net4, progress=progress, device=device)
    return nets


def train_nets(split: Any, *, net4: str = "paper", net4_variants: Sequence[str] = ("paper",),
               fcn_recipe: Recipe = FCN_RECIPE, cnn_recipe: Recipe = CNN_RECIPE, with_cnn: bool = False,
               seed: int = 0, progress: bool = True,
               device: str | torch.device | None = None) -> dict[str, dict[str, nn.Module]]:
    """{net4 variant: {name: trained net}} on a :class:`xcorr_lib.data.splits.Split` (cached, see
    ``train_paper_nets``), trained on ``device`` (``"auto"``: a GPU when there is one; default CPU).

    Every variant's dict holds all nets; only Net4 differs between variants (the other
    nets share their checkpoints). ``net4`` (the main variant) is always included.
    """
    variants = list(dict.fromkeys([net4, *net4_variants]))
    names = (*FCN_NAMES, "CNN") if with_cnn else FCN_NAMES
    return {v: train_paper_nets(split.key, split.X_train, split.y_train, names=names, net4=v,
                                fcn_recipe=fcn_recipe, cnn_recipe=cnn_recipe, seed=seed, progress=progress,
                                device=device)
            for v in variants}
