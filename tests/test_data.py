"""Tests of xcorr_lib.data: IDX parsing and integrity, datasets, protocols, subsets, probes.

Network-free: synthetic IDX files written here, the real files in ../shared/data (skipped
when absent), sklearn's embedded digits. Download mechanics live in test_download.py.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.data import (PAPER_PROTOCOL, ChecksumMismatchError, DataIntegrityError,
                            ProbeImageError, load_dataset, load_probe_images, resolve_root,
                            split_indices, subset)
from xcorr_lib.data import sources
from xcorr_lib.data.idx import parse_idx, read_bytes
from xcorr_lib.data.sources import DatasetSpec, FileSpec

# ---------------------------------------------------------------- helpers (oracles)

def idx_bytes(arr: np.ndarray) -> bytes:
    """Brute-force IDX encoder: magic 00 00 <code> <ndim>, big-endian dims, payload."""
    big = arr.astype(arr.dtype.newbyteorder(">"))
    code = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
            np.float32: 0x0D, np.float64: 0x0E}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + big.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    data = idx_bytes(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def synthetic_mnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0,
                    with_digests: bool = False) -> tuple[DatasetSpec, dict[str, np.ndarray]]:
    """Write a tiny MNIST-layout dataset under root/mnist; return a matching spec."""
    rng = np.random.default_rng(seed)
    arrays, files = {}, {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        X = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        arrays[split] = (X, y)
        pair = []
        for kind, arr in (("images-idx3-ubyte.gz", X), ("labels-idx1-ubyte.gz", y)):
            name = f"{stem}-{kind}"
            p = write_idx(root / "mnist" / name, arr)
            md5 = hashlib.md5(p.read_bytes()).hexdigest() if with_digests else None
            pair.append(FileSpec(name, (f"http://fake.invalid/{name}",), md5=md5))
        files[split] = tuple(pair)
    return DatasetSpec("mnist", "mnist", "idx", files=files), arrays


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root, a private project cache, and no XCORR_DATA_DIR."""
    monkeypatch.setenv("XCORR_ROOT", str(tmp_path / "project"))
    monkeypatch.delenv("XCORR_DATA_DIR", raising=False)
    root = tmp_path / "root"
    root.mkdir()
    return root


# ---------------------------------------------------------------- IDX parsing

@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
       shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_parse_idx_roundtrip(dtype, shape, seed):
    arr = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)
    out = parse_idx(idx_bytes(arr), source="x.idx")
    assert out.shape == arr.shape and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("mutate, match", [
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\x00", "trailing bytes"),
    (lambda b: b"\x01" + b[1:], "magic number"),
    (lambda b: b[:2] + b"\x07" + b[3:], "dtype code"),
    (lambda b: b[:10], "truncated IDX header"),
    (lambda b: b[:3], "too short"),
])
def test_parse_idx_rejects_corrupt(mutate, match):
    good = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataIntegrityError, match=match) as info:
        parse_idx(mutate(good), source="/some/where/bad-file.idx")
    assert "bad-file.idx" in str(info.value)


def test_bad_gzip_names_file(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    crc = tmp_path / "crc.gz"
    crc.write_bytes(good[:-8] + bytes(8))  # wrong CRC32 and length trailer
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"not gzip at all")
    for p in (cut, crc, junk):
        with pytest.raises(DataIntegrityError, match="gzip") as info:
            read_bytes(p)
        assert p.name in str(info.value)


# ---------------------------------------------------------------- synthetic datasets

