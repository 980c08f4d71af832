"""The layout rules of xcorr_lib (README "Adding an experiment"), read from the source itself.

Layers, lowest first: common < data < nets < score < measures < studies < entry points, three
folders beside the layers: ``cli/`` (the command), ``run/`` (the notebook runner and its
preflight), ``report/`` (README's sections and the site); only ``__init__.py`` and
``__main__.py`` sit loose. A module may import its own layer and the layers below; a study
never imports another study; nothing imports upward; an entry folder imports another entry
folder only where :data:`ENTRY_FOLDERS` allows it (``run`` builds the site, so it may import
``report``; ``__main__`` calls ``cli``). Imports are read with ``ast`` from
every module, at module level AND inside functions, relative imports resolved.
Also: no import cycle between modules, no private name (``_x``) imported from another
package, every module under 400 lines, notebook code cells of at most 25 lines (the
parameters cell aside), and a notebook imports no other notebook's study.
"""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xcorr_lib"
LAYERS = ("common", "data", "nets", "score", "measures", "studies")
#: Entry-point folders, each with the other entry folders it may import (every layer is open to them).
ENTRY_FOLDERS = {"cli": (), "run": ("report",), "report": ()}
TOP_MODULES = ("__init__", "__main__")
MAX_MODULE_LINES = 400
MAX_CELL_LINES = 25
NOTEBOOK_STUDY = {"00_quickstart": None, "01_fcn_correlations": "fcn_tables", "02_cnn_vs_fcn": "fcn_tables",
                  "03_transfer_attack": "transfer_attack", "04_imagenet_partial": "imagenet_partial",
                  "05_audit": "audit", "06_model_alignment_search": "alignment_search",
                  "07_filter_subspace": "filter_subspace", "08_population": "population"}


# ----------------------------------------------------------------------------- the checker
def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package_dir: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in ``path``, relative ones resolved."""
    name = module_name(path, package_dir)
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            # `from pkg import submodule` imports the submodule
            out.append((target, names, node.lineno))
    return out


def layer_of(module: str, root: str) -> tuple[int, str | None]:
    """(rank, study) of a module of the package ``root``: common 0 ... studies 5, entry points 6."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in TOP_MODULES or parts[0] in ENTRY_FOLDERS:
        return len(LAYERS), None
    if parts[0] not in LAYERS:
        raise ValueError(f"{module}: not in a layer folder ({', '.join(LAYERS)}) nor an entry point")
    study = parts[1] if parts[0] == "studies" and len(parts) > 1 else None
    return LAYERS.index(parts[0]), study


def entry_of(module: str, root: str) -> str | None:
    """The entry folder a module lives in (``cli``, ``run``, ``report``), else None."""
    parts = module.split(".")[1:]
    return parts[0] if parts and parts[0] in ENTRY_FOLDERS else None


def check_layout(package_dir: Path) -> list[str]:
    """Every broken rule, as one line each (empty: the layout holds)."""
    root = package_dir.name
    problems, graph = [], {}
    modules = {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    for mod, path in modules.items():
        rank, study = layer_of(mod, root)
        lines = len(path.read_text().splitlines())
        if lines >= MAX_MODULE_LINES:
            problems.append(f"{mod}: {lines} lines (limit {MAX_MODULE_LINES})")
        graph[mod] = set()
        for target, names, line in imports_of(path, package_dir):
            if target != root and not target.startswith(root + "."):
                continue
            targets = [f"{target}.{n}" if f"{target}.{n}" in modules else target for n in names] or [target]
            for t in set(targets):
                if t not in modules:
                    problems.append(f"{mod}:{line} imports {t}, which does not exist")
                    continue
                graph[mod].add(t)
                t_rank, t_study = layer_of(t, root)
                if t == root and all(n.startswith("__") for n in names):
                    continue  # __version__
                if t == root:
                    problems.append(f"{mod}:{line} imports the top-level package {root} (import the module itself)")
                elif t_rank > rank:
                    problems.append(f"{mod}:{line} imports {t}: layer {LAYERS[rank] if rank < len(LAYERS) else 'entry'}"
                                    f" may not import the layer above it ({LAYERS[t_rank] if t_rank < len(LAYERS) else 'entry'})")
                elif study and t_study and t_study != study:
                    problems.append(f"{mod}:{line} imports {t}: study {study!r} imports study {t_study!r}")
                elif (into := entry_of(t, root)) and into != (home_entry := entry_of(mod, root)) and \
                        into not in ENTRY_FOLDERS.get(home_entry or "", ()) and (mod, into) != (f"{root}.__main__", "cli"):
                    problems.append(f"{mod}:{line} imports {t}: {home_entry or 'the top level'} may not import the "
                                    f"entry folder {into}")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            home = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
            there = target if modules.get(target, Path()).name == "__init__.py" else target.rsplit(".", 1)[0]
            if private and home != there:
                problems.append(f"{mod}:{line} imports private {private} from another package ({target})")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (or a self-import)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp) + [sorted(comp)[0]])

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


