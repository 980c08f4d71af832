"""The teaching site's builder (xcorr_lib.report.book): progress stripping, generated pages, a real
Sphinx build of a small book. The browser checks of the smoke site are in tests/site/."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from xcorr_lib.report.book import BookError, build, build_book, notebook_title
from xcorr_lib.report.book.clean import is_progress_line, strip_progress, strip_progress_text
from xcorr_lib.report.book.pages import figure_captions, gallery_page, latest_figures

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ progress bars
@pytest.mark.parametrize("line", [
    "Net1:   0%|          | 0/2 [00:00<?, ?epoch/s]",
    "Net4:  50%|█████     | 1/2 [00:00<00:00,  9.84epoch/s, loss=1.9651, valid_acc=0.5408]",
    "100%|##########| 30/30 [00:01<00:00, 21.3it/s]",
    "pairs: 12it [00:01,  9.87it/s]",
])
def test_progress_lines_are_recognised(line: str) -> None:
    assert is_progress_line(line)


@pytest.mark.parametrize("line", [
    "UserWarning: 3 constant units in Net5", "loss 0.31 at 50% of the data", "rho | 0.5 | 0.7",
])
def test_other_lines_are_kept(line: str) -> None:
    assert not is_progress_line(line)
    assert strip_progress_text(line + "\n") == line + "\n"


def test_strip_progress_keeps_warnings_and_drops_bar_only_streams() -> None:
    bars = "\rNet1:   0%|          | 0/2 [00:00<?, ?epoch/s]\rNet1: 100%|##| 2/2 [00:00<00:00, 9.8epoch/s]\r    \r"
    cell = new_code_cell("train()", outputs=[
        new_output("stream", name="stderr", text=bars),
        new_output("stream", name="stderr", text=bars + "\nRuntimeWarning: one net did not learn\n"),
        new_output("stream", name="stdout", text="50%|## not stderr, kept\n"),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                         "text/plain": "HBox()"}),
    ])
    nb = new_notebook(cells=[cell])
    out = strip_progress(nb).cells[0].outputs
    assert [o.get("name") for o in out] == ["stderr", "stdout"]
    assert out[0].text == "RuntimeWarning: one net did not learn\n"
    assert len(nb.cells[0].outputs) == 4  # the input is not modified


def test_notebook_title() -> None:
    nb = new_notebook(cells=[new_markdown_cell("Some text\n\n## The **real** `title`\n# later")])
    assert notebook_title(nb, "x") == "The real title"
    assert notebook_title(new_notebook(cells=[new_markdown_cell("no heading")]), "x") == "x"


# ------------------------------------------------------------------ a small book
def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _executed(path: Path, title: str, *, figure: str | None = None, profile: str = "smoke") -> Path:
    cells = [new_markdown_cell(f"# {title}\n\nThe score is $\\lvert \\rho(u, v) \\rvert$ over probes."),
             new_code_cell(f'profile = "{profile}"', metadata={"tags": ["parameters"]}),
             new_code_cell("train()", outputs=[new_output("stream", name="stderr",
                                                          text="\rNet1:  50%|#   | 1/2 [00:00<00:00, 9.8epoch/s]")])]
    if figure:
        cells.append(new_code_cell("plot()", metadata={"mystnb": {"figure": {"name": figure, "caption": f"What {figure} shows."},
                                                                   "image": {"alt": f"alt text of {figure}"}}},
                                   outputs=[new_output("display_data", data={"image/png": base64.b64encode(_png()).decode(),
                                                                             "text/plain": "<Figure>"})]))
    nb = new_notebook(cells=cells)
    nb.metadata["papermill"] = {"parameters": {"profile": profile}, "exception": None}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _manifest(run: Path, figure: Path, notebook: str) -> None:
    cols = ["timestamp", "artifact", "kind", "notebook", "profile", "seed", "data", "git_commit", "software", "parameters"]
    with (run / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for stamp in ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"):  # the newest row wins
            w.writerow({"timestamp": stamp, "artifact": str(figure), "kind": "figure", "notebook": notebook,
                        "profile": "smoke", "seed": 3, "data": "digits", "git_commit": "abc123",
                        "software": "torch 2", "parameters": '{"n_probes": 7}'})


@pytest.fixture(scope="module")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    _executed(run / "notebooks" / "00_first.ipynb", "First chapter", figure="first_fig")
    _executed(run / "notebooks" / "01_second.ipynb", "Second chapter")
    (run / "figures").mkdir()
    (run / "figures" / "first_fig.png").write_bytes(_png())
    _manifest(run, run / "figures" / "first_fig.png", "00_first")
    build_book(run / "notebooks", run / "html")
    return run / "html"


def test_book_has_every_page(small_book: Path) -> None:
    for page in ("index", "ours_vs_paper", "gallery", "search", "notebooks/00_first", "notebooks/01_second",
                 "findings", "performance", "method", "api", *(f"guide/{p.stem}" for p in (ROOT / "docs" / "guide").glob("*.md"))):
        assert (small_book / f"{page}.html").is_file(), page
    index = (small_book / "index.html").read_text()
    assert "First chapter" in index and "Second chapter" in index and "Glossary" in index
    assert index.count('class="btn search-button-field') == 1  # one search box
    assert (small_book / "_static" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
    assert not (small_book.parent / "html.partial").exists()


def test_book_pages_show_no_progress_bar_and_load_nothing_from_outside(small_book: Path) -> None:
    for page in small_book.rglob("*.html"):
        text = page.read_text()
        assert "epoch/s" not in text, page
        assert not re.search(r"""\bsrc=["']?(?:https?:)?//""", text), page
        for tag in re.findall(r"<link\b[^>]*>", text):
            if "stylesheet" in tag or "preload" in tag:
                assert not re.search(r"""href=["']?(?:https?:)?//""", tag), (page, tag)
    assert 'mathjax/tex-svg.js' in (small_book / "notebooks" / "00_first.html").read_text()


