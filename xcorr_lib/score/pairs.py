"""Tables of many pairs: prepare every network once, score every pair (netrep's partial_fit idea).

``acts`` maps a network's name to its activations on ONE probe set (rows in the same order
for every network) and the depth id of every unit::

    acts = {"Net1": (acts (M, N1), layers (N1,)), "CNN": (acts (M, N2), layers (N2,)), ...}

:func:`pair_table` scores the requested pairs with the paper's score (``measure="score"``:
each network is standardized once, however many pairs it is in) or with any measure of two
activation matrices (a callable ``f(acts_a, acts_b) -> float``, e.g.
``xcorr_lib.measures.MEASURES["linear_cka"]``). It returns a tidy table, one row per pair,
that :func:`as_matrix` turns into a K x K matrix.

:func:`pair_matrix` is the same job for a whole zoo: the K x K matrix computed in tiles
(:mod:`xcorr_lib.score.tiles`), in-process or on a Dask cluster, resumable from a work
folder; activations may be ``.npy`` files, memory-mapped and read only by the tiles that
need them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcorr_lib.common.checks import check_option, check_positive_int
from xcorr_lib.common.devices import resolve_device
from xcorr_lib.score import cluster, tiles
from xcorr_lib.score.engine import CONSTANTS, DIRECTIONS, VARIANTS, Prepared, prepare, score_prepared

Acts = Mapping[str, tuple[Any, Any]]
PAIR_COLUMNS = ("model_a", "model_b", "measure", "value")
SCORE_COLUMNS = ("variant", "direction", "constant", "n_units_a", "n_units_b", "n_constant_a", "n_constant_b",
                 "n_minus_one")

__all__ = ["Acts", "all_pairs", "pair_table", "as_matrix", "pair_matrix"]


def all_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair ``(names[i], names[j])``, ``i < j``, in order."""
    names = list(names)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def pair_table(acts: Acts, pairs: Sequence[tuple[str, str]] | None = None, *,
               measure: str | Callable[[Any, Any], float] = "score", name: str | None = None,
               progress: bool = False, **options: Any) -> pd.DataFrame:
    """One row per pair: ``model_a, model_b, measure, value`` (+ the score's details).

    Parameters
    ----------
    acts : {name: (acts (M, N), layers (N,))}, all on the same M probes.
    pairs : [(a, b), ...]; default :func:`all_pairs` of ``acts`` in its order.
    measure : ``"score"`` (:func:`~xcorr_lib.score.correlation.neuron_correlation`, options = its keyword
        arguments: variant, direction, constant, block_size, device, dtype) or a callable
        ``(acts_a, acts_b) -> float`` (options not allowed).
    name : the ``measure`` column (default ``"score"`` or the callable's ``__name__``).

    Returns
    -------
    pandas.DataFrame
        Columns ``model_a, model_b, measure, value`` and, for the score, ``variant``,
        ``direction``, ``constant``, ``n_units_a``, ``n_units_b``, ``n_constant_a``,
        ``n_constant_b``, ``n_minus_one`` (units scored -1 under ``constant="minus-one"``, both sides).
    """
    pairs = all_pairs(list(acts)) if pairs is None else [tuple(p) for p in pairs]
    missing = sorted({n for p in pairs for n in p} - set(acts))
    if missing:
        raise ValueError(f"pairs name {missing} but acts has no such network; have {sorted(acts)}")
    if measure == "score":
        label, value = name or "score", _score_values(acts, options)
    elif callable(measure):
        if options:
            raise ValueError(f"options {sorted(options)} only apply to measure='score'")
        label = name or getattr(measure, "__name__", "measure")

        def value(a: str, b: str) -> dict[str, Any]:
            return {"value": float(measure(acts[a][0], acts[b][0]))}
    else:
        raise ValueError(f"measure must be 'score' or a callable (acts_a, acts_b) -> float, got {measure!r}")
    rows = [{"model_a": a, "model_b": b, "measure": label, **value(a, b)}
            for a, b in tqdm(pairs, desc=f"pairs ({label})", disable=not progress)]
    columns = [*PAIR_COLUMNS, *(SCORE_COLUMNS if measure == "score" else ())]
    return pd.DataFrame(rows, columns=columns)


