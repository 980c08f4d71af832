"""README sections made from committed result files (``make readme``, ``make readme-check``).

Every number the README quotes from a run sits between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` and is made by :mod:`.sections` from files in the repository: the
reference runs under ``reference/`` (small CSVs, their manifest and run times, copied there by
:mod:`.reference` from a ``make reference*`` run), the benchmark outputs under
``benchmarks/results/``, and code that needs no data (the chance levels). ``--write``
rewrites those sections; ``--check`` exits 1, naming each section that differs, when the
README and the files disagree (``make test`` runs it).

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

__all__ = ["MARK", "SECTIONS", "render", "update", "check", "collect", "main"]

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


def check(readme: Path, sections: dict[str, str]) -> list[str]:
    """Names of the sections whose README text differs from ``sections`` (and of sections the README lacks)."""
    found = marked_sections(readme.read_text())
    return [name for name in sections if found.get(name) != sections[name]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xcorr_lib.report.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=["collect", "collect-population"],
                        help="copy a reference run's small files")
    parser.add_argument("paths", nargs="*", help="collect: RUNS DEST")
    parser.add_argument("--check", action="store_true", help="exit 1 when README and the files disagree")
    parser.add_argument("--write", action="store_true", help="rewrite README's generated sections")
    parser.add_argument("--readme", type=Path, default=None, help="default: README.md of the project")
    args = parser.parse_args(argv)
    if args.action:
        runs, dest = (Path(p) for p in args.paths)
        files = (collect_population(runs, dest) if args.action == "collect-population"
                 else collect(runs, dest, REFERENCE_TABLES))
        print(f"{len(files)} files -> {dest}")
        return 0
    readme = args.readme or project_root() / "README.md"
    sections = render()
    if args.write:
        atomic_write(readme, lambda tmp: tmp.write_text(update(readme.read_text(), sections)))
        print(f"README: {len(sections)} sections written")
        return 0
    stale, in_readme = check(readme, sections), marked_sections(readme.read_text())
    for name in stale:
        found = in_readme.get(name)
        print(f"README section {name!r} " + ("is missing" if found is None else "differs from its files:"))
        if found is not None:
            sys.stdout.writelines(difflib.unified_diff(found.splitlines(True), sections[name].splitlines(True),
                                                       "README", "files", n=0))
            print()
    if stale:
        print("run `make readme` to regenerate, or fix the files")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
