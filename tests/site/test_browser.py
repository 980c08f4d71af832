"""The built smoke site in a real headless Chromium, outside hosts blocked (tests/site/conftest.py).

Formulas render (MathJax output, no TeX source left in the visible text), search answers
from the local server and from ``file://``, no internal link or image is broken, nothing
is loaded from another host, and screenshots are written for review.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from bs4 import BeautifulSoup

BUDGET = "--virtual-time-budget=15000"
MATH_PAGES = ["index.html", "notebooks/00_quickstart.html", "notebooks/01_fcn_correlations.html"]
TEX_LEFT = re.compile(r"\\\(|\\lvert|\$[^$\n]{1,80}\$")


def site_pages(site: Path) -> list[Path]:
    """The site's pages (the theme's template macros under ``_static/`` are not pages)."""
    return sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_"))


def visible_text(dom: str) -> str:
    soup = BeautifulSoup(dom, "html.parser")
    for tag in soup(["script", "style", "noscript", "mjx-container", "template"]):
        tag.decompose()
    return soup.get_text(" ")


@pytest.mark.parametrize("page", MATH_PAGES)
def test_formulas_are_rendered_offline(page: str, site: Path, server, chromium) -> None:
    base, _ = server
    if not (site / page).is_file():
        pytest.fail(f"{page} is missing from the site")
    dom = chromium(f"{base}/{page}", BUDGET, "--dump-dom")
    soup = BeautifulSoup(dom, "html.parser")
    assert soup.find("mjx-container"), f"{page}: MathJax rendered nothing"
    left = TEX_LEFT.findall(visible_text(dom))
    assert not left, f"{page}: TeX source left in the visible text: {left[:5]}"


def _results(dom: str) -> list[str]:
    soup = BeautifulSoup(dom, "html.parser")
    return [li.get_text(" ", strip=True) for li in soup.select("ul.search li")]


def test_search_finds_pearson_over_http(server, chromium) -> None:
    base, _ = server
    hits = _results(chromium(f"{base}/search.html?q=Pearson", BUDGET, "--dump-dom"))
    assert hits, "no search result for 'Pearson'"


def test_search_works_from_file_urls(site: Path, chromium) -> None:
    hits = _results(chromium((site / "search.html").as_uri() + "?q=Pearson", BUDGET, "--dump-dom"))
    assert hits, "no search result for 'Pearson' from file://"


def test_every_page_loads_without_missing_files(site: Path, server, chromium) -> None:
    base, missing = server
    for page in site_pages(site):
        chromium(f"{base}/{page.relative_to(site).as_posix()}", "--virtual-time-budget=5000", "--dump-dom")
    assert not missing, f"requests the site could not answer: {sorted(set(missing))[:10]}"


def _ids(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        cache[page] = {t["id"] for t in soup.find_all(id=True)} | {t["name"] for t in soup.find_all("a", attrs={"name": True})}
    return cache[page]


def test_no_broken_internal_link_or_image(site: Path) -> None:
    broken, ids = [], {}
    for page in site_pages(site):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        refs = [(t.name, t.get("href") or t.get("src")) for t in soup.find_all(["a", "img", "link", "script", "source"])]
        for tag, ref in refs:
            if not ref or urlsplit(ref).scheme in ("http", "https", "mailto", "javascript", "data"):
                continue
            path, fragment = urldefrag(ref.split("?", 1)[0])
            target = (page.parent / unquote(path)).resolve() if path else page
            if not target.is_file() or site not in target.parents:
                broken.append(f"{page.relative_to(site)}: <{tag}> {ref}")
            elif fragment and target.suffix == ".html" and unquote(fragment) not in _ids(target, ids):
                broken.append(f"{page.relative_to(site)}: <{tag}> {ref} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_nothing_is_loaded_from_another_host(site: Path) -> None:
    outside = re.compile(r"""(?:\bsrc=|\bdata-src=)["']?(?:https?:)?//""")
    for page in site_pages(site):
        text = page.read_text(encoding="utf-8")
        assert not outside.search(text), f"{page}: src= from another host"
        for tag in re.findall(r"<link\b[^>]*>", text):
            if re.search(r"stylesheet|preload|icon|modulepreload", tag):
                assert not re.search(r"""href=["']?(?:https?:)?//""", tag), f"{page}: {tag}"
    for css in site.rglob("*.css"):
        assert not re.search(r"""@import\s+(?:url\()?["']?(?:https?:)?//|url\(["']?(?:https?:)?//""",
                             css.read_text(encoding="utf-8", errors="replace")), f"{css}: loads from another host"


