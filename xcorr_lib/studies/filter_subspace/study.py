"""The study of notebook 07: atom similarity beside probe-based measures on one model family.

Steps (each a function, so tests reach all of it):

- :class:`Task`, :func:`load_task`: a fine-tuning task = dataset + protocol + optional
  class subset + training-set size + seed;
- :func:`build_models`: a base :class:`~xcorr_lib.nets.atoms.AtomCNN` trained on one task
  (:func:`~xcorr_lib.nets.atoms.train_shared`) and one atom-fine-tuned copy per task
  (:func:`~xcorr_lib.nets.atoms.finetune_atoms`), cached; :func:`accuracy_table`;
- :func:`pair_table`: for every pair of models and every probe set, atom similarity,
  neuron correlation (paper variant, both directions, the two conv blocks) and linear
  CKA (mean over the two blocks), with the seconds each took;
- the analysis of that table lives in :mod:`xcorr_lib.studies.filter_subspace.report`.

Cost accounting per row: ``seconds_atoms`` is one call of
:func:`~xcorr_lib.measures.filter_subspace.atom_similarity`; ``seconds_probe`` is what the
probe-based values of that row need from scratch: capturing both models' units on the
probes (each model is captured once per probe set; its time is charged to every pair it
appears in) plus neuron correlation plus linear CKA (also reported separately).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from xcorr_lib.data import load_dataset, subset
from xcorr_lib.measures.cka import linear_cka
from xcorr_lib.measures.filter_subspace import SharedCoefficientsError, atom_similarity
from xcorr_lib.nets.atoms import AtomCNN, finetune_atoms, make_atom_cnn, train_shared
from xcorr_lib.nets.capture import capture_activations
from xcorr_lib.nets.evaluate import evaluate
from xcorr_lib.score.correlation import neuron_correlation

__all__ = ["Task", "load_task", "build_models", "describe_tasks", "accuracy_table", "coefficients_shared",
           "pair_table"]



@dataclasses.dataclass(frozen=True)
class Task:
    """A training task for one model.

    Attributes
    ----------
    name : str
        Label of the model trained on it (unique within a study).
    dataset : str
        A :func:`xcorr_lib.data.load_dataset` name ("fashion-mnist", "mnist", "digits", ...).
    protocol : str
        ``load_dataset`` protocol ("official", "original", "test-split").
    classes : tuple of int, optional
        Keep only these labels (labels are not renumbered); None = all.
    n_train : int, optional
        Seeded random subset of this many training images; None = all.
    seed : int
        Seeds the subset and the training.
    """

    name: str
    dataset: str
    protocol: str = "official"
    classes: tuple[int, ...] | None = None
    n_train: int | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Task":
        """From a plain dict (e.g. a notebook parameter read from YAML)."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown task field(s) {sorted(unknown)}; valid: "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        d = dict(d)
        if d.get("classes") is not None:
            d["classes"] = tuple(int(c) for c in d["classes"])
        return cls(**d)


