"""What an executed notebook shows on the site: its outputs without progress-bar noise.

tqdm (and papermill) write progress bars to a cell's stderr as many ``\\r``-separated
redraws (``  3%|▎         | 1/30 [00:01<00:29, ...]``). In a terminal they are one moving
line; in a rendered notebook they become long blocks of repeated lines. :func:`strip_progress`
drops those redraws from every stderr stream and keeps every other line (warnings stay
visible); a stream left empty is removed. Widget outputs (``tqdm.auto`` in a live kernel)
are replaced by nothing, as the site loads no widget manager.
"""

from __future__ import annotations

import copy
import re

import nbformat

__all__ = ["is_progress_line", "strip_progress_text", "strip_progress"]

#: A tqdm bar: optional description, a percentage, a bar between pipes, a counter ``n/total``.
_BAR = re.compile(r"^\s*[^|\n]*?\d{1,3}%\|[^|]*\|\s*\S+/\S+")
#: tqdm without a total: ``desc: 12it [00:01, 9.87it/s]``.
_OPEN_BAR = re.compile(r"^\s*[^\n]*?\d+(?:\.\d+)?[kMG]?(?:it|[a-z]+) \[\d+:\d\d(?::\d\d)?, ")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def is_progress_line(line: str) -> bool:
    """Is ``line`` one redraw of a progress bar (tqdm's format, with or without a total)?"""
    return bool(_BAR.match(line) or _OPEN_BAR.match(line))


def strip_progress_text(text: str) -> str:
    """``text`` without progress-bar redraws; other lines kept in order, each once."""
    kept = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip() and not is_progress_line(p)]
        kept.extend(parts)
    out = "\n".join(kept)
    return out + "\n" if out and text.endswith("\n") else out


def strip_progress(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose stderr streams carry no progress bar and no widget output."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = strip_progress_text(out.get("text", ""))
                if not out["text"].strip():
                    continue
            elif WIDGET_MIME in out.get("data", {}):
                continue
            outputs.append(out)
        cell["outputs"] = outputs
    return nb
