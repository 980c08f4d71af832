"""Reading and validating IDX files (the MNIST file format) and ``.npy`` arrays.

IDX layout (big-endian): two zero bytes, one dtype code, one byte ``ndim``, then ``ndim``
uint32 dimension sizes, then the payload of ``prod(dims)`` items. Every check below raises
:class:`~xcorr_lib.data.errors.DataIntegrityError` with the file name in the message:
gzip CRC/EOF errors, a wrong magic number, an unknown dtype code, a truncated header, a
payload whose length differs from the product of the dimensions (truncated or with
trailing bytes), and unexpected shapes.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from .errors import DataIntegrityError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def read_bytes(path: Path, *, gz: bool | None = None) -> tuple[bytes, bytes]:
    """Read a file; return ``(raw bytes, content)`` where content is gunzipped when ``gz``
    (default: when the name ends in ``.gz``).

    Raises
    ------
    DataIntegrityError
        When a ``.gz`` file is not valid gzip (bad header, CRC error, cut short).
    """
    path = Path(path)
    raw = path.read_bytes()
    if not (path.suffix == ".gz" if gz is None else gz):
        return raw, raw
    try:
        content = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataIntegrityError(
            f"{path}: corrupt or truncated gzip file ({type(exc).__name__}: {exc}). "
            "Delete it and download it again.") from exc
    return raw, content


def parse_idx(data: bytes, *, source: str | Path) -> np.ndarray:
    """Decode IDX bytes into an array of the file's dtype (native byte order).

    Parameters
    ----------
    data : bytes
        The (decompressed) IDX content.
    source : str or Path
        File name used in error messages.

    Returns
    -------
    numpy.ndarray
        Shape ``dims`` from the header.
    """
    if len(data) < 4:
        raise DataIntegrityError(f"{source}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataIntegrityError(
            f"{source}: not an IDX file (magic number {data[:4].hex()}, expected 0000xxyy)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataIntegrityError(
            f"{source}: unknown IDX dtype code 0x{code:02x} (valid: "
            + ", ".join(f"0x{c:02x}" for c in IDX_DTYPES) + ")")
    if ndim == 0:
        raise DataIntegrityError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataIntegrityError(f"{source}: truncated IDX header ({len(data)} < {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataIntegrityError(
            f"{source}: IDX file {what}: header says dims {dims} = {expected} payload bytes, "
            f"file has {got}. Delete it and download it again.")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def check_images(arr: np.ndarray, *, source: str | Path, count: int | None = None) -> np.ndarray:
    """Check an image array is ``(N, 28, 28)`` (or ``(N, 784)``, reshaped) with N == count."""
    if arr.ndim == 2 and arr.shape[1] == 784:
        arr = arr.reshape(-1, 28, 28)
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise DataIntegrityError(f"{source}: expected images of shape (N, 28, 28), got {arr.shape}")
    if count is not None and arr.shape[0] != count:
        raise DataIntegrityError(f"{source}: expected {count} images, file has {arr.shape[0]}")
    return arr


def check_labels(arr: np.ndarray, *, source: str | Path, count: int | None = None,
                 n_classes: int = 10) -> np.ndarray:
    """Check a label array is 1-D integer with values in ``0..n_classes-1``; return int64."""
    if arr.ndim != 1:
        raise DataIntegrityError(f"{source}: expected a 1-D label array, got shape {arr.shape}")
    if count is not None and arr.shape[0] != count:
        raise DataIntegrityError(f"{source}: expected {count} labels, file has {arr.shape[0]}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise DataIntegrityError(f"{source}: labels are not whole numbers")
    elif arr.dtype.kind not in "iu":
        raise DataIntegrityError(f"{source}: labels have non-numeric dtype {arr.dtype}")
    y = arr.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataIntegrityError(
            f"{source}: labels outside 0..{n_classes - 1} (found {y.min()}..{y.max()})")
    return y


def read_npy(path: Path) -> np.ndarray:
    """Load a ``.npy`` file after checking its header against the file size.

    Returns a read-only memory map (no pickles allowed). Raises DataIntegrityError naming
    the file when the header is invalid or the data is truncated / has trailing bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise DataIntegrityError(f"{path}: not a valid .npy file ({exc})") from exc
    if dtype.hasobject or dtype.kind not in "biuf":
        raise DataIntegrityError(f"{path}: unsupported dtype {dtype} (numeric arrays only)")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = path.stat().st_size - offset
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataIntegrityError(
            f"{path}: .npy file {what}: header says shape {shape} {dtype} = {expected} "
            f"bytes, file has {got}. Delete it and download it again.")
    return np.load(path, mmap_mode="r", allow_pickle=False)


def file_digest(path: Path, algo: str) -> str:
    """Hex digest (``algo`` = "md5" or "sha256") of a file, read in 1 MiB chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