def load_task(task: Task, split: str = "train", *, n: int | None = None, root: Any = None,
              loaded: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) float32 and labels (N,) of a task's split.

    The class filter applies to both splits; the subset of ``task.n_train`` (train) or
    ``n`` (either split, overrides) images is drawn with ``task.seed``. ``loaded``: a
    dict kept by the caller across calls, so each (dataset, split, protocol) is read once.
    """
    memo_key = (task.dataset, split, task.protocol)
    if loaded is not None and memo_key in loaded:
        X, y = loaded[memo_key]
    else:
        X, y = load_dataset(task.dataset, split, root, protocol=task.protocol, progress=False)  # type: ignore[arg-type]
        if loaded is not None:
            loaded[memo_key] = (X, y)
    if task.classes is not None:
        bad = sorted(set(task.classes) - set(np.unique(y).tolist()))
        if bad:
            raise ValueError(f"task {task.name!r}: classes {bad} do not occur in {task.dataset}")
        keep = np.isin(y, task.classes)
        X, y = X[keep], y[keep]
    size = n if n is not None else (task.n_train if split == "train" else None)
    return subset(X, y, size, task.seed)


def build_models(base: Task, tasks: Sequence[Task], *, n_atoms: int, base_epochs: int,
                 finetune_epochs: int, base_lr: float = 0.002, finetune_lr: float = 0.01,
                 train_head: bool = False, cache: bool = True, progress: bool = True,
                 root: Any = None, device: str | None = None) -> dict[str, AtomCNN]:
    """The base model (key ``base.name``) and one atom-fine-tuned copy per task, trained on
    ``device`` (``"auto"``: a GPU when torch sees one; default CPU).

    Returns ``{name: AtomCNN}`` in order: base first, then ``tasks``.
    """
    names = [base.name, *(t.name for t in tasks)]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    loaded: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
    X, y = load_task(base, root=root, loaded=loaded)
    models = {base.name: train_shared(X, y, n_atoms=n_atoms, epochs=base_epochs, lr=base_lr,
                                      seed=base.seed, cache=cache, progress=progress, device=device)}
    for task in tqdm(tasks, desc="fine-tune atoms", unit="model", disable=not progress, leave=False):
        X, y = load_task(task, root=root, loaded=loaded)
        models[task.name] = finetune_atoms(models[base.name], X, y, epochs=finetune_epochs, lr=finetune_lr,
                                           seed=task.seed, train_head=train_head, cache=cache,
                                           progress=False, desc=task.name, device=device)
    return models


def describe_tasks(tasks: Sequence[Task]) -> str:
    """One line per task, for the ``data`` column of the manifest."""
    return "; ".join(f"{t.name}: {t.dataset} ({t.protocol}), classes {t.classes or 'all'}, "
                     f"n_train {t.n_train or 'all'}, seed {t.seed}" for t in tasks)


def coefficients_shared(models: Mapping[str, AtomCNN], *, seed: int = 0) -> str:
    """Two lines: are the coefficients bitwise identical across ``models``, and is a fresh
    network (not fine-tuned from the same base) refused by atom similarity?"""
    ref = next(iter(models.values()))
    shared = all(torch.equal(layer.coefficients.detach(), ref.atom_layers()[name].coefficients.detach())
                 for m in models.values() for name, layer in m.atom_layers().items())
    lines = [f"coefficients identical across all {len(models)} models: {shared}"]
    try:
        atom_similarity(ref, make_atom_cnn(ref.n_atoms, seed=seed))
        lines.append("a fresh network is NOT refused (its coefficients happen to match)")
    except SharedCoefficientsError as err:
        lines.append("a fresh network is refused: " + str(err).split(" (max")[0])
    return "\n".join(lines)


def accuracy_table(models: Mapping[str, AtomCNN], tasks: Sequence[Task], *, n_test: int | None = None,
                   root: Any = None, device: str | None = None) -> pd.DataFrame:
    """Test accuracy of each model on its own task's test split (same classes; a seeded
    subset of ``n_test`` images when given), computed on ``device`` (default: where the model
    is). Columns: model, dataset, classes, test_acc."""
    rows, loaded = [], {}  # type: ignore[var-annotated]
    for task in tasks:
        X, y = load_task(task, "test", n=n_test, root=root, loaded=loaded)
        classes = "all" if task.classes is None else ",".join(map(str, task.classes))
        rows.append({"model": task.name, "dataset": task.dataset, "classes": classes, "n_test": len(y),
                     "test_acc": evaluate(models[task.name], X, y, device=device)})
    return pd.DataFrame(rows)


def pair_table(models: Mapping[str, AtomCNN], probes: Mapping[str, Any], *, batch_size: int = 256,
               blas_threads: int | None = 1, progress: bool = True, device: str | None = None) -> pd.DataFrame:
    """Every measure for every unordered pair of models and every probe set.

    Parameters
    ----------
    models : {name: AtomCNN}
        Sharing one base (atom similarity requires identical coefficients).
    probes : {probe name: array or tensor (M, 28, 28)}
        E.g. ``{"images": test images, "noise": uniform noise}``.
    blas_threads : int or None
        Threads of numpy's BLAS (linear CKA) while the table is computed (threadpoolctl);
        None leaves them alone. On small matrices, several OpenBLAS threads next to
        torch's own thread pool made linear CKA about 10x slower on our 2-core machines,
        which would inflate the probe-based cost.
    device : where the captures and the score run (default: where the models are / the CPU).

    Returns
    -------
    DataFrame, one row per (pair, probe): model_a, model_b, probe, n_probes,
    atom_similarity, atom_<layer> per conv layer, neuron_correlation, linear_cka (mean
    over blocks), linear_cka_block<d>, seconds_atoms, seconds_capture,
    seconds_correlation, seconds_cka, seconds_probe (see the module docstring).
    """
    from threadpoolctl import threadpool_limits

    if len(models) < 2:
        raise ValueError(f"need at least 2 models, got {len(models)}")
    if not probes:
        raise ValueError("need at least one probe set")
    if blas_threads is None:
        return _pair_rows(models, probes, batch_size, progress, device)
    with threadpool_limits(limits=int(blas_threads), user_api="blas"):
        return _pair_rows(models, probes, batch_size, progress, device)


def _pair_rows(models: Mapping[str, AtomCNN], probes: Mapping[str, Any], batch_size: int,
               progress: bool, device: str | None) -> pd.DataFrame:
    rows = []
    pairs = list(itertools.combinations(models, 2))
    for probe_name, probe in probes.items():
        x = torch.as_tensor(np.asarray(probe, dtype=np.float32))
        captured: dict[str, tuple[torch.Tensor, np.ndarray, float]] = {}
        for name, model in models.items():
            t0 = time.perf_counter()
            acts, layers = capture_activations(model, x, model.unit_modules(), batch_size=batch_size,
                                               device=device, progress=False)
            captured[name] = (acts, layers, time.perf_counter() - t0)
        for a, b in tqdm(pairs, desc=f"pairs ({probe_name})", disable=not progress, leave=False):
            t0 = time.perf_counter()
            atom_mean, atom_layers = atom_similarity(models[a], models[b])
            t_atoms = time.perf_counter() - t0
            (acts_a, lay_a, cap_a), (acts_b, lay_b, cap_b) = captured[a], captured[b]
            t0 = time.perf_counter()
            corr = neuron_correlation(acts_a, lay_a, acts_b, lay_b, variant="paper", direction="both",
                                      device=device)
            t_corr = time.perf_counter() - t0
            t0 = time.perf_counter()
            cka = {int(d): linear_cka(acts_a[:, torch.as_tensor(lay_a == d)], acts_b[:, torch.as_tensor(lay_b == d)])
                   for d in np.unique(lay_a)}  # per block
            t_cka = time.perf_counter() - t0
            row: dict[str, Any] = {"model_a": a, "model_b": b, "probe": probe_name, "n_probes": len(x),
                                   "atom_similarity": atom_mean}
            row.update({f"atom_{layer}": v for layer, v in atom_layers.items()})
            row.update({"neuron_correlation": corr.score, "linear_cka": float(np.mean(list(cka.values())))})
            row.update({f"linear_cka_block{d}": v for d, v in cka.items()})
            row.update({"seconds_atoms": t_atoms, "seconds_capture": cap_a + cap_b,
                        "seconds_correlation": t_corr, "seconds_cka": t_cka,
                        "seconds_probe": cap_a + cap_b + t_corr + t_cka})
            rows.append(row)
    return pd.DataFrame(rows)