def test_figure_caption_alt_and_gallery(small_book: Path) -> None:
    chapter = (small_book / "notebooks" / "00_first.html").read_text()
    assert re.search(r'<figure[^>]*id="first-fig"', chapter)
    assert 'alt="alt text of first_fig"' in chapter and "What first_fig shows." in chapter
    gallery = (small_book / "gallery.html").read_text()
    assert "What first_fig shows." in gallery and 'alt="alt text of first_fig"' in gallery
    assert 'href="notebooks/00_first.html#first-fig"' in gallery
    assert "abc123" in gallery and "2026-01-02" in gallery and "n_probes" in gallery
    assert (small_book / "_images" / "first_fig.png").is_file() or list(small_book.rglob("first_fig*.png"))


def test_findings_page_holds_the_reference_and_ours_vs_paper_this_run(small_book: Path) -> None:
    from xcorr_lib.report import readme

    assert "This run wrote no Table 2, 3 or 4" in (small_book / "ours_vs_paper.html").read_text()
    text = (small_book / "findings.html").read_text()
    first_cell = readme.render()["fashion-table2"].splitlines()[2].split("|")[1].strip()
    assert first_cell in text and "Table 3 sits at chance level" in text


def test_api_page_shows_signatures_and_parameters(small_book: Path) -> None:
    text = (small_book / "api.html").read_text()
    assert 'id="xcorr_lib.score.correlation.neuron_correlation"' in text
    assert 'id="xcorr_lib.score.pairs.pair_matrix"' in text and 'id="xcorr_lib.measures.linear_cka"' in text
    assert "Parameters" in text and "acts_a" in text


def test_gallery_helpers(tmp_path: Path) -> None:
    nb = _executed(tmp_path / "nb" / "00_x.ipynb", "X", figure="fig_x")
    caps = figure_captions([nb])
    assert caps["fig_x"].notebook == "00_x" and caps["fig_x"].alt == "alt text of fig_x"
    (tmp_path / "fig_x.png").write_bytes(_png())
    _manifest(tmp_path, tmp_path / "fig_x.png", "00_x")
    rows = latest_figures(tmp_path / "manifest.csv")
    assert len(rows) == 1 and rows[0]["timestamp"].startswith("2026-01-02")
    page = gallery_page(tmp_path / "manifest.csv", caps, tmp_path / "stage" / "_gallery", {"00_x": "X"})
    assert "{ref}`In its chapter <fig_x>`" in page and (tmp_path / "stage" / "_gallery" / "fig_x.png").is_file()
    assert latest_figures(tmp_path / "missing.csv") == []


def test_no_notebooks_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="make quick"):
        build_book(tmp_path / "empty", tmp_path / "html")


def test_a_failed_build_keeps_the_previous_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _executed(tmp_path / "nb" / "00_a.ipynb", "A")
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text("previous site")
    import sphinx.cmd.build

    monkeypatch.setattr(sphinx.cmd.build, "build_main", lambda args: 2)
    with pytest.raises(BookError, match="exited with 2"):
        build.build_book(tmp_path / "nb", site)
    assert (site / "index.html").read_text() == "previous site"


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_every_saved_figure_cell_carries_its_caption_and_alt_text(path: Path) -> None:
    """The site shows each figure with a caption and alt text taken from its cell's metadata
    (the browser test checks the built pages; this finds a bare cell before any build)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "plt.show()" not in cell.source:
            continue
        meta = cell.metadata.get("mystnb", {})
        caption, alt = meta.get("figure", {}).get("caption"), meta.get("image", {}).get("alt")
        assert caption and alt, f"{path.name}: a figure cell without mystnb caption/alt: {cell.source[:80]!r}"
        saved = re.findall(r'save_figure\(fig, (?:"([^"]+)"|f"([^"]+)")', cell.source)
        if saved and saved[0][0]:
            assert meta["figure"].get("name") == saved[0][0], f"{path.name}: figure name != saved file stem"
