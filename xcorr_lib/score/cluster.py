"""Where the tiles of a pair matrix run: in this process, or on a Dask cluster.

No pool or scheduler of our own: ``scheduler="dask"`` starts a
``distributed.LocalCluster`` (one single-threaded worker process per core), an address
connects to a running scheduler, a ``distributed.Client`` is used as it is. Dask retries
a task that raised (``retries``) and reschedules the tasks of a worker that died.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from xcorr_lib.score.tiles import compute_tile, load_acts

__all__ = ["run_tiles", "dask_client"]


@contextmanager
def dask_client(scheduler: Any, *, n_workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler`` ("dask", an address or a Client); closes what it opened."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "dask":
        _check_main_guard()
        workers = n_workers or os.cpu_count() or 1
        try:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        except RuntimeError as err:
            if "failed to start" not in str(err):
                raise
            raise RuntimeError(f"{_GUARD_HINT} (Dask said: {err})") from None
        with cluster as lc, Client(lc) as client:
            yield client
        return
    if isinstance(scheduler, str) and "://" in scheduler:
        with Client(scheduler) as client:
            yield client
        return
    raise ValueError(f"scheduler must be None, 'dask', an address such as 'tcp://host:8786' or a "
                     f"distributed.Client, got {scheduler!r}")


_GUARD_HINT = ("scheduler='dask' starts worker processes that import your script again: put the code that calls "
               "pair_matrix under `if __name__ == \"__main__\":` (Python's multiprocessing rule), or use scheduler=None")


def _check_main_guard() -> None:
    """Fail at once, in one line, when ``__main__`` is a script without a ``__name__`` guard: its
    worker processes would start the cluster again and Dask would fail deep in multiprocessing."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.isfile(path) or getattr(main, "__spec__", None) is not None:
        return  # an interactive session, a notebook, or `python -m module`
    source = open(path, encoding="utf-8", errors="replace").read()
    if not re.search(r"__name__\s*==\s*['\"]__main__['\"]", source):
        raise RuntimeError(f"{_GUARD_HINT} ({path})")


def run_tiles(jobs: Sequence[Mapping[str, Any]], scheduler: Any = None, *, retries: int = 3, gpu: bool = False,
              on_done: Callable[[], None] | None = None) -> list[pd.DataFrame]:
    """Run :func:`xcorr_lib.score.tiles.compute_tile` for every job (its keyword arguments).

    Returns the tiles' tables in the order they finished. ``gpu``: on Dask, each task asks
    for one ``GPU`` resource (workers must be started with ``--resources GPU=1``).
    """
    done = on_done or (lambda: None)
    if not jobs:
        return []
    if scheduler is None:
        out = []
        for job in jobs:
            out.append(compute_tile(**job))
            done()
        return out
    from distributed import as_completed

    with dask_client(scheduler) as client:
        arrays = {n: src for job in jobs for side in ("models_a", "models_b") for n, src in job[side].items()
                  if not isinstance(src[0], (str, os.PathLike))}
        shared = _scatter(client, arrays)
        futures = [client.submit(compute_tile, **{**job, **{side: {n: shared.get(n, src) for n, src in job[side].items()}
                                                            for side in ("models_a", "models_b")}},
                                 retries=retries, pure=False, resources={"GPU": 1} if gpu else None)
                   for job in jobs]
        out = []
        for future in as_completed(futures):
            out.append(future.result())
            done()
        return out


def _scatter(client: Any, arrays: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """In-memory activations sent to the cluster once (not once per tile); files travel as paths."""
    if not arrays:
        return {}
    names = list(arrays)
    futures = client.scatter([(np.asarray(load_acts(arrays[n][0])), np.asarray(arrays[n][1])) for n in names],
                             hash=False)
    return dict(zip(names, futures))
