"""Error classes of the data layer.

Every error names the file it is about, so a user knows what to delete, re-download or
place by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


class DatasetUnavailableError(FileNotFoundError):
    """Files of a dataset are missing and could not be downloaded.

    Attributes
    ----------
    missing : list of Path
        Target paths of the files that are still missing (where to place them by hand).
    attempts : list of (str, str)
        Every URL tried, with the error it gave (empty when ``download=False``).
    """

    def __init__(self, message: str, *, missing: Sequence[Path] = (),
                 attempts: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.attempts = list(attempts)

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None]" otherwise
        return str(self.args[0])


class DataIntegrityError(ValueError):
    """A data file is truncated, corrupt or has unexpected structure (the message names it)."""


class ChecksumMismatchError(DataIntegrityError):
    """A data file's checksum differs from every known digest for it (the message names it)."""


class ProbeImageError(ValueError):
    """A probe image cannot be read or decoded (the message names the file)."""
