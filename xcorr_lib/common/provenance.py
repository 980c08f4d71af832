"""Where outputs go, and the provenance record every table and figure leaves behind.

Every notebook writes its tables and figures through :func:`save_table` and
:func:`save_figure`. Each call appends one row to ``results/manifest.csv`` naming the
artifact, the notebook and profile that made it, its parameters (JSON), the data it
read, the git commit of the code, the seed, the recipe (a hash of what decides the numbers,
seed left out) and the machine (CPU, vector level, BLAS, portable mode), so any number can
be traced back, and runs of one recipe can be pooled.

Locations (overridable with environment variables, for tests and for users):

- project root: ``XCORR_ROOT``, else the nearest folder above the current directory
  that holds ``pyproject.toml`` and ``xcorr_lib/``, else the current directory;
- results: ``XCORR_RESULTS_DIR``, else ``<root>/results`` (tables, checkpoints, cache);
- figures: ``XCORR_FIGURES_DIR``, else ``<root>/figures``.
"""

from __future__ import annotations

import ast
import csv
import datetime as _dt
import json
import os
import subprocess
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Mapping

from xcorr_lib.common import devices

PARAMETERS_TAG = "parameters"
MANIFEST_COLUMNS = (
    "timestamp", "artifact", "kind", "notebook", "profile", "seed", "data",
    "git_commit", "recipe", "software", "machine", "device", "parameters",
)


