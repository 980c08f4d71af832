"""Jupyter kernels without open TCP ports, for papermill's runs and nbval's replays.

A kernel started the default way listens on five TCP ports of 127.0.0.1 and warns "Kernel
is running over TCP without encryption": any local user who reads the ports can attach to
it and run code. :class:`IPCKernelManager` starts kernels over IPC instead: Unix sockets
beside the connection file in a fresh folder only its user can enter (mode 0700).

- the pipeline passes it to ``papermill.execute_notebook(kernel_manager_class=...)``;
- nbval starts its kernels through the name ``KernelManager`` of its ``nbval.kernel``
  module: this module is also a pytest plugin (``pytest -p xcorr_lib.common.kernels``, as
  ``make test`` runs nbval) whose :func:`pytest_configure` points that name here, and whose
  :func:`pytest_runtest_setup` starts each replay in the numeric mode its notebook ran in
  (:func:`mark_numeric_mode` records it in the executed notebook).

:func:`kernel_machine` reports the machine and numeric mode a kernel started with an
environment sees (:func:`xcorr_lib.common.numerics.machine`, run in a child process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from jupyter_client.manager import KernelManager
from jupyter_client.utils import run_sync

from xcorr_lib.common.numerics import numeric_environment
from xcorr_lib.common.provenance import atomic_write

__all__ = ["IPCKernelManager", "kernel_machine", "mark_numeric_mode", "pytest_configure", "pytest_runtest_setup"]


class IPCKernelManager(KernelManager):
    """A ``jupyter_client`` KernelManager whose kernels talk over IPC (``transport="ipc"``).

    The sockets sit beside the connection file, in a fresh private folder (``mkdtemp``: mode
    0700, a short path, as Unix socket paths are limited to about 100 characters), removed
    with the kernel's other resources."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        if "connection_file" not in kwargs:
            kwargs["connection_file"] = os.path.join(tempfile.mkdtemp(prefix="xcorr-kernel-"), "kernel.json")
        super().__init__(**kwargs)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(os.path.dirname(self.connection_file), ignore_errors=True)

    cleanup_resources = run_sync(_async_cleanup_resources)


def pytest_configure(config: Any) -> None:
    """pytest plugin hook: nbval's kernels start through :class:`IPCKernelManager`."""
    try:
        import nbval.kernel
    except ImportError:  # nbval absent: nothing to route
        return
    nbval.kernel.KernelManager = IPCKernelManager
    config._xcorr_environ = dict(os.environ)  # the session's own environment, restored per notebook


def pytest_runtest_setup(item: Any) -> None:
    """pytest plugin hook, before nbval starts a notebook's kernel: the numeric mode that notebook
    ran in (``metadata.xcorr.portable``, written by the pipeline) becomes the kernel's environment,
    so the replay computes with the same kernels as the run it checks."""
    path = getattr(getattr(item, "parent", None), "path", None)
    base = getattr(item.config, "_xcorr_environ", None)
    if base is None or path is None or Path(path).suffix != ".ipynb":
        return
    mode = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {}).get("xcorr", {})
    env, _ = numeric_environment(bool(mode.get("portable")), base=base)
    os.environ.clear()
    os.environ.update(env)


def mark_numeric_mode(notebook: Path, machine: Mapping[str, Any]) -> None:
    """Write the run's numeric mode into an executed notebook (``metadata.xcorr``), for its replay."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=nbformat.NO_CONVERT)
    nb.metadata["xcorr"] = {"portable": bool(machine.get("portable")), "cpu_capability": machine.get("cpu_capability", "")}
    atomic_write(Path(notebook), lambda tmp: tmp.write_text(nbformat.writes(nb), encoding="utf-8"))


def kernel_machine(env: Mapping[str, str]) -> dict[str, Any]:
    """:func:`xcorr_lib.common.numerics.machine` as a process started with ``env`` sees it."""
    code = "import json; from xcorr_lib.common.numerics import machine; print(json.dumps(machine(), default=str))"
    out = subprocess.run([sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, timeout=300,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
