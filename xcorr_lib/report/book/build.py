"""``make html``: the teaching site, a Sphinx + MyST-NB book of the executed notebooks.

:func:`build_book` stages, in a fresh folder beside the output: the prose pages of
``docs/`` (introduction and glossary, the user guide, the method, findings, performance and
API pages, ``conf.py``), every executed notebook with its progress bars stripped
(:mod:`.clean`), the generated "ours vs paper" page and the figure gallery (:mod:`.pages`),
the findings page's figures drawn from the committed reference runs (:mod:`.figures`), and MathJax from the pinned ``sphinx-mathjax-offline``
package. Sphinx then renders the staging folder without executing anything; the finished
site replaces ``html_dir`` only when the build succeeded, so an interrupted build never
leaves a half site behind.
"""

from __future__ import annotations

import io
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from importlib import metadata
from pathlib import Path

import nbformat

from xcorr_lib.common.provenance import project_root, results_dir

from .clean import strip_progress
from .figures import FIGURES
from .pages import figure_captions, gallery_page, ours_vs_paper_page

__all__ = ["BookError", "mathjax_file", "notebook_title", "stage_book", "build_book"]

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_FILE = "sphinx-mathjax-offline/static/mathjax/tex-svg.js"


class BookError(RuntimeError):
    """The site could not be built (no notebooks, a missing package, Sphinx failed)."""


def mathjax_file() -> Path:
    """MathJax 3 (TeX input, SVG output: one file, no web fonts) from the pinned package."""
    try:
        path = Path(metadata.distribution(MATHJAX_PACKAGE).locate_file(MATHJAX_FILE))
    except metadata.PackageNotFoundError:
        raise BookError(f"{MATHJAX_PACKAGE} is not installed (it is pinned in requirements.txt: run `make venv`)") from None
    if not path.is_file():
        raise BookError(f"{MATHJAX_PACKAGE} lacks {MATHJAX_FILE}")
    return path


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """Text of the first markdown heading of ``nb`` (markup stripped), else ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip().startswith("#"):
                    text = line.lstrip().lstrip("#").strip().replace("`", "").replace("*", "")
                    return text or default
    return default


def stage_book(executed_dir: Path, stage: Path, *, manifest: Path, tables: Path, docs: Path) -> list[Path]:
    """Fill ``stage`` (emptied first) with everything Sphinx renders; return the staged notebooks."""
    paths = sorted(Path(executed_dir).glob("*.ipynb"))
    if not paths:
        raise BookError(f"no executed notebooks in {executed_dir}; run `make quick` (or `make all`) first")
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(docs, stage, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    (stage / "notebooks").mkdir()
    chapters, profile = {}, "?"
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        chapters[path.stem] = notebook_title(nb, path.stem)
        profile = nb.metadata.get("papermill", {}).get("parameters", {}).get("profile", profile)
        nbformat.write(strip_progress(nb), str(stage / "notebooks" / path.name))
    staged = sorted((stage / "notebooks").glob("*.ipynb"))
    captions = figure_captions(staged)
    (stage / "gallery.md").write_text(gallery_page(manifest, captions, stage / "_gallery", chapters), encoding="utf-8")
    (stage / "ours_vs_paper.md").write_text(ours_vs_paper_page(tables, profile), encoding="utf-8")
    for name, draw in FIGURES.items():  # the findings page's figures, from the committed reference runs
        draw(project_root(), stage / "_generated" / name)
    static = stage / "_static" / "mathjax"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(mathjax_file(), static / "tex-svg.js")
    return staged


def build_book(executed_dir: Path | None = None, html_dir: Path | None = None, *,
               verbose: bool = False) -> Path:
    """Build the site from ``executed_dir`` (default ``results/notebooks``) into ``html_dir``
    (default ``results/html``); return the path of its ``index.html``.

    The run's manifest and tables are read from the folder above ``executed_dir`` (its
    results folder) when it has a ``manifest.csv``, else from ``results/``.

    Raises
    ------
    BookError
        No executed notebook, a missing package, or Sphinx reported an error (its log is in
        the message).
    """
    from sphinx.cmd.build import build_main

    executed_dir = Path(executed_dir) if executed_dir else results_dir() / "notebooks"
    html_dir = Path(html_dir) if html_dir else results_dir() / "html"
    run_dir = executed_dir.resolve().parent
    run_dir = run_dir if (run_dir / "manifest.csv").is_file() else results_dir()
    stage = html_dir.with_name(html_dir.name + ".src")
    partial = html_dir.with_name(html_dir.name + ".partial")
    start = time.perf_counter()
    stage_book(executed_dir, stage, manifest=run_dir / "manifest.csv", tables=run_dir / "tables",
               docs=project_root() / "docs")
    if partial.exists():
        shutil.rmtree(partial)
    log = io.StringIO()
    args = ["-b", "html", "-q", "-n", "-W", "--keep-going", "-d", str(stage / "_doctrees"), str(stage), str(partial)]
    with redirect_stdout(log), redirect_stderr(log):
        status = build_main(args)
    text = log.getvalue()
    if verbose or status:
        print(text, end="")
    if status:
        raise BookError(f"sphinx-build exited with {status}:\n{text[-4000:]}")
    if html_dir.exists():
        shutil.rmtree(html_dir)
    partial.rename(html_dir)
    size = sum(p.stat().st_size for p in html_dir.rglob("*") if p.is_file())
    warnings = sum(1 for line in text.splitlines() if "WARNING" in line)
    print(f"site: {html_dir} ({size / 2**20:.1f} MiB, {warnings} Sphinx warnings) in "
          f"{time.perf_counter() - start:.0f} s")
    return html_dir / "index.html"