def test_synthetic_dataset_loads(isolated, monkeypatch):
    spec, arrays = synthetic_mnist(isolated)
    monkeypatch.setitem(sources.FILE_DATASETS, "mnist", spec)
    for split in ("train", "test"):
        X, y = load_dataset("mnist", split, root=isolated, download=False)
        Xr, yr = arrays[split]
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == Xr.shape
        np.testing.assert_array_equal(X, Xr.astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(y, yr)


def test_uncompressed_idx_accepted(isolated, monkeypatch):
    spec, arrays = synthetic_mnist(isolated)
    gz = isolated / "mnist" / "t10k-images-idx3-ubyte.gz"
    gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    monkeypatch.setitem(sources.FILE_DATASETS, "mnist", spec)
    X, _ = load_dataset("mnist", "test", root=isolated, download=False)
    np.testing.assert_array_equal(X, arrays["test"][0] / np.float32(255))


@pytest.mark.parametrize("defect, match", [
    ("count", "images but"), ("labels", "labels outside"), ("shape", "shape"),
    ("truncated", "gzip"), ("magic", "magic"),
])
def test_synthetic_defects_name_the_file(isolated, monkeypatch, defect, match):
    spec, arrays = synthetic_mnist(isolated)
    monkeypatch.setitem(sources.FILE_DATASETS, "mnist", spec)
    folder = isolated / "mnist"
    X, y = arrays["test"]
    if defect == "count":
        bad = write_idx(folder / "t10k-labels-idx1-ubyte.gz", y[:-1])
    elif defect == "labels":
        bad = write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full_like(y, 10))
    elif defect == "shape":
        bad = write_idx(folder / "t10k-images-idx3-ubyte.gz", X.reshape(len(X), 14, 56))
    elif defect == "truncated":
        bad = folder / "t10k-images-idx3-ubyte.gz"
        bad.write_bytes(bad.read_bytes()[:-100])
    else:
        bad = folder / "t10k-images-idx3-ubyte.gz"
        bad.write_bytes(gzip.compress(b"\x12\x34" + idx_bytes(X)[2:]))
    with pytest.raises(DataIntegrityError, match=match) as info:
        load_dataset("mnist", "test", root=isolated, download=False)
    assert bad.name in str(info.value)


def test_checksum_mismatch(isolated):
    """Structurally valid but not the official MNIST file: the md5 check rejects it."""
    write_idx(isolated / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((10000, 28, 28), np.uint8))
    write_idx(isolated / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    with pytest.raises(ChecksumMismatchError, match="t10k-images-idx3-ubyte.gz") as info:
        load_dataset("mnist", "test", root=isolated, download=False)
    assert "9fb629c4189551a2d022fa330f9573f3" in str(info.value)


def test_bad_choices_list_valid_values():
    for kwargs, word in [({"name": "cifar"}, "kmnist"), ({"name": "mnist", "split": "val"}, "test"),
                         ({"name": "mnist", "protocol": "paper"}, "test-split"),
                         ({"name": "afro-mnist", "script": "latin"}, "osmanya")]:
        with pytest.raises(ValueError, match=word):
            load_dataset(**kwargs)


# ---------------------------------------------------------------- real data (../shared/data)

def test_fashion_train_real(shared_data):
    X, y = load_dataset("fashion-mnist", "train", root=shared_data, download=False)
    assert X.shape == (60000, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, 6000))


def test_mnist_test_real_via_env(shared_data, monkeypatch):
    monkeypatch.setenv("XCORR_DATA_DIR", str(shared_data))
    assert resolve_root() == shared_data.resolve()
    X, y = load_dataset("mnist", "test", download=False)
    assert X.shape == (10000, 28, 28) and y.shape == (10000,)
    assert 0.0 <= X.min() and X.max() <= 1.0 and set(np.unique(y)) == set(range(10))