def project_root() -> Path:
    """The project folder: ``XCORR_ROOT`` or the nearest parent holding the package."""
    env = os.environ.get("XCORR_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "xcorr_lib").is_dir():
            return folder
    return here


def results_dir() -> Path:
    """Folder for tables, checkpoints, caches and the manifest (created if missing)."""
    path = Path(os.environ.get("XCORR_RESULTS_DIR") or project_root() / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir() -> Path:
    """Folder for regenerated figures (created if missing)."""
    path = Path(os.environ.get("XCORR_FIGURES_DIR") or project_root() / "figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def tables_dir() -> Path:
    """``results/tables`` (created if missing)."""
    path = results_dir() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoints_dir() -> Path:
    """``results/checkpoints``: trained networks shared between notebooks."""
    path = results_dir() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def software() -> str:
    """What else decides the numbers: the Python, numpy and torch versions.

    Trained weights are bitwise reproducible only for one torch version and one CPU thread
    count (training uses 1 thread, and checkpoint keys hold both; see ``nets.training``).
    """
    import platform

    import numpy
    import torch

    return f"python {platform.python_version()}; numpy {numpy.__version__}; torch {torch.__version__}"


def git_commit() -> str:
    """Short commit of the project checkout, with ``-dirty`` when files changed; ``unknown`` outside git."""
    try:
        root = project_root()
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def atomic_write(path: Path, write: Any) -> Path:
    """Call ``write(tmp)`` for a temporary file in ``path``'s folder, then rename it to ``path``.

    A run killed while writing leaves at most a ``.<name>.<pid>.tmp`` file, never a partial
    ``path`` that a later run would trust (the rename is atomic on POSIX file systems).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def run_recipe(notebook: str, params: Mapping[str, Any], *, portable: bool, device: str = "") -> str:
    """The recipe a run of ``notebook`` records (:func:`~xcorr_lib.common.fingerprints.recipe_fingerprint`
    of this package, ``notebooks/<notebook>.ipynb`` and ``params`` in this numeric mode); a GPU
    ``device`` (``"cuda:0 (...)"``) joins the parameters, the CPU does not. Known before a run,
    so a finished run can be recognised and skipped (``make reference``)."""
    from xcorr_lib.common import fingerprints

    recipe_params = dict(params)
    if device and not device.startswith("cpu"):
        recipe_params["device"] = device.split(":")[0].split(" ")[0]
    return fingerprints.recipe_fingerprint(Path(__file__).resolve().parents[1],
                                           project_root() / "notebooks" / f"{notebook}.ipynb",
                                           recipe_params, portable)


def record(artifact: Path, kind: str, *, notebook: str, profile: str = "",
           params: Mapping[str, Any] | None = None, seed: int | None = None,
           data: str = "", machine: Mapping[str, Any] | None = None, device: str = "") -> None:
    """Append one provenance row for ``artifact`` to ``results/manifest.csv``.

    ``recipe``: :func:`xcorr_lib.common.fingerprints.recipe_fingerprint` of the package, the
    notebook's code and ``params`` (seed left out) in this numeric mode; ``machine``: CPU,
    vector level, BLAS, threads and portable mode (:func:`xcorr_lib.common.numerics.machine`
    of this process unless given, e.g. by the runner for the kernel it started); ``device``: where
    the run computed (:func:`xcorr_lib.common.devices.describe_device`, e.g. ``"cpu"`` or
    ``"cuda:0 (NVIDIA H100 80GB HBM3)"``); a GPU is part of the recipe, the CPU is not (so CPU
    recipes stay what they were before devices were recorded)."""
    from xcorr_lib.common import numerics

    machine = dict(machine or numerics.machine())
    recipe = run_recipe(notebook, params or {}, portable=bool(machine.get("portable")), device=device)
    manifest = results_dir() / "manifest.csv"
    new = not manifest.exists()
    try:
        shown = str(Path(artifact).resolve().relative_to(project_root()))
    except ValueError:
        shown = str(artifact)
    row = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "artifact": shown, "kind": kind, "notebook": notebook, "profile": profile,
        "seed": "" if seed is None else seed, "data": data, "git_commit": git_commit(), "recipe": recipe,
        "software": software(), "machine": json.dumps(machine, sort_keys=True, default=str), "device": device,
        "parameters": json.dumps(dict(params or {}), sort_keys=True, default=str),
    }
    old = "" if new else manifest.read_text()
    if old and old.splitlines()[0] != ",".join(MANIFEST_COLUMNS):  # an older layout: keep its rows
        old_rows = list(csv.DictReader(old.splitlines()))
        old, new = "", True
    else:
        old_rows = []

    def write(tmp: Path) -> None:  # the whole file again, so a kill never leaves half a row
        with tmp.open("w", newline="") as fh:
            fh.write(old)
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, restval="", extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows([*old_rows, row])

    atomic_write(manifest, write)


def notebook_ran(notebook: str, profile: str) -> bool:
    """Did ``notebook`` run to the end with ``profile`` here (its executed copy is recorded in the
    manifest and still exists)?"""
    manifest = results_dir() / "manifest.csv"
    if not manifest.is_file():
        return False
    with manifest.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if r.get("kind") == "notebook" and r.get("notebook") == notebook and r.get("profile") == profile]
    return any((project_root() / r["artifact"]).is_file() or Path(r["artifact"]).is_file() for r in rows)


def save_table(df: Any, name: str, *, notebook: str, profile: str = "",
               params: Mapping[str, Any] | None = None, seed: int | None = None,
               data: str = "", device: str = "") -> Path:
    """Write a pandas DataFrame to ``results/tables/<name>.csv`` and record it.

    Returns the path written.
    """
    path = atomic_write(tables_dir() / f"{name}.csv", lambda tmp: df.to_csv(tmp, index=False))
    record(path, "table", notebook=notebook, profile=profile, params=params, seed=seed, data=data, device=device)
    return path


def save_figure(fig: Any, name: str, *, notebook: str, profile: str = "",
                params: Mapping[str, Any] | None = None, seed: int | None = None,
                data: str = "", pdf: bool = True, dpi: int = 150, device: str = "") -> Path:
    """Save a matplotlib figure as ``figures/<name>.png`` (and ``.pdf``) and record it.

    Returns the PNG path.
    """
    png = atomic_write(figures_dir() / f"{name}.png", lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"))
    record(png, "figure", notebook=notebook, profile=profile, params=params, seed=seed, data=data, device=device)
    if pdf:
        out = atomic_write(png.with_suffix(".pdf"), lambda tmp: fig.savefig(tmp, bbox_inches="tight"))
        record(out, "figure", notebook=notebook, profile=profile, params=params, seed=seed, data=data, device=device)
    return png


# ----------------------------------------------------------------------------- notebooks
def notebook_parameters(path: Path) -> dict[str, str]:
    """Names and default values (source text) assigned in a notebook's ``parameters`` cell.

    The cell is parsed with :mod:`ast` (top-level ``name = value`` and ``name: type =
    value`` statements), so comments may contain anything.

    Raises
    ------
    ValueError
        No cell tagged ``parameters``, a cell that is not valid Python, or a cell that
        does not set ``profile``.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    tagged = [c for c in cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise ValueError(f"{path}: no cell tagged {PARAMETERS_TAG!r}; tag the cell that "
                           "starts with `profile = \"smoke\"` (View > Cell Toolbar > Tags)")
    source = tagged[0]["source"]
    source = "".join(source) if isinstance(source, list) else source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"{path}: parameters cell is not valid Python: {err}") from None
    params: dict[str, str] = {}
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        for target in targets:
            if isinstance(target, ast.Name):
                params[target.id] = ast.get_source_segment(source, node.value) or ""  # type: ignore[union-attr]
    if "profile" not in params:
        raise ValueError(f"{path}: the parameters cell must set `profile` (first line "
                           "`profile = \"smoke\"`)")
    return params


def effective_parameters(path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """A notebook's parameters as its run sees them: the parameters cell's defaults (literal
    values; others as their source text) with ``params`` on top, ``profile`` left out (what
    :func:`context` records from inside the run, so both get the same recipe)."""
    out: dict[str, Any] = {}
    for name, text in notebook_parameters(path).items():
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    out.update(params)
    out.pop("profile", None)
    return out


@dataclass(frozen=True)
class Context:
    """What every artifact of one notebook run records: notebook, profile, parameters, seed.

    Made by :func:`context`; ``ctx.save_table(df, name, data=...)`` and
    ``ctx.save_figure(fig, name, data=...)`` are :func:`save_table` / :func:`save_figure`
    with these fields filled in.
    """

    notebook: str
    profile: str
    params: dict
    seed: int | None
    device: str = ""  # where the run computes (its ``device`` parameter resolved), "" without one

    def save_table(self, df: Any, name: str, *, data: str = "") -> Path:
        return save_table(df, name, notebook=self.notebook, profile=self.profile, params=self.params,
                          seed=self.seed, data=data, device=self.device)

    def save_figure(self, fig: Any, name: str, *, data: str = "", pdf: bool = True, dpi: int = 150) -> Path:
        return save_figure(fig, name, notebook=self.notebook, profile=self.profile, params=self.params,
                           seed=self.seed, data=data, pdf=pdf, dpi=dpi, device=self.device)


def context(notebook: str, namespace: Mapping[str, Any], *, notebooks_dir: Path | None = None) -> Context:
    """The :class:`Context` of a running notebook: ``ctx = provenance.context(NOTEBOOK, globals())``.

    The parameters are every name the notebook's ``parameters`` cell assigns
    (:func:`notebook_parameters` of ``notebooks/<notebook>.ipynb``), with their current values
    in ``namespace`` (papermill's injected ones included); ``profile`` and ``seed`` get columns
    of their own, and so does the ``device`` parameter, resolved (``"auto"`` -> ``"cpu"`` or the
    GPU's name; a GPU asked for but absent is a one-line ValueError here, before any work). A
    parameter missing from ``namespace`` is an error, so none is left out.
    """
    path = Path(notebooks_dir or project_root() / "notebooks") / f"{notebook}.ipynb"
    names = list(notebook_parameters(path))
    missing = [n for n in names if n not in namespace]
    if missing:
        raise ValueError(f"{notebook}: parameters {missing} are not defined; run the parameters cell first")
    params = {n: namespace[n] for n in names if n != "profile"}
    seed = params.get("seed")
    device = devices.describe_device(params["device"]) if "device" in params else ""
    return Context(notebook, str(namespace["profile"]), params, None if seed is None else int(seed), device)
