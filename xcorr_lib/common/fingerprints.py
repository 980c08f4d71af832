"""Content hashes for cache keys and recipes: the same arrays, weights or code always give the same key.

Checkpoints (``training.load_or_train``, ``filter_subspace``) and attack caches
(``attack.substitute_attack``) name their files by these hashes, so a cached result is
reused only for exactly the data and initial weights that produced it. A *recipe*
(:func:`recipe_fingerprint`) names what decides a notebook's numbers, so runs made at
different commits can be shown to share one.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn


def data_fingerprint(X: Any, y: Any) -> str:
    """Hash of the training arrays (shape, dtype and bytes of float32 X and int64 y)."""
    Xa = np.ascontiguousarray(np.asarray(X.cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float32))
    ya = np.ascontiguousarray(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64))
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((Xa.shape, ya.shape)).encode())
    h.update(Xa.tobytes())
    h.update(ya.tobytes())
    return h.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """Hash of a model's state dict (names, shapes, dtypes and bytes of every tensor)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(model.state_dict().items()):
        arr = np.ascontiguousarray(t.detach().cpu().numpy())
        h.update(repr((name, arr.shape, str(arr.dtype))).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- recipes
#: Package files that cannot change a number: the site, plots, the README's text, the command
#: line, the runner's plumbing and the provenance bookkeeping itself.
NOT_IN_RECIPE = ("report/*", "cli/*", "run/*", "common/plotting.py", "common/provenance.py", "*/plots.py")
#: Parameters that vary between the runs of one recipe (a seed is a replicate, not a recipe).
PARAMETERS_NOT_IN_RECIPE = ("profile", "seed")


def _code_digest(source: str) -> str:
    """Hash of Python source without its docstrings, comments and layout (its AST)."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[:1] = [] if len(body) > 1 else [ast.Pass()]
    return hashlib.blake2b(ast.dump(tree, include_attributes=False).encode(), digest_size=16).hexdigest()


@functools.lru_cache(maxsize=4)
def package_fingerprint(package_dir: str) -> str:
    """Hash of every ``.py`` file of the package that can change a number (:data:`NOT_IN_RECIPE`
    left out), each reduced to its code: a docstring or comment edit keeps the hash."""
    root = Path(package_dir)
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, pattern) for pattern in NOT_IN_RECIPE):
            continue
        h.update(rel.encode())
        h.update(_code_digest(path.read_text(encoding="utf-8")).encode())
    return h.hexdigest()


def notebook_code_fingerprint(path: Path) -> str:
    """Hash of a notebook's code cells (prose, outputs and metadata left out; comment-only lines too)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    h = hashlib.blake2b(digest_size=16)
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = "".join(cell.get("source", []))
            h.update("\n".join(ln.rstrip() for ln in source.splitlines()
                               if ln.strip() and not ln.lstrip().startswith("#")).encode() + b"\0")
    return h.hexdigest()


def recipe_fingerprint(package_dir: Path, notebook: Path | None, params: Mapping[str, Any], portable: bool) -> str:
    """What determines a notebook's numbers, as one 16-character hash: the package's code
    (:func:`package_fingerprint`), the notebook's code cells, its parameters except the seed and
    the profile's name, and the numeric mode (portable or native). Runs made at different
    commits share a recipe when none of these changed; seeds of one recipe may be pooled."""
    h = hashlib.blake2b(digest_size=8)
    h.update(package_fingerprint(str(Path(package_dir).resolve())).encode())
    if notebook is not None and Path(notebook).is_file():
        h.update(notebook_code_fingerprint(Path(notebook)).encode())
    kept = {k: v for k, v in params.items() if k not in PARAMETERS_NOT_IN_RECIPE}
    h.update(json.dumps(kept, sort_keys=True, default=str).encode())
    h.update(f"portable={bool(portable)}".encode())
    return h.hexdigest()
