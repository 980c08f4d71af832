"""Generated sections of the README and of the site's findings and performance pages, made
from committed result files (``make readme``, ``make readme-check``).

Every number those documents (:data:`DOCUMENTS`) quote from a run sits between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` and is made by :mod:`.sections` from files
in the repository: the
reference runs under ``reference/`` (small CSVs, their manifest and run times, copied there by
:mod:`.reference` from a ``make reference*`` run), the benchmark outputs under
``benchmarks/results/``, and code that needs no data (the chance levels). ``--write``
rewrites those sections; ``--check`` exits 1, naming each section that differs, when a
document and the files disagree, or when a section is shown in no document (``make test``
runs it).

    python -m xcorr_lib.report.readme --check
    python -m xcorr_lib.report.readme --write
    python -m xcorr_lib.report.readme collect results/reference/paper-fashion reference/paper-fashion
    python -m xcorr_lib.report.readme collect-population results/reference/population reference/population
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from xcorr_lib.common.provenance import atomic_write, project_root

from .reference import (FASHION, REFERENCE_TABLES, collect, collect_population,  # noqa: F401
                        read_reference)
from .sections import SECTIONS, spread  # noqa: F401

__all__ = ["DOCUMENTS", "MARK", "SECTIONS", "render", "update", "check", "unplaced", "collect", "main"]

MARK = re.compile(r"<!-- (?P<name>[a-z0-9-]+):start -->\n(?:(?P<body>.*?)\n)?<!-- (?P=name):end -->", re.S)


# --- README ----------------------------------------------------------------------------

def render(root: Path | None = None) -> dict[str, str]:
    """Every generated section's text, from the files under ``root`` (default: the project)."""
    root = Path(root or project_root())
    return {name: make(root) for name, make in SECTIONS.items()}


def update(text: str, sections: dict[str, str]) -> str:
    """``text`` with each marked section's body replaced; a marker without a section is an error."""
    def replace(m: re.Match) -> str:
        if m["name"] not in sections:
            raise KeyError(f"README marks a section {m['name']!r} that no code makes; known: {sorted(sections)}")
        return f"<!-- {m['name']}:start -->\n{sections[m['name']]}\n<!-- {m['name']}:end -->"

    return MARK.sub(replace, text)


def marked_sections(text: str) -> dict[str, str]:
    """{name: body} of every marked section in ``text`` (an empty section's body is "")."""
    return {m["name"]: m["body"] or "" for m in MARK.finditer(text)}


#: The files whose marked sections :data:`SECTIONS` fills: the README's findings and the
#: site's findings and performance pages (readable in the repository too).
DOCUMENTS = ("README.md", "docs/findings.md", "docs/performance.md")


def check(document: Path, sections: dict[str, str]) -> list[str]:
    """Names of the sections ``document`` marks whose text differs from ``sections``."""
    found = marked_sections(document.read_text())
    return [name for name in found if found[name] != sections.get(name)]


def unplaced(root: Path, sections: dict[str, str]) -> list[str]:
    """Sections that no file of :data:`DOCUMENTS` marks (made, but shown nowhere)."""
    marked = set().union(*(marked_sections((root / d).read_text()) for d in DOCUMENTS))
    return sorted(set(sections) - marked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xcorr_lib.report.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=["collect", "collect-population"],
                        help="copy a reference run's small files")
    parser.add_argument("paths", nargs="*", help="collect: RUNS DEST")
    parser.add_argument("--check", action="store_true", help="exit 1 when a document and the files disagree")
    parser.add_argument("--write", action="store_true", help="rewrite the documents' generated sections")
    parser.add_argument("--readme", type=Path, default=None, help="only this document (default: all of DOCUMENTS)")
    args = parser.parse_args(argv)
    if args.action:
        runs, dest = (Path(p) for p in args.paths)
        files = collect_population(runs, dest) if args.action == "collect-population" else collect(runs, dest, REFERENCE_TABLES)
        print(f"{len(files)} files -> {dest}")
        return 0
    root = project_root()
    documents = [args.readme] if args.readme else [root / d for d in DOCUMENTS]
    sections = render()
    if args.write:
        for doc in documents:
            atomic_write(doc, lambda tmp, doc=doc: tmp.write_text(update(doc.read_text(), sections)))
        print(f"{len(sections)} sections written into {', '.join(d.name for d in documents)}")
        return 0
    failed = False
    for doc in documents:
        stale, found = check(doc, sections), marked_sections(doc.read_text())
        for name in stale:
            failed = True
            if name not in sections:
                print(f"{doc.name}: section {name!r} is marked but no code makes it; known: {sorted(sections)}")
                continue
            print(f"{doc.name}: section {name!r} differs from its files:")
            sys.stdout.writelines(difflib.unified_diff(found[name].splitlines(True), sections[name].splitlines(True),
                                                       doc.name, "files", n=0))
            print()
    if not args.readme and (missing := unplaced(root, sections)):
        failed = True
        print(f"sections shown in no document: {missing}")
    if failed:
        print("run `make readme` to regenerate, or fix the files")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
