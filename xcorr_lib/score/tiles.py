"""Tiles of a K x K pair matrix: the unit of work :func:`xcorr_lib.score.pairs.pair_matrix`
hands to a Dask worker (or runs in-process), and the files that make a rerun resume.

A tile is (block i of models) x (block j of models). :func:`run_tile` loads each of its
models' activations once (``.npy`` files memory-mapped, so a worker reads only what it
uses), prepares each once for the score, and returns one row per pair. With a symmetric
measure only tiles ``i <= j`` run, and inside a diagonal tile only pairs ``a <= b``.

Finished tiles are written to ``workdir/<key>/tile-<i>-<j>.json`` (atomically: a killed
run never leaves half a tile), where ``key`` hashes everything that determines the
values (model names in order, the content of every model's activations and layers, the
measure's name and options, the tiling). A later call with the same key reads them back
and computes only the missing tiles.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from xcorr_lib.common.provenance import atomic_write
from xcorr_lib.score.engine import prepare, score_prepared

Source = tuple[Any, Any]  # (acts (M, N) array or path to a .npy, layers (N,))
TILE_COLUMNS = ("model_a", "model_b", "value")

__all__ = ["Source", "load_acts", "split_score_options", "blocks", "tile_ids", "run_tile", "compute_tile", "matrix_key", "tile_file", "read_tile",
           "write_tile"]


def load_acts(source: Any) -> Any:
    """An activation matrix, or a path to a ``.npy`` file opened memory-mapped (read-only)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"activations file {path} does not exist")
        return np.load(path, mmap_mode="r")
    return source


def split_score_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The score's keyword arguments split into those of ``prepare`` (dtype, device) and the rest."""
    prep = {k: options[k] for k in ("dtype", "device") if k in options}
    return prep, {k: v for k, v in options.items() if k not in prep}


def _materialize(source: Any) -> Any:
    """Activations in memory: a memory-mapped file is read (only this tile's models are)."""
    acts = load_acts(source)
    return np.array(acts) if isinstance(acts, np.memmap) else acts


def blocks(names: Sequence[str], tile_size: int) -> list[list[str]]:
    """``names`` cut into consecutive blocks of at most ``tile_size``."""
    return [list(names[i:i + tile_size]) for i in range(0, len(names), tile_size)]


def tile_ids(n_blocks: int, symmetric: bool) -> list[tuple[int, int]]:
    """Tiles to compute: ``i <= j`` for a symmetric measure, every ``(i, j)`` otherwise."""
    return [(i, j) for i in range(n_blocks) for j in range(n_blocks) if j >= i or not symmetric]


def run_tile(models_a: Mapping[str, Source], models_b: Mapping[str, Source], *,
             measure: str | Callable[[Any, Any], float], options: Mapping[str, Any], symmetric: bool,
             order: Sequence[str], threads: int | None = None) -> pd.DataFrame:
    """Every pair (a in ``models_a``, b in ``models_b``) of one tile: ``model_a, model_b, value``.

    ``measure``: ``"score"`` (options of :func:`score_prepared`, plus ``dtype``/``device`` for
    :func:`prepare`) or a callable ``(acts_a, acts_b) -> float``. ``symmetric``: skip pairs
    whose mirror is in the matrix already (``order.index(b) < order.index(a)``).
    ``threads``: torch's CPU threads for this tile (restored afterwards).
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        rank = {n: k for k, n in enumerate(order)}
        pairs = [(a, b) for a in models_a for b in models_b if not (symmetric and rank[b] < rank[a])]
        names = list(dict.fromkeys([n for p in pairs for n in p]))
        sources = {**models_a, **models_b}
        if measure == "score":
            prep_opts, score_opts = split_score_options(options)
            prepared = {n: prepare(_materialize(sources[n][0]), sources[n][1], name=f"acts[{n!r}]",
                                   **prep_opts) for n in names}
            values = [score_prepared(prepared[a], prepared[b], **score_opts).score for a, b in pairs]
        else:
            acts = {n: _materialize(sources[n][0]) for n in names}
            values = [float(measure(acts[a], acts[b])) for a, b in pairs]
    finally:
        torch.set_num_threads(previous)
    return pd.DataFrame([(a, b, v) for (a, b), v in zip(pairs, values)], columns=list(TILE_COLUMNS))


def compute_tile(models_a: Mapping[str, Source], models_b: Mapping[str, Source], *, path: Path | None = None,
                 **kwargs: Any) -> pd.DataFrame:
    """:func:`run_tile`, then (when ``path`` is given) :func:`write_tile`: the task a worker runs,
    so a finished tile is on disk even if the caller dies before it gathers the result."""
    table = run_tile(models_a, models_b, **kwargs)
    if path is not None:
        write_tile(path, table)
    return table


def _content_hash(source: Source) -> str:
    acts, layers = load_acts(source[0]), np.asarray(source[1])
    if isinstance(acts, torch.Tensor):
        acts = acts.detach().cpu().numpy()
    acts = np.asarray(acts)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((acts.shape, str(acts.dtype), layers.shape)).encode())
    for start in range(0, acts.shape[0], 4096):  # row chunks: a memory-mapped file is read in pieces
        h.update(np.ascontiguousarray(acts[start:start + 4096]).tobytes())
    h.update(np.ascontiguousarray(layers, dtype=np.int64).tobytes())
    return h.hexdigest()


def matrix_key(models: Mapping[str, Source], spec: Mapping[str, Any]) -> str:
    """Hash of the models (names in order, content) and ``spec`` (measure, options, tiling)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps({"models": [[n, _content_hash(s)] for n, s in models.items()], **spec},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()


def tile_file(workdir: Path, key: str, tile: tuple[int, int]) -> Path:
    return Path(workdir) / key / f"tile-{tile[0]}-{tile[1]}.json"


def read_tile(path: Path) -> pd.DataFrame | None:
    """A finished tile, or None when it is missing."""
    if not path.is_file():
        return None
    return pd.DataFrame(json.loads(path.read_text())["pairs"], columns=list(TILE_COLUMNS))


def write_tile(path: Path, table: pd.DataFrame) -> Path:
    """Write a tile atomically, as JSON (Python's float repr reads back bit for bit)."""
    pairs = [[str(a), str(b), float(v)] for a, b, v in table[list(TILE_COLUMNS)].itertuples(index=False)]
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps({"pairs": pairs})))
