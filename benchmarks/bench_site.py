"""Build time and size of the teaching site (``make html``), from executed notebooks.

Builds the site of ``--notebooks`` (default: the smoke notebooks of ``make test``,
``results/test/notebooks``) into a temporary folder, twice (the first build warms the
caches of Python's imports and of the theme), and prints the second build's time, the
site's size and where it goes. Usage::

    python benchmarks/bench_site.py [--notebooks results/test/notebooks]

Timings depend on the machine and on its load; print the table, don't assert on it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from importlib import metadata
from pathlib import Path

from xcorr_lib.report.book import build_book


def size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=Path("results/test/notebooks"))
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebooks.glob("*.ipynb"))
    versions = ", ".join(f"{d} {metadata.version(d)}" for d in ("sphinx", "myst-nb", "sphinx-book-theme"))
    print(f"{versions}; {len(notebooks)} executed notebooks from {args.notebooks}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "html"
        with contextlib.redirect_stdout(io.StringIO()):
            build_book(args.notebooks, site)
            start = time.perf_counter()
            build_book(args.notebooks, site)
            seconds = time.perf_counter() - start
        pages = [p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_")]
        files = sum(1 for p in site.rglob("*") if p.is_file())
        static, images = size_mib(site / "_static"), size_mib(site / "_images")
        mathjax = (site / "_static" / "mathjax" / "tex-svg.js").stat().st_size / 2**20
        print(f"(1) build time (make html)          {seconds:.0f} s  staging + Sphinx, nothing executed")
        print(f"(2) site size                       {size_mib(site):.1f} MiB  {files} files: theme and search "
              f"{static - mathjax:.1f} MiB, MathJax {mathjax:.1f} MiB, figures {images:.1f} MiB, "
              f"pages and sources {size_mib(site) - static - images:.1f} MiB")
        print(f"(3) pages                           {len(pages)}  {len(notebooks)} chapters, the introduction, "
              f"rerun it, ours vs paper, gallery, search, general index")


if __name__ == "__main__":
    main()
