"""Black-box transfer attack of the paper (Algorithm 1, Table 4, Figure 1).

The attacker never touches the networks under test: it trains its own *substitute* on
the test images with their true labels, moves every image one FGSM step against it, and
repeats. One round, as the original notebooks ran it::

    substitute <- the two-layer CNN trained (Adam, lr 0.002, 3 epochs) on (X_cur, y)
    X_cur      <- clip(X_cur + eps * sign(grad_x loss(substitute(X_cur), y)), 0, 1)

gradient in eval mode, batches of 500, loss averaged per batch; only the last round's
images are kept and handed to the real networks (``robustness.evaluate_attack``).
Two details of the original are options:

* ``loss="original"``: the original CNN ended in a softmax and the attack applied
  ``nn.CrossEntropyLoss`` to it: cross-entropy of softmax(softmax(logits)), a *double*
  softmax, which changes the gradient's direction (it only sees probabilities in [0, 1]).
  ``loss="logits"`` is the fix (cross-entropy on the logits).
* ``substitute_init="fresh"``: a newly initialised substitute every round (Algorithm 1).
  The original passed a CNN *instance* to skorch, whose ``fit`` keeps an existing module
  as it is (only the optimizer is re-created), so its substitute kept training the same
  weights round after round: ``substitute_init="continue"`` reproduces that.
  ``substitute_init="original"`` is the whole original: the substitute also STARTS from the
  evaluated CNN's initial weights (both were built right after ``torch.manual_seed(0)``),
  given as ``substitute_start``, and keeps training across rounds.

``sign(0) = 0``: a pixel with exactly zero gradient does not move. Nothing projects back
onto an eps-ball, so after ``rounds`` steps a pixel can be ``rounds * eps`` away from the
clean image (100/255 with the paper's settings); :class:`AttackResult` records it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from xcorr_lib.common import devices
from xcorr_lib.common.checks import check_option, check_positive_int
from xcorr_lib.common.fingerprints import data_fingerprint, model_fingerprint
from xcorr_lib.common.provenance import atomic_write, results_dir
from xcorr_lib.nets.evaluate import as_class_labels, as_pixel_images, check_labels_fit, evaluate
from xcorr_lib.nets.hooks import model_device
from xcorr_lib.nets.models import make_cnn, make_model
from xcorr_lib.nets.training import CNN_RECIPE, net_seed, train

LossName = Literal["original", "logits"]
SubstituteInit = Literal["fresh", "continue", "original"]
LOSSES: tuple[str, ...] = ("original", "logits")
SUBSTITUTE_INITS: tuple[str, ...] = ("fresh", "continue", "original")
CACHE_VERSION = 1

__all__ = ["AttackResult", "fgsm_step", "substitute_attack", "attack_loss"]


# --------------------------------------------------------------------------- checks
def _check_eps(eps: float) -> float:
    if not np.isfinite(float(eps)) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0 (pixel units, e.g. 10/255), got {eps}")
    return float(eps)


# --------------------------------------------------------------------------- FGSM
def attack_loss(logits: torch.Tensor, y: torch.Tensor, loss: LossName = "original") -> torch.Tensor:
    """Batch-mean loss the attack ascends: ``"original"`` = cross-entropy of
    softmax(logits) (the original's double softmax), ``"logits"`` = cross-entropy."""
    check_option("loss", loss, LOSSES)
    if loss == "original":
        return F.cross_entropy(torch.softmax(logits, dim=-1), y)
    return F.cross_entropy(logits, y)


def _fgsm(model: nn.Module, X: np.ndarray, y: np.ndarray, eps: float, loss: str,
          batch_size: int) -> tuple[np.ndarray, int]:
    """One FGSM step on validated arrays. Returns (X_new, number of zero-gradient pixels)."""
    device, was_training, out, n_zero = model_device(model), model.training, np.empty_like(X), 0
    model.eval()
    try:
        for start in range(0, X.shape[0], batch_size):
            xb = torch.from_numpy(X[start:start + batch_size]).to(device).requires_grad_(True)
            yb = torch.from_numpy(y[start:start + batch_size]).to(device)
            logits = model(xb)
            if y[start:start + batch_size].max() >= logits.shape[-1]:
                raise ValueError(f"label {int(y.max())} is out of range for a model with "
                                 f"{logits.shape[-1]} outputs")
            (grad,) = torch.autograd.grad(attack_loss(logits, yb, loss), xb)
            step = torch.sign(grad)  # sign(0) = 0: zero-gradient pixels stay where they are
            n_zero += int((step == 0).sum())
            out[start:start + batch_size] = (
                torch.clamp(xb.detach() + eps * step, 0.0, 1.0).cpu().numpy())
    finally:
        model.train(was_training)
    return out, n_zero


def fgsm_step(model: nn.Module, X: Any, y: Any, eps: float, *, loss: LossName = "original",
              batch_size: int = 500) -> np.ndarray:
    """One fast-gradient-sign step: ``clip(X + eps * sign(grad_X loss), 0, 1)``.

    Parameters
    ----------
    model : nn.Module returning logits (B, C); differentiated in eval mode (its mode is
        restored afterwards, its weights untouched).
    X : (N, ...) images in [0, 1], any shape ``model`` accepts; y : (N,) labels in [0, C).
    eps : step in pixel units (10/255 = ten grey levels), >= 0.
    loss : ``"original"`` (cross-entropy on the softmax output: double softmax) or
        ``"logits"`` (cross-entropy on the logits).
    batch_size : images per gradient batch (the signs do not depend on it, up to float
        rounding of gradients within a few ulps of zero).

    Returns
    -------
    (N, ...) float32 array in [0, 1]: every pixel moved by exactly +-eps, stayed (zero
    gradient) or was clipped at 0 or 1.
    """
    eps = _check_eps(eps)
    check_option("loss", loss, LOSSES)
    X = as_pixel_images(X)
    y = as_class_labels(y, X.shape[0])
    return _fgsm(model, X, y, eps, loss, check_positive_int("batch_size", batch_size))[0]


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class AttackResult:
    """Outcome of :func:`substitute_attack`.

    ``X_adv`` (N, ...) float32 last-round images in [0, 1]; ``linf`` / ``l2`` (N,) the
    L-inf / L2 norm of X_adv - X per image in [0, 1] pixel units (x255: grey levels);
    ``per_round``: round (1-based), seed, substitute_acc (on the images it trained on),
    substitute_acc_after (on its own FGSM output), zero_grad_frac (pixels that did not
    move), linf_mean, linf_max, l2_mean (distance from the clean images so far);
    ``params``: every setting, with the data fingerprint; ``cache_path`` (None: no cache);
    ``from_cache``: loaded rather than computed.
    """

    X_adv: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    per_round: pd.DataFrame
    params: dict
    cache_path: Path | None = None
    from_cache: bool = False

    @property
    def linf_255(self) -> np.ndarray:
        """L-inf per image in grey levels (0..255)."""
        return self.linf * 255.0

    def summary(self) -> dict[str, float]:
        """Perturbation actually applied, in [0,1] units and in /255 grey levels."""
        bound = min(1.0, self.params["rounds"] * self.params["eps"])
        return {
            "linf_mean": float(self.linf.mean()), "linf_max": float(self.linf.max()),
            "linf_mean_255": float(self.linf_255.mean()), "linf_max_255": float(self.linf_255.max()),
            "l2_mean": float(self.l2.mean()), "l2_mean_255": float(self.l2.mean() * 255.0),
            "linf_bound": bound, "linf_bound_255": bound * 255.0,
            "frac_images_at_bound": float(np.mean(self.linf >= bound - 1e-5)),
        }


# --------------------------------------------------------------------------- cache
def _describe(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _describe(v) for k, v in dataclasses.asdict(obj).items()}
    if callable(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    if isinstance(obj, (list, tuple)):
        return [_describe(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _describe(v) for k, v in obj.items()}
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else repr(obj)


def _fingerprint_model(make_substitute: Callable[[], nn.Module], seed: int) -> str:
    """Architecture and seeded initial weights of the substitute (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_substitute()
    return hashlib.sha256(repr(model).encode() + model_fingerprint(model).encode()).hexdigest()[:16]


def _cache_dir(cache: bool | str | os.PathLike | None) -> Path | None:
    return None if cache is False else results_dir() / "attacks" if cache in (None, True) else Path(cache)


def _save(path: Path, result: AttackResult) -> None:
    atomic_write(path, lambda tmp: np.savez_compressed(
        tmp, X_adv=result.X_adv, linf=result.linf, l2=result.l2,
        per_round=np.array(result.per_round.to_json(orient="split")),
        params=np.array(json.dumps(result.params, sort_keys=True))))


def _load(path: Path) -> AttackResult:
    with np.load(path, allow_pickle=False) as z:
        per_round = pd.read_json(io.StringIO(str(z["per_round"])), orient="split")
        return AttackResult(X_adv=z["X_adv"], linf=z["linf"], l2=z["l2"], per_round=per_round,
                            params=json.loads(str(z["params"])), cache_path=path, from_cache=True)


# --------------------------------------------------------------------------- attack
def _round_seeds(seed: int, rounds: int) -> list[int]:
    """Independent, reproducible per-round seeds derived from the base seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(int(seed)).spawn(rounds)]


def _resolve_recipe(recipe: Any, epochs: int | None, lr: float | None) -> Any:
    """The substitute's training recipe: CNN_RECIPE with 3 epochs unless given."""
    if recipe is None:
        recipe = dataclasses.replace(CNN_RECIPE, epochs=3 if epochs is None else int(epochs),
                                     lr=0.002 if lr is None else float(lr))
    elif epochs is not None or lr is not None:
        if not dataclasses.is_dataclass(recipe):
            raise ValueError("epochs/lr can only override a dataclass recipe; put them in the recipe")
        changes = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
        recipe = dataclasses.replace(recipe, **changes)
    if getattr(recipe, "epochs", 1) < 1 or getattr(recipe, "lr", 1.0) <= 0:
        raise ValueError(f"the substitute needs epochs >= 1 and lr > 0, got {recipe}")
    return recipe


def substitute_attack(
    X: Any, y: Any, *, make_substitute: Callable[[], nn.Module] | None = None,
    train_fn: Callable[..., Any] | None = None, recipe: Any = None, rounds: int = 10,
    eps: float = 10 / 255, epochs: int | None = None, lr: float | None = None,
    loss: LossName = "original", substitute_init: SubstituteInit = "fresh",
    substitute_start: nn.Module | None = None, seed: int = 0,
    batch_size: int = 500, progress: bool = True, cache: bool | str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> AttackResult:
    """Algorithm 1: iterated FGSM against substitutes trained on the perturbed images.

    Parameters
    ----------
    X : (N, ...) images in [0, 1] to attack (paper: the test split); y : (N,) true labels.
    make_substitute : zero-argument factory returning a logits model; default
        ``xcorr_lib.nets.models.make_cnn`` (the paper's two-layer CNN).
    train_fn : ``train_fn(model, X, y, recipe, *, seed, progress)``, trains in place (a
        returned ``nn.Module`` replaces the model); default ``xcorr_lib.nets.training.train``.
    recipe : default ``training.CNN_RECIPE`` (Adam, skorch defaults: batch 128, 20% held
        out for validation, like the original's skorch fit) with 3 epochs, lr 0.002.
    rounds : substitute/FGSM rounds (paper: 10); eps : step per round (paper: 10/255).
    epochs, lr : override the recipe's (None: keep it; 3 and 0.002 for the default).
    loss : ``"original"`` (double softmax) or ``"logits"`` (the fix).
    substitute_init : ``"fresh"`` (Algorithm 1), ``"continue"`` (one substitute trained across
        rounds, as the original) or ``"original"`` (that, starting from ``substitute_start``).
    substitute_start : the untrained model the substitute starts from with ``"original"``
        (the evaluated CNN's initial weights); copied, never modified.
    seed : base seed; round r initialises and trains with a seed derived from (seed, r).
    batch_size : gradient batch (paper: 500); progress : tqdm bar over rounds.
    cache : None/True: keep the result in ``results/attacks/<key>.npz`` and reuse it (key:
        hash of all settings, the data, the substitute's architecture and seeded initial
        weights, the training function's name, torch's CPU thread count); a folder: cache
        there; False: off. Written atomically; an unreadable file is recomputed with a warning.
        Delete the file to recompute after changing the training code.
    device : where the substitutes train and the gradients are taken (``"auto"``: a GPU when
        torch sees one; default CPU). A custom ``train_fn`` is called as it is and the model
        moved to ``device`` afterwards. A non-CPU device is part of the cache key.

    Returns
    -------
    :class:`AttackResult`: images, per-image L-inf/L2 applied, per-round statistics.
    """
    eps = _check_eps(eps)
    check_option("loss", loss, LOSSES)
    check_option("substitute_init", substitute_init, SUBSTITUTE_INITS)
    if (substitute_init == "original") != (substitute_start is not None):
        raise ValueError("substitute_start is needed with substitute_init='original' and only then "
                         "(the evaluated CNN's untrained initial weights)")
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds}")
    rounds = int(rounds)
    batch_size = check_positive_int("batch_size", batch_size)
    X0 = as_pixel_images(X)
    y = as_class_labels(y, X0.shape[0])
    make_substitute = make_cnn if make_substitute is None else make_substitute
    train_fn = train if train_fn is None else train_fn
    recipe = _resolve_recipe(recipe, epochs, lr)
    seeds = _round_seeds(seed, rounds)
    dev = devices.torch_device("cpu" if device is None else device)

    params = {"rounds": rounds, "eps": eps, "loss": loss, "substitute_init": substitute_init,
              "seed": int(seed), "batch_size": batch_size, "recipe": _describe(recipe),
              "train_fn": _describe(train_fn), "make_substitute": _describe(make_substitute),
              "n_images": int(X0.shape[0]), "data": data_fingerprint(X0, y),
              "torch_threads": torch.get_num_threads(),
              "substitute_start": None if substitute_start is None else model_fingerprint(substitute_start),
              **({} if dev.type == "cpu" else {"device": dev.type})}  # FGSM's gradients may differ in the last bits
    folder, path = _cache_dir(cache), None
    if folder is not None:
        key_obj = {**params, "substitute_fingerprint": _fingerprint_model(make_substitute, seeds[0]),
                   "cache_version": CACHE_VERSION}
        key = hashlib.sha256(json.dumps(key_obj, sort_keys=True).encode()).hexdigest()[:20]
        path = folder / f"{key}.npz"
        if path.is_file():
            try:
                loaded = _load(path)
                print(f"Reusing cached attack {path.name} (same settings and data); "
                      "delete it or pass cache=False to recompute.")
                return loaded
            except Exception as exc:  # noqa: BLE001 - a damaged cache file must not stop the run
                warnings.warn(f"could not read cached attack {path.name} ({exc}); recomputing", stacklevel=2)

    from tqdm import tqdm

    X_cur, model, rows = X0.copy(), None, []
    for r in tqdm(range(rounds), desc="attack rounds", disable=not progress):
        if model is None and substitute_start is not None:
            model = copy.deepcopy(substitute_start)
        elif model is None or substitute_init == "fresh":
            with torch.random.fork_rng(devices=[]):  # seeded init, caller's RNG untouched
                torch.manual_seed(seeds[r])
                model = make_substitute()
        if r == 0:
            check_labels_fit(model, X_cur, y)
        trained = (train(model, X_cur, y, recipe, seed=seeds[r], progress=False, device=dev) if train_fn is train
                   else train_fn(model, X_cur, y, recipe, seed=seeds[r], progress=False))
        model = (trained if isinstance(trained, nn.Module) else model).to(dev)
        acc_before = evaluate(model, X_cur, y)
        X_cur, n_zero = _fgsm(model, X_cur, y, eps, loss, batch_size)
        diff = (X_cur - X0).reshape(X0.shape[0], -1)
        linf = np.abs(diff).max(axis=1)
        rows.append({"round": r + 1, "seed": seeds[r], "substitute_acc": acc_before,
                     "substitute_acc_after": evaluate(model, X_cur, y),
                     "zero_grad_frac": n_zero / X_cur.size, "linf_mean": float(linf.mean()),
                     "linf_max": float(linf.max()),
                     "l2_mean": float(np.linalg.norm(diff, axis=1).mean())})
    diff = (X_cur - X0).reshape(X0.shape[0], -1).astype(np.float64)
    result = AttackResult(
        X_adv=X_cur, linf=np.abs(diff).max(axis=1).astype(np.float32),
        l2=np.linalg.norm(diff, axis=1).astype(np.float32), per_round=pd.DataFrame(rows),
        params=params, cache_path=path, from_cache=False)
    if path is not None:
        _save(path, result)
    return result


def attack_like_notebook_03(X_test: Any, y_test: Any, *, rounds: int, eps_255: float, substitute_epochs: int,
                            loss: LossName, substitute_init: SubstituteInit, seed: int,
                            progress: bool = True, device: str | torch.device | None = None) -> AttackResult:
    """The attack of notebook 03 on a test split (cached): with ``substitute_init="original"``
    the substitute starts from the evaluated CNN's initial weights (the paper's CNN with
    ``training.net_seed("CNN", seed)``), as in the authors' code. Any other caller with the
    same settings (the population study) reads notebook 03's cache file."""
    start = make_model("CNN", seed=net_seed("CNN", seed)) if substitute_init == "original" else None
    return substitute_attack(X_test, y_test, rounds=rounds, eps=eps_255 / 255, epochs=substitute_epochs, loss=loss,
                             substitute_init=substitute_init, substitute_start=start, seed=seed, progress=progress,
                             device=device)
