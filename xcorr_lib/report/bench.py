"""The committed benchmark outputs, ``benchmarks/results/<name>-<date>.txt``: the newest file of
a benchmark and its blocks. One reader for the performance page's tables and the README's
speed finding.

A file holds one block per run: a ``#`` line opens a block and is its caption (so are the
other lines that are not rows), and a line starting with ``(`` is a row of three columns
separated by two or more spaces: case, result, details.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["newest", "blocks", "rows"]


def newest(root: Path, name: str) -> Path:
    """The newest ``benchmarks/results/<name>-*.txt`` under the project ``root``."""
    files = sorted((Path(root) / "benchmarks" / "results").glob(f"{name}-*.txt"))
    if not files:
        raise FileNotFoundError(f"no benchmarks/results/{name}-*.txt")
    return files[-1]


def blocks(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    """(caption lines, rows) of every block of one output file; a row is [case, result, details]."""
    out: list[tuple[list[str], list[list[str]]]] = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#") or not out:
            out.append(([line.lstrip("# ").strip()], []))
        elif line.startswith("("):
            out[-1][1].append(re.split(r"\s{2,}", line.strip(), maxsplit=2))
        elif line.strip():
            out[-1][0].append(line.strip())
    return out


def rows(path: Path) -> list[list[str]]:
    """Every row of one output file, all blocks together."""
    return [row for _, block in blocks(path) for row in block]