def test_every_figure_has_alt_text_and_a_caption(site: Path) -> None:
    for page in sorted((site / "notebooks").glob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for img in soup.select("article img, main img"):
            alt = (img.get("alt") or "").strip()
            assert alt and not alt.endswith((".png", ".svg", ".jpg")), f"{page.name}: no alt text for {img.get('src')} ({alt!r})"
            figure = img.find_parent("figure")
            assert figure is not None and figure.find("figcaption"), f"{page.name}: an image without a caption ({img.get('src')})"


def test_screenshots_for_review(site: Path, server, chromium) -> None:
    from PIL import Image

    base, _ = server
    out = site / "_screenshots"
    out.mkdir(exist_ok=True)
    for name, page in (("index", "index.html"), ("01_fcn_correlations", "notebooks/01_fcn_correlations.html")):
        shot = out / f"{name}.png"
        chromium(f"{base}/{page}", BUDGET, "--window-size=1280,900", "--hide-scrollbars", f"--screenshot={shot}")
        with Image.open(shot) as img:
            assert img.size == (1280, 900)
            lo, hi = img.convert("L").getextrema()
            assert lo < 100 and hi > 200, f"{name}: the screenshot is blank"


# ------------------------------------------------------------------ the manual
ROOT = Path(__file__).resolve().parents[2]
GUIDE = sorted(p.stem for p in (ROOT / "docs" / "guide").glob("*.md"))


def test_api_page_shows_the_signature_and_parameters(server, chromium) -> None:
    base, _ = server
    soup = BeautifulSoup(chromium(f"{base}/api.html", BUDGET, "--dump-dom"), "html.parser")
    entry = soup.find(id="xcorr_lib.score.correlation.neuron_correlation")
    assert entry is not None, "api.html documents no neuron_correlation"
    signature = entry.get_text(" ", strip=True)
    assert all(name in signature for name in ("acts_a", "layers_a", "acts_b", "layers_b", "variant"))
    body = entry.find_parent("dl").get_text(" ", strip=True)
    assert "Parameters" in body and "Returns" in body


def test_every_manual_page_is_in_the_navigation(server, chromium) -> None:
    base, _ = server
    soup = BeautifulSoup(chromium(f"{base}/index.html", BUDGET, "--dump-dom"), "html.parser")
    nav = soup.select_one("nav.bd-docs-nav") or soup
    hrefs = {urldefrag(a["href"])[0].lstrip("./") for a in nav.find_all("a", href=True)}
    for page in [*(f"guide/{g}.html" for g in GUIDE), "method.html", "api.html", "findings.html", "performance.html"]:
        assert page in hrefs, f"{page} is not reachable from the navigation"


@pytest.mark.parametrize("word", ["pair_matrix", "timm"])
def test_search_finds_the_manual(word: str, server, chromium) -> None:
    base, _ = server
    hits = _results(chromium(f"{base}/search.html?q={word}", BUDGET, "--dump-dom"))
    assert hits, f"no search result for {word!r}"


def test_no_page_cites_a_file_readers_do_not_have(site: Path) -> None:
    for page in site_pages(site):
        text = visible_text(page.read_text())
        assert "SPEC" not in text.replace("FCN_SPECS", ""), page


def test_the_readmes_links_into_the_manual_resolve(site: Path) -> None:
    links = re.findall(r"\]\((docs/[^)#]+)\.md", (ROOT / "README.md").read_text())
    assert links
    for link in links:
        assert (site / (link.removeprefix("docs/") + ".html")).is_file(), link