def _score_values(acts: Acts, options: Mapping[str, Any]) -> Callable[[str, str], dict[str, Any]]:
    """Row builder for the paper's score; each network is prepared on first use, once."""
    prep_opts, score_opts = tiles.split_score_options(options)
    prepared: dict[str, Prepared] = {}

    def get(n: str) -> Prepared:
        if n not in prepared:
            prepared[n] = prepare(*acts[n], name=f"acts[{n!r}]", **prep_opts)
        return prepared[n]

    def row(a: str, b: str) -> dict[str, Any]:
        res = score_prepared(get(a), get(b), **score_opts)
        return {"value": res.score, "variant": res.variant, "direction": res.direction,
                "constant": res.constant, "n_units_a": len(res.layers_a), "n_units_b": len(res.layers_b),
                "n_constant_a": res.n_constant_a, "n_constant_b": res.n_constant_b,
                "n_minus_one": int((res.scores_a == -1).sum() + (0 if res.scores_b is None else (res.scores_b == -1).sum()))}
    return row


def as_matrix(table: pd.DataFrame, names: Sequence[str] | None = None, *, symmetric: bool = True,
              diagonal: float = np.nan) -> pd.DataFrame:
    """K x K matrix (rows model_a, columns model_b) of a :func:`pair_table`'s ``value``.

    ``symmetric``: fill (b, a) from (a, b) where only one was scored. ``diagonal``: the value
    of unscored (a, a) cells (NaN; 1.0 for a similarity of a network with itself).
    """
    names = list(dict.fromkeys([*table["model_a"], *table["model_b"]])) if names is None else list(names)
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for r in table.itertuples():
        mat.loc[r.model_a, r.model_b] = r.value
    if symmetric:
        mat = mat.fillna(mat.T)
    for n in names:
        if np.isnan(mat.loc[n, n]):
            mat.loc[n, n] = diagonal
    return mat