def test_truncated_real_mnist_names_file(shared_data, isolated):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (isolated / "mnist").mkdir(exist_ok=True)
        shutil.copy(shared_data / "mnist" / name, isolated / "mnist" / name)
    bad = isolated / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:500_000])
    with pytest.raises(DataIntegrityError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", "test", root=isolated, download=False)


def test_recompressed_copy_accepted_by_content_digest(shared_data, isolated):
    """Fashion files here are recompressed (gz md5 differs): the content sha256 accepts them,
    and a further recompression (other gzip level) is accepted too."""
    src = shared_data / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    out = isolated / "fashion-mnist" / src.name
    out.parent.mkdir()
    out.write_bytes(gzip.compress(gzip.decompress(src.read_bytes()), compresslevel=1, mtime=0))
    shutil.copy(shared_data / "fashion-mnist" / "t10k-images-idx3-ubyte.gz", out.parent)
    _, y = load_dataset("fashion-mnist", "test", root=isolated, download=False)
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


def test_test_split_protocol_matches_sklearn_oracle(shared_data):
    from sklearn.model_selection import train_test_split

    X, y = load_dataset("mnist", "test", root=shared_data, download=False)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42)
    a, b = (load_dataset("mnist", s, root=shared_data, protocol="test-split", download=False)
            for s in ("train", "test"))
    assert a[0].shape == (7500, 28, 28) and b[0].shape == (2500, 28, 28)
    np.testing.assert_array_equal(a[0], Xtr)
    np.testing.assert_array_equal(a[1], ytr)
    np.testing.assert_array_equal(b[0], Xte)
    np.testing.assert_array_equal(b[1], yte)


def test_original_protocol_fashion(shared_data):
    tr = load_dataset("fashion-mnist", "train", root=shared_data, protocol="original", download=False)
    te = load_dataset("fashion-mnist", "test", root=shared_data, protocol="original", download=False)
    assert tr[0].shape == (52500, 28, 28) and te[0].shape == (17500, 28, 28)
    # the pooled 70,000 images hold 7,000 per class, split between train and test
    counts = np.bincount(tr[1], minlength=10) + np.bincount(te[1], minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 7000))
    a_tr, a_te = split_indices(70000)
    b_tr, b_te = split_indices(70000)
    np.testing.assert_array_equal(a_tr, b_tr)
    assert len(np.intersect1d(a_tr, a_te)) == 0 and len(a_tr) + len(a_te) == 70000
    assert PAPER_PROTOCOL["fashion-mnist"] == "original" and PAPER_PROTOCOL["kmnist"] == "official"


# ---------------------------------------------------------------- digits

def test_digits():
    Xtr, ytr = load_dataset("digits", "train")
    Xte, yte = load_dataset("digits", "test", protocol="original")
    assert Xtr.shape == (1347, 28, 28) and Xte.shape == (450, 28, 28)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert Xtr.min() >= 0.0 and Xtr.max() <= 1.0 and Xtr.max() > 0.9
    assert np.all(Xtr[:, :4, :] == 0) and np.all(Xtr[:, :, -4:] == 0)  # 4-pixel border
    again, _ = load_dataset("digits", "train")
    np.testing.assert_array_equal(Xtr, again)
    with pytest.raises(ValueError, match="test-split"):
        load_dataset("digits", "train", protocol="test-split")


# ---------------------------------------------------------------- subset

