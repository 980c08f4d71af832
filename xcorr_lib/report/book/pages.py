"""The site's generated pages: "ours vs paper" from the table CSVs, and the figure gallery.

Both are MyST markdown strings built from files a run wrote: ``tables/*.csv`` and
``manifest.csv`` of the results folder that the executed notebooks belong to, and the
captions that the notebooks' figure cells carry in their metadata
(``mystnb.figure.caption``, ``mystnb.image.alt``, ``mystnb.figure.name`` = the saved
figure's file stem, which is also the figure's label on its chapter page).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from xcorr_lib.common.provenance import project_root
from xcorr_lib.studies import fcn_tables, transfer_attack

__all__ = ["FigureCaption", "figure_captions", "gallery_page", "ours_vs_paper_page", "latest_figures"]

@dataclass(frozen=True)
class FigureCaption:
    """The caption and alt text of one figure cell, and where it is (chapter stem, label)."""

    name: str
    notebook: str
    caption: str
    alt: str


def figure_captions(notebooks: list[Path]) -> dict[str, FigureCaption]:
    """{figure label: caption} over the figure cells of ``notebooks`` (executed ``.ipynb``)."""
    out = {}
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("mystnb", {})
            fig = meta.get("figure", {})
            if cell.cell_type == "code" and fig.get("name"):
                out[fig["name"]] = FigureCaption(fig["name"], path.stem, fig.get("caption", ""),
                                                 meta.get("image", {}).get("alt", ""))
    return out


def latest_figures(manifest: Path) -> list[dict[str, str]]:
    """The newest manifest row of every PNG figure (in the order the figures were first made)."""
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("kind") == "figure" and r["artifact"].endswith(".png")]
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        latest.pop(row["artifact"], None)
        latest[row["artifact"]] = row
    return sorted(latest.values(), key=lambda r: [x["artifact"] for x in rows].index(r["artifact"]))


def _artifact_path(artifact: str) -> Path:
    path = Path(artifact)
    return path if path.is_absolute() else project_root() / path


def gallery_page(manifest: Path, captions: dict[str, FigureCaption], image_dir: Path, chapters: dict[str, str]) -> str:
    """The gallery: every figure of the manifest that still exists, copied to ``image_dir``
    (``_gallery/`` of the staging folder), with its caption, a link to the figure on its
    chapter page, and its provenance (profile, seed, commit, data, parameters).
    ``chapters``: {notebook stem: chapter title}."""
    image_dir.mkdir(parents=True, exist_ok=True)
    parts = ["# Figure gallery", "",
             "Every figure the notebooks of this run saved, newest version of each, with the record "
             "`results/manifest.csv` keeps of it. Click a caption's link to see the figure in its chapter, "
             "with the code that made it.", ""]
    shown = 0
    for row in latest_figures(manifest):
        src = _artifact_path(row["artifact"])
        name = src.stem
        if not src.is_file():
            continue
        (image_dir / src.name).write_bytes(src.read_bytes())
        cap = captions.get(name)
        chapter = chapters.get(row["notebook"], row["notebook"])
        caption = cap.caption if cap else f"Figure `{name}` of {chapter}."
        alt = cap.alt if cap else caption
        where = (f"{{ref}}`In its chapter <{name}>`" if cap else f"{{doc}}`Its chapter <notebooks/{row['notebook']}>`"
                 if row["notebook"] in chapters else "")
        params = json.dumps(json.loads(row.get("parameters") or "{}"), indent=1, sort_keys=True)
        parts += [f"## `{name}`", "",
                  f"```{{figure}} {image_dir.name}/{src.name}", f":alt: {_one_line(alt)}", ":width: 100%", "",
                  _one_line(caption), "```", "",
                  f"{where}: {chapter} (`{row['notebook']}`). Profile `{row['profile'] or '?'}`, seed `{row['seed'] or '-'}`, "
                  f"commit `{row['git_commit'] or '?'}`, made {row['timestamp']}.", "",
                  f"Data: {row['data'] or '-'}. Software: {row.get('software') or 'not recorded'}.", "",
                  "<details><summary>Parameters of the run</summary>", "", "```json", params, "```", "",
                  "</details>", ""]
        shown += 1
    if not shown:
        parts.append("No figure was recorded in this run's manifest.")
    return "\n".join(parts) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _run_tables(tables: Path) -> list[str]:
    parts = []
    for name, compare, keys in (("table2_fcn_correlations", fcn_tables.compare_table2, ("dataset", "net_a", "net_b")),
                                ("table3_cnn_vs_fcn", fcn_tables.compare_table3, ("dataset", "net"))):
        path = tables / f"{name}.csv"
        if not path.is_file():
            continue
        compared = compare(pd.read_csv(path))
        label = "Table 2 (FCN vs FCN)" if name.startswith("table2") else "Table 3 (FCN vs CNN)"
        wide = fcn_tables.wide_comparison(compared, keys)
        parts += [f"## {label}", "", f"From `{path.name}`: the paper's value, ours per setting, and ours - paper.", "",
                  fcn_tables.markdown_table(wide), "",
                  fcn_tables.describe_agreement(fcn_tables.agreement(compared)) or "No cell has a published value.", ""]
    path = tables / "table4_attack.csv"
    if path.is_file():
        t4 = pd.read_csv(path)
        t4 = t4[t4["attack"] == "main"] if "attack" in t4.columns else t4
        cmp = transfer_attack.compare_with_paper(t4)[["dataset", "net", "ours", "paper"]]
        parts += ["## Table 4 (accuracy before -> after the transfer attack, relative degradation)", "",
                  f"From `{path.name}`, the main attack.", "", fcn_tables.markdown_table(cmp, index=False), ""]
    return parts


def ours_vs_paper_page(tables: Path, profile: str) -> str:
    """This run's tables (``tables``, made with ``profile``) beside the published ones; the
    committed multi-seed reference is on the findings page."""
    run = _run_tables(tables)
    parts = ["# Ours vs paper: this run", "",
             f"The tables of the run this site was built from (profile `{profile}`) beside the published "
             "ones. With a small profile they show how the code behaves, not the paper's numbers: the "
             "committed reference runs, over several training seeds and with their nulls, are on the "
             "{doc}`findings` page.", ""]
    parts += run or ["This run wrote no Table 2, 3 or 4 (`results/tables/` has none of them).", ""]
    return "\n".join(parts) + "\n"