# ----------------------------------------------------------------------------- the rules hold
def test_the_package_follows_the_layout() -> None:
    problems = check_layout(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_layer_folder_exists_and_nothing_sits_loose() -> None:
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in TOP_MODULES)
    assert not loose, f"modules outside the layer and entry folders: {loose}"
    folders = {d.name for d in PACKAGE.iterdir() if d.is_dir() and d.name != "__pycache__"}
    assert folders == set(LAYERS) | set(ENTRY_FOLDERS), f"folders beside the layers: {sorted(folders - set(LAYERS))}"
    assert all((PACKAGE / folder / "__init__.py").is_file() for folder in folders)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_thin_and_use_their_own_study(path: Path) -> None:
    nb = json.loads(path.read_text())
    own = NOTEBOOK_STUDY[path.stem]
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        n = len(source.strip().splitlines())
        assert n <= MAX_CELL_LINES, f"{path.name} cell {i}: {n} lines (limit {MAX_CELL_LINES}); move logic to its study"
        for node in ast.walk(ast.parse(source)):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            for m in mods:
                if m.startswith("xcorr_lib.studies."):
                    study = m.split(".")[2]
                    assert study == own, f"{path.name} cell {i} imports study {study!r}; its own is {own!r}"


# ----------------------------------------------------------------------------- the checker can fail
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "xcorr_lib"
    for rel, text in {"__init__.py": "", **{f"{layer}/__init__.py": "" for layer in LAYERS}, **files}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    return pkg


def test_checker_finds_a_deliberate_cycle(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "score/a.py": "from xcorr_lib.score import b\n",
        "score/b.py": "def f():\n    from xcorr_lib.score.a import g  # function-level imports count too\n",
    })
    problems = check_layout(pkg)
    assert problems == ["import cycle: xcorr_lib.score.a -> xcorr_lib.score.b -> xcorr_lib.score.a"]


def test_checker_keeps_each_entry_folder_to_its_rule(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "cli/__init__.py": "", "run/__init__.py": "", "report/__init__.py": "",
        "cli/command.py": "from xcorr_lib.run import pipeline\n",
        "run/pipeline.py": "from xcorr_lib.report import site  # allowed: run builds the site\n",
        "report/site.py": "from xcorr_lib.score import s\n",
        "score/s.py": "def f():\n    from xcorr_lib.report import site\n",
    })
    problems = check_layout(pkg)
    text = "\n".join(problems)
    assert "xcorr_lib.cli.command:1 imports xcorr_lib.run.pipeline: cli may not import the entry folder run" in text
    assert not any(line.startswith("xcorr_lib.run.pipeline:") for line in problems)  # run may import report
    assert "xcorr_lib.score.s:2 imports xcorr_lib.report.site: layer score may not import the layer above it" in text


def test_checker_finds_upward_cross_study_private_and_long(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "common/x.py": "def f():\n    from xcorr_lib.nets import y\n",
        "nets/y.py": "from ..score.z import _hidden\n",
        "score/z.py": "_hidden = 1\n" + "x = 1\n" * MAX_MODULE_LINES,
        "studies/one.py": "from xcorr_lib.studies.two import thing\n",
        "studies/two.py": "thing = 2\n",
    })
    text = "\n".join(check_layout(pkg))
    assert "xcorr_lib.common.x:2 imports xcorr_lib.nets.y: layer common may not import the layer above it (nets)" in text
    assert "xcorr_lib.nets.y:1 imports xcorr_lib.score.z: layer nets may not import the layer above it (score)" in text
    assert "imports private ['_hidden'] from another package" in text
    assert "study 'one' imports study 'two'" in text
    assert f"xcorr_lib.score.z: {MAX_MODULE_LINES + 1} lines" in text