@settings(max_examples=50, deadline=None)
@given(N=st.integers(1, 60), n=st.one_of(st.none(), st.integers(0, 80)), seed=st.integers(0, 1000))
def test_subset_properties(N, n, seed):
    X = np.arange(N * 2).reshape(N, 2)
    y = np.arange(N)
    Xs, ys = subset(X, y, n, seed)
    expect = N if n is None else min(n, N)
    assert len(Xs) == len(ys) == expect
    np.testing.assert_array_equal(Xs[:, 0] // 2, ys)  # rows stay paired
    assert len(np.unique(ys)) == expect and np.all(np.diff(ys) > 0)  # no repeats, kept in order
    Xs2, ys2 = subset(X, y, n, seed)
    np.testing.assert_array_equal(ys, ys2)


def test_subset_rejects_bad_input():
    with pytest.raises(ValueError, match="lengths"):
        subset(np.zeros((3, 2)), np.zeros(2), 1, 0)
    with pytest.raises(ValueError, match="non-negative"):
        subset(np.zeros((3, 2)), np.zeros(3), -1, 0)


# ---------------------------------------------------------------- probe images

def _write_images(folder: Path, names: list[str], size=(40, 30)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in names:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(p)


def test_probe_images_real(shared_data):
    imgs, info = load_probe_images(shared_data / "imagenet-samples", n=4, seed=1)
    assert imgs.shape == (4, 3, 224, 224) and str(imgs.dtype) == "torch.float32"
    assert list(info.columns[:2]) == ["file", "path"]
    assert {"class_index", "name", "synset"} <= set(info.columns)
    assert info["class_index"].between(0, 999).all() and (info["class_index"] % 10 == 0).all()
    again, info2 = load_probe_images(shared_data / "imagenet-samples", n=4, seed=1,
                                     weights="ResNet18_Weights.IMAGENET1K_V1")
    assert info2["file"].tolist() == info["file"].tolist()
    assert (again == imgs).all()
    other = load_probe_images(shared_data / "imagenet-samples", n=4, seed=2)[1]
    assert other["file"].tolist() != info["file"].tolist()


def test_probe_images_layouts(tmp_path):
    import torch
    from torchvision.models import ResNet18_Weights

    plain = tmp_path / "plain"
    _write_images(plain, ["b.png", "a.jpg", "c.PNG"])
    (plain / "notes.txt").write_text("ignored")
    imgs, info = load_probe_images(plain, weights=ResNet18_Weights.IMAGENET1K_V1)
    assert imgs.shape == (3, 3, 224, 224)
    assert info["file"].tolist() == ["a.jpg", "b.png", "c.PNG"] and (info["class_index"] == -1).all()

    folders = tmp_path / "folders"
    _write_images(folders, ["dog/1.png", "cat/2.png", "cat/3.png"])
    tf = lambda im: torch.zeros(3, 8, 8)  # noqa: E731
    imgs, info = load_probe_images(folders, n=2, seed=0, transform=tf)
    assert imgs.shape == (2, 3, 8, 8)
    full = load_probe_images(folders, transform=tf)[1]
    assert full["name"].tolist() == ["cat", "cat", "dog"] and full["class_index"].tolist() == [0, 0, 1]


def test_probe_images_errors(tmp_path):
    import torch

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_probe_images(empty)
    folder = tmp_path / "imgs"
    _write_images(folder, ["a.png", "b.png"])
    (folder / "c.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ProbeImageError, match="c.jpg"):
        load_probe_images(folder)
    with pytest.raises(ValueError, match="only 3"):
        load_probe_images(folder, n=4)
    with pytest.raises(ValueError, match="positive"):
        load_probe_images(folder, n=0)
    with pytest.raises(ValueError, match="either"):
        load_probe_images(folder, weights="ResNet18_Weights.IMAGENET1K_V1", transform=lambda im: im)
    with pytest.raises(ValueError, match="unknown torchvision weights"):
        load_probe_images(folder, n=1, weights="NoSuch_Weights.V9")
    good = tmp_path / "good"
    _write_images(good, ["a.png", "b.png"])
    sizes = iter([(3, 4, 4), (3, 5, 5)])
    with pytest.raises(ValueError, match="different shapes"):
        load_probe_images(good, transform=lambda im: torch.zeros(next(sizes)))


# ---------------------------------------------------------------- Afro-MNIST (.npy)

def _afro_synthetic(root: Path, monkeypatch, labels: np.ndarray, subdir: bool = False) -> Path:
    """Write Ethiopic-like .npy files (float64 0..255, (N, 784)) and register a spec without
    digests (the real spec's sha256 would reject synthetic files)."""
    n = len(labels)
    rng = np.random.default_rng(0)
    folder = root / "afro-mnist" / ("Ethiopic" if subdir else "")
    folder.mkdir(parents=True)
    X = rng.integers(0, 256, (n, 784)).astype(np.float64)
    np.save(folder / "Ethiopic_MNIST_X_test.npy", X)
    np.save(folder / "Ethiopic_MNIST_y_test.npy", labels)
    real = sources.afro_spec("ethiopic")
    files = {s: tuple(FileSpec(fs.filename, fs.urls) for fs in real.files[s]) for s in real.files}
    spec = DatasetSpec("afro-mnist", "afro-mnist", "npy", files=files)
    monkeypatch.setattr(sources, "afro_spec", lambda script: spec)
    return folder


@pytest.mark.parametrize("subdir", [False, True])
def test_afro_npy_labels_1_to_10_mapped(isolated, monkeypatch, subdir):
    labels = np.tile(np.arange(1, 11, dtype=np.int32), 3)
    folder = _afro_synthetic(isolated, monkeypatch, labels, subdir=subdir)
    X, y = load_dataset("afro-mnist", "test", root=isolated, download=False)
    raw = np.load(folder / "Ethiopic_MNIST_X_test.npy")
    assert X.shape == (30, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X, (raw.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28))
    np.testing.assert_array_equal(y, labels - 1)


def test_afro_npy_labels_0_to_9_kept_and_bad_rejected(isolated, monkeypatch):
    labels = np.tile(np.arange(10, dtype=np.int64), 2)
    folder = _afro_synthetic(isolated, monkeypatch, labels)
    _, y = load_dataset("afro-mnist", "test", root=isolated, download=False)
    np.testing.assert_array_equal(y, labels)
    np.save(folder / "Ethiopic_MNIST_y_test.npy", np.arange(20) % 11)  # 0..10: ambiguous
    with pytest.raises(DataIntegrityError, match="Ethiopic_MNIST_y_test.npy"):
        load_dataset("afro-mnist", "test", root=isolated, download=False)


def test_afro_truncated_and_real_spec_size_check(isolated, monkeypatch):
    real_afro_spec = sources.afro_spec
    folder = _afro_synthetic(isolated, monkeypatch, np.arange(1, 11))
    xf = folder / "Ethiopic_MNIST_X_test.npy"
    xf.write_bytes(xf.read_bytes()[:-8])
    with pytest.raises(DataIntegrityError, match="truncated") as info:
        load_dataset("afro-mnist", "test", root=isolated, download=False)
    assert xf.name in str(info.value)
    monkeypatch.setattr(sources, "afro_spec", real_afro_spec)  # known size and sha256
    with pytest.raises(ChecksumMismatchError, match="expected 62720128"):
        load_dataset("afro-mnist", "test", root=isolated, download=False)


# ---------------------------------------------------------------- regenerated Afro-style digits

def test_regenerated_afro_nko():
    from xcorr_lib.data import regenerate_afro_mnist
    from xcorr_lib.data.afro_synth import render_exemplars

    X, y = regenerate_afro_mnist("nko", n_per_class=30, seed=3)
    assert X.shape == (300, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 30))
    again, _ = regenerate_afro_mnist("nko", n_per_class=30, seed=3)
    np.testing.assert_array_equal(X, again)
    assert not np.array_equal(X, regenerate_afro_mnist("nko", n_per_class=30, seed=4)[0])
    # deformed samples still look most like their own numeral (chance would be 0.1)
    ex = render_exemplars("nko").reshape(10, -1)

    def z(a):
        a = a - a.mean(1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    accuracy = ((z(X.reshape(len(X), -1)) @ z(ex).T).argmax(1) == y).mean()
    assert accuracy > 0.5


def test_regenerated_afro_rejects_font_without_glyphs():
    import matplotlib

    from xcorr_lib.data.afro_synth import render_exemplars

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with pytest.raises(ValueError, match="no glyph"):
        render_exemplars("ethiopic", font=dejavu)
    with pytest.raises(ValueError, match="script"):
        render_exemplars("latin")
