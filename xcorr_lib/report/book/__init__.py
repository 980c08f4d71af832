"""The teaching site (``make html``): a Sphinx + MyST-NB book of the executed notebooks.

- :mod:`.build`: stage the pages and notebooks, run Sphinx, swap the finished site in;
- :mod:`.clean`: strip progress-bar redraws from executed notebooks;
- :mod:`.pages`: the generated pages ("ours vs paper", the figure gallery).
"""

from .build import BookError, build_book, notebook_title

__all__ = ["BookError", "build_book", "notebook_title"]