def pair_matrix(models: Mapping[str, tiles.Source], measure: str | Callable[[Any, Any], float] = "score", *,
                variant: str = "paper", direction: str = "both", constant: str = "zero",
                symmetric: bool | None = None, scheduler: Any = None, workdir: str | Path | None = None,
                tile_size: int = 8, retries: int = 3, threads: int | None = None, device: str | None = None,
                name: str | None = None, progress: bool = False) -> pd.DataFrame:
    """K x K matrix of a measure over every pair of models, computed in tiles.

    Parameters
    ----------
    models : {name: (acts, layers)}; acts (M, N) array or path to a ``.npy`` file (opened
        memory-mapped inside each tile), layers (N,) depth ids; all on the same M probes.
    measure : ``"score"`` (the paper's score with ``variant``, ``direction``, ``constant``) or
        a callable ``(acts_a, acts_b) -> float``; measures by name:
        :func:`xcorr_lib.measures.pair_matrix`.
    symmetric : compute only ``a <= b`` and mirror. Default: True for callables and for the
        score with ``direction="both"``; a forward score is computed in every cell (row ->
        column).
    scheduler : None (in-process, tile after tile), ``"dask"`` (a ``distributed.LocalCluster``,
        one single-threaded worker process per core, closed afterwards), a scheduler address
        (``"tcp://host:8786"``) or a ``distributed.Client``. Tasks are retried ``retries``
        times on errors; tiles of a worker that dies are rescheduled by Dask.
    workdir : folder for finished tiles; a rerun with the same models and settings reads
        them and computes only the missing ones (see :mod:`xcorr_lib.score.tiles`).
    tile_size : models per block (a tile holds at most 2 x ``tile_size`` models in memory).
    threads : torch CPU threads inside each tile (None: leave torch's setting).
    device : ``"cuda"`` runs the score's blocks on the GPU (in-process, or on Dask workers
        started with a ``GPU`` resource); ``"auto"``: the GPU when torch sees one; None or
        ``"cpu"``: the CPU. Never required.

    Returns
    -------
    DataFrame K x K, index = columns = model names in the order given; ``attrs`` holds
    ``measure``, ``key`` (of the work folder), ``tiles_total``, ``tiles_computed``,
    ``tiles_reused`` and ``seconds``.
    """
    names = list(models)
    if len(names) < 1 or len(set(map(str, names))) != len(names):
        raise ValueError(f"models needs at least one model and distinct names, got {names}")
    check_positive_int("tile_size", tile_size)
    device = None if device is None else resolve_device(device)
    device = None if device == "cpu" else device  # the CPU is the default: its tiles keep their keys
    if measure == "score":
        check_option("variant", variant, VARIANTS)
        check_option("direction", direction, DIRECTIONS)
        check_option("constant", constant, CONSTANTS)
        options: dict[str, Any] = {"variant": variant, "direction": direction, "constant": constant}
        options.update({"device": device} if device else {})
        label, symmetric = name or "score", (direction == "both") if symmetric is None else symmetric
    elif callable(measure):
        options, label = {}, name or getattr(measure, "__name__", "measure")
        symmetric = True if symmetric is None else symmetric
    else:
        raise ValueError(f"measure must be 'score' or a callable (acts_a, acts_b) -> float, got {measure!r}; "
                         "for a measure by name use xcorr_lib.measures.pair_matrix")
    _check_sources(models)
    started = time.perf_counter()
    groups = tiles.blocks(names, tile_size)
    todo = tiles.tile_ids(len(groups), symmetric)
    spec = {"measure": label, "options": options, "symmetric": symmetric, "tile_size": tile_size}
    key = tiles.matrix_key(models, spec) if workdir is not None else ""
    done: dict[tuple[int, int], pd.DataFrame] = {}
    if workdir is not None:
        done = {t: table for t in todo if (table := tiles.read_tile(tiles.tile_file(Path(workdir), key, t))) is not None}
    jobs = [dict(models_a={n: models[n] for n in groups[i]}, models_b={n: models[n] for n in groups[j]},
                 path=None if workdir is None else tiles.tile_file(Path(workdir), key, (i, j)),
                 measure=measure, options=options, symmetric=symmetric, order=names, threads=threads)
            for i, j in todo if (i, j) not in done]
    bar = tqdm(total=len(todo), initial=len(done), desc=f"pair matrix ({label})", unit="tile", disable=not progress)
    computed = cluster.run_tiles(jobs, scheduler, retries=retries, gpu=bool(device and device.startswith("cuda")),
                                 on_done=lambda: bar.update(1))
    bar.close()
    mat = pd.DataFrame(np.nan, index=names, columns=names)
    for table in [*done.values(), *computed]:
        for a, b, v in table.itertuples(index=False):
            mat.loc[a, b] = v
            if symmetric:
                mat.loc[b, a] = v
    mat.attrs.update(measure=label, key=key, tiles_total=len(todo), tiles_computed=len(computed),
                     tiles_reused=len(done), seconds=time.perf_counter() - started)
    return mat


def _check_sources(models: Mapping[str, tiles.Source]) -> None:
    """Shapes only (files are opened memory-mapped, nothing is read): same probes, layers per unit."""
    n_probes = set()
    for n, source in models.items():
        if not (isinstance(source, tuple) and len(source) == 2):
            raise ValueError(f"models[{n!r}] must be (acts, layers), got {type(source).__name__}")
        shape = tuple(tiles.load_acts(source[0]).shape)
        if len(shape) != 2 or len(np.asarray(source[1]).reshape(-1)) != shape[1]:
            raise ValueError(f"models[{n!r}]: acts must be (M, N) with N layer ids, got acts {shape} and "
                             f"{len(np.asarray(source[1]).reshape(-1))} layer ids")
        n_probes.add(shape[0])
    if len(n_probes) > 1:
        raise ValueError(f"every model needs the same probes; probe counts {sorted(n_probes)}")
