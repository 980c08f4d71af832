"""The ``xcorr`` command (:mod:`.command`) and the checks of what its user passes (:mod:`.inputs`).

An entry point: it may import every layer (``common`` ... ``studies``), and nothing imports it.
"""

from .command import main

__all__ = ["main"]
