"""Sphinx configuration of the teaching site (built by ``make html``; see xcorr_lib/report/book).

The build copies this folder, the executed notebooks and the generated pages into a staging
folder and runs Sphinx there; nothing here executes a notebook (``nb_execution_mode = "off"``).
Everything the pages load is served from the site itself: MathJax comes from the pinned
``sphinx-mathjax-offline`` package (its single-file ``tex-svg.js``), copied into ``_static/``.
"""

project = "xcorr"
author = "the xcorr contributors"
copyright = "2026, the xcorr contributors"
extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]

# the API reference (api.md): signatures and numpy-style docstrings of the public API
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True         # an "Attributes" section as fields, not a second description
# the build is nitpicky (-n) and fails on any warning (-W): a reference to this package that
# resolves nowhere breaks it. Other targets (numpy, torch, pandas, the standard library, and
# the shapes and words a numpy-style type field holds, like "(M, N) array") cannot be
# resolved offline and are not checked.
nitpick_ignore_regex = [(r"py:.*", r"(?!xcorr_lib\.).*")]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

# notebooks are shown as they were executed by papermill; never re-run here
nb_execution_mode = "off"
nb_output_stderr = "show"          # progress bars are stripped before the build; warnings stay
nb_merge_streams = True
nb_ipywidgets_js = {}              # no widget manager from a CDN
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# offline math: one self-contained file (SVG output, no web fonts)
mathjax_path = "mathjax/tex-svg.js"
html_static_path = ["_static"]

html_theme = "sphinx_book_theme"
html_title = "xcorr: cross-model neuronal correlations"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "navbar_persistent": [],       # one search box (the sidebar's), not a second one in the header
}
html_show_sourcelink = False
html_last_updated_fmt = ""
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]


def _literal_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values as |rho|; outside ``literals`` reST would read that as
    a substitution, so the bars are escaped there (the text shows them unchanged)."""
    import re

    for i, line in enumerate(lines):
        pieces = re.split(r"(``.*?``|`[^`]*`)", line)
        lines[i] = "".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(pieces))


def setup(app):
    app.connect("autodoc-process-docstring", _literal_bars)
