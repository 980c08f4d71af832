"""Registry of the dataset files: names, official mirrors and known checksums.

Checksums and where they come from
----------------------------------
``md5``
    md5 of the file exactly as the official mirrors serve it (the ``.gz``). For MNIST,
    Fashion-MNIST and KMNIST these are the digests the torchvision dataset classes list
    (``torchvision.datasets.MNIST.resources`` etc., torchvision 0.29.1).
``sha256_content``
    sha256 of the DECOMPRESSED IDX content. Computed on this project's development machine
    from ``../shared/data``: MNIST test files (whose ``.gz`` md5s match the official ones, so
    the content is the official one) and all four Fashion-MNIST files (Debian's recompressed
    copies: their ``.gz`` md5s differ from the official ones but the decompressed content is
    the original; the digests start with the prefixes the data README gives). Lets a
    recompressed or already decompressed copy be verified.
``sha256``
    sha256 of the file as served, used for the Afro-MNIST ``.npy`` files. Taken from the Git
    LFS pointers of github.com/Daniel-Wu/AfroMNIST (commit 02da1ad0cb75), i.e. the digests of
    the authors' GitHub copy. The Zenodo record 4050071 is assumed to hold the same bytes
    (not verifiable from a machine without internet); a mismatch raises
    :class:`~xcorr_lib.data.errors.ChecksumMismatchError` naming both digests.

A file is accepted when ANY known digest matches. A file with no known digest for its form
(e.g. an uncompressed KMNIST IDX file: only the ``.gz`` md5 is known) is checked for
structure only (IDX header, sizes, label range, counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ("train", "test")
AFRO_SCRIPTS = {"ethiopic": "Ethiopic", "vai": "Vai", "osmanya": "Osmanya", "nko": "NKo"}


@dataclass(frozen=True)
class FileSpec:
    """One data file: its name inside the dataset folder, where to get it, its digests."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    sha256_content: str | None = None
    size: int | None = None  # bytes as served, when known

    @property
    def has_checksum(self) -> bool:
        return any((self.md5, self.sha256, self.sha256_content))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its folder under the data root, file format and per-split files."""

    name: str
    folder: str
    fmt: str  # "idx" (gzip-compressed IDX) or "npy"
    files: dict[str, tuple[FileSpec, FileSpec]] = field(default_factory=dict)  # split -> (images, labels)
    counts: dict[str, int] = field(default_factory=dict)
    homepage: str = ""


def _idx_files(mirrors: tuple[str, ...], digests: dict[str, tuple[str | None, str | None]]
               ) -> dict[str, tuple[FileSpec, FileSpec]]:
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        pair = []
        for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
            name = f"{stem}-{kind}"
            md5, sha_content = digests[name]
            pair.append(FileSpec(name, tuple(m + name for m in mirrors), md5=md5,
                                 sha256_content=sha_content))
        out[split] = (pair[0], pair[1])
    return out


MNIST = DatasetSpec(
    name="mnist", folder="mnist", fmt="idx",
    files=_idx_files(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "http://yann.lecun.com/exdb/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {
            "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
            "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", None),
            "t10k-images-idx3-ubyte.gz": (
                "9fb629c4189551a2d022fa330f9573f3",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "t10k-labels-idx1-ubyte.gz": (
                "ec29112dd5afa0611ce80d1b7f02629c",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        }),
    counts={"train": 60000, "test": 10000},
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist", folder="fashion-mnist", fmt="idx",
    files=_idx_files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
        {
            "train-images-idx3-ubyte.gz": (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            "train-labels-idx1-ubyte.gz": (
                "25c81989df183df01b3e8a0aad5dffbe",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            "t10k-images-idx3-ubyte.gz": (
                "bef4ecab320f06d8554ea6380940ec79",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            "t10k-labels-idx1-ubyte.gz": (
                "bb300cfdad3c16e7a12a480ee83cd310",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        }),
    counts={"train": 60000, "test": 10000},
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

KMNIST = DatasetSpec(
    name="kmnist", folder="kmnist", fmt="idx",
    files=_idx_files(
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        {
            "train-images-idx3-ubyte.gz": ("bdb82020997e1d708af4cf47b453dcf7", None),
            "train-labels-idx1-ubyte.gz": ("e144d726b3acfaa3e44228e80efcd344", None),
            "t10k-images-idx3-ubyte.gz": ("5c965bf0a639b31b8f53240b1b52f4d7", None),
            "t10k-labels-idx1-ubyte.gz": ("7320c461ea6c1c855c0b718fb2a4b134", None),
        }),
    counts={"train": 60000, "test": 10000},
    homepage="https://github.com/rois-codh/kmnist",
)

# sha256 and size of the Afro-MNIST .npy files (GitHub LFS pointers, commit 02da1ad0cb75).
_AFRO_DIGESTS: dict[str, tuple[str, int]] = {
    "Ethiopic_MNIST_X_train.npy":
        ("22b27e98a23c234a2912f70d71419bd1a0750cfadb4dccd9ff65e6de2cdb7a63", 376320128),
    "Ethiopic_MNIST_X_test.npy":
        ("d30f3bf6a76f318fe7fea1f33e697afc95484c100a7c48823f82e9a13ec99838", 62720128),
    "Ethiopic_MNIST_y_train.npy":
        ("d079a254667963aa2e0759b43cfb3486b75ecff9acbf8c4f7ebe3bbd0babd5e6", 240128),
    "Ethiopic_MNIST_y_test.npy":
        ("63653332870723408208b228eb6af4a5ee806ae311a4090b121af9419ca117ca", 40128),
    "Vai_MNIST_X_train.npy":
        ("755bc3af8c104c0999ab13007abc1dfaee11da694cad9ce998aa731a66a97a82", 376320128),
    "Vai_MNIST_X_test.npy":
        ("06c9d92c28434193abc6f7cf8a3b3184ead5e71b12e06924d39c2343b2eef470", 62720128),
    "Vai_MNIST_y_train.npy":
        ("a16787511aa9145144438fd86fddfbc807eba735000b422fb4c76d7e8d52efea", 480128),
    "Vai_MNIST_y_test.npy":
        ("ae26845571a8620422f72d5f5f76c26af632869c363ca5267944907f25724f1d", 80128),
    "Osmanya_MNIST_X_train.npy":
        ("3f76c33eaa4b664d8107d4f03d26df96ff5cb5ce4c4c3996cceedc27fe098a14", 376320128),
    "Osmanya_MNIST_X_test.npy":
        ("8dd89699252caba1dc7562e6c227e849aa990a6958f6564f34fbba12d7b80490", 62720128),
    "Osmanya_MNIST_y_train.npy":
        ("f222f75f4d84be419612e9d8fbfbae8cc76757349683c1d106cdfabbeee21488", 480128),
    "Osmanya_MNIST_y_test.npy":
        ("93488d170cc402f2b1a293ea6f99ffde5c02bb63ba84bc6add2eccb6b9d39e9b", 80128),
    "NKo_MNIST_X_train.npy":
        ("b69d00704fcfc8394928bf073ac301b8601ac392aa0badec977669fc6bb94444", 376320128),
    "NKo_MNIST_X_test.npy":
        ("7a7e961b1d28b59220f26ca3a762ee37ee0c79f172195e46fb89dd9072658752", 62720128),
    "NKo_MNIST_y_train.npy":
        ("42ca650e8dde302e1923ddf245dccf855257fddc2cb080af0d5f4d2d5a228c5d", 480128),
    "NKo_MNIST_y_test.npy":
        ("67dbba6a82a4fed3b993d83279239c92cb8e60d81109f35364a2cf8a17e2a3d5", 80128),
}
_AFRO_LFS_COMMIT = "02da1ad0cb75a88ae9294e512a44281ac5e67167"


def _afro_file(script_dir: str, name: str) -> FileSpec:
    sha, size = _AFRO_DIGESTS[name]
    urls = (
        f"https://zenodo.org/records/4050071/files/{name}?download=1",
        f"https://zenodo.org/record/4050071/files/{name}",
        f"https://media.githubusercontent.com/media/Daniel-Wu/AfroMNIST/{_AFRO_LFS_COMMIT}/{script_dir}/{name}",
    )
    return FileSpec(name, urls, sha256=sha, size=size)


def afro_spec(script: str) -> DatasetSpec:
    """The Afro-MNIST dataset of one script ("ethiopic", "vai", "osmanya" or "nko")."""
    cap = AFRO_SCRIPTS[script]
    files = {split: (_afro_file(cap, f"{cap}_MNIST_X_{split}.npy"),
                     _afro_file(cap, f"{cap}_MNIST_y_{split}.npy")) for split in SPLITS}
    return DatasetSpec(name="afro-mnist", folder="afro-mnist", fmt="npy", files=files,
                       counts={"train": 60000, "test": 10000},
                       homepage="https://zenodo.org/records/4050071")


FILE_DATASETS: dict[str, DatasetSpec] = {
    "mnist": MNIST, "fashion-mnist": FASHION_MNIST, "kmnist": KMNIST,
}


def dataset_spec(name: str, script: str = "ethiopic") -> DatasetSpec:
    """The file registry entry of a file-backed dataset (not "digits")."""
    if name == "afro-mnist":
        return afro_spec(script)
    return FILE_DATASETS[name]
