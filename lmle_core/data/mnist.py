"""MNIST (LeCun et al.): the idx file reader and loader.

Official layout below the data root (gzipped or raw)::

    MNIST/train-images-idx3-ubyte[.gz]   60,000 x 28 x 28
    MNIST/train-labels-idx1-ubyte[.gz]
    MNIST/t10k-images-idx3-ubyte[.gz]    10,000 x 28 x 28
    MNIST/t10k-labels-idx1-ubyte[.gz]

(``MNIST/raw/`` as torchvision lays it out is accepted as well.)

idx format: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed
byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
dimensions, then each dimension as a big-endian uint32, then the data in
big-endian C order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ._fileio import first_existing, read_bytes
from .errors import CorruptFileError, DatasetMissingError, download_command
from .paths import resolve_data_root

__all__ = ["read_idx", "load_mnist", "mnist_files", "MNIST_FILES"]

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SIZES = {"train": 60000, "test": 10000}


def read_idx(path) -> np.ndarray:
    """Read an idx file (plain or gzipped) into an array of its native type.

    Checks the magic number (two zero bytes, a known type code, ndim >= 1)
    and that the data size matches the header; raises
    :class:`CorruptFileError` naming the file otherwise.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise CorruptFileError(path, f"too short for an idx header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise CorruptFileError(path, f"bad idx magic number {data[:4].hex()} (must start with 0000)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise CorruptFileError(path, f"unknown idx type code 0x{code:02X} (magic {data[:4].hex()})")
    if ndim < 1:
        raise CorruptFileError(path, "idx header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(path, f"truncated idx header: {ndim} dimensions need {header} bytes, file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        raise CorruptFileError(
            path, f"idx header declares shape {dims} of {dtype.name} ({expected} data bytes) but the file has {found}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def mnist_files(data_root=None, split: str = "train") -> Dict[str, Path]:
    """Paths of the image and label idx files of a split; raises DatasetMissingError."""
    split = _split(split)
    root = resolve_data_root(data_root)
    cmd = download_command("mnist", root)
    base = root / "MNIST"
    out = {}
    for kind, name in zip(("images", "labels"), MNIST_FILES[split]):
        found = first_existing([base / name, base / "raw" / name])
        if found is None:
            raise DatasetMissingError("mnist", base / (name + ".gz"), cmd, hint="(gzipped or raw idx file)")
        out[kind] = found
    return out


def _split(split: str) -> str:
    s = str(split).lower()
    if s in ("train", "training"):
        return "train"
    if s in ("test", "t10k"):
        return "test"
    raise ValueError(f"unknown MNIST split {split!r}; valid: 'train', 'test'")


def load_mnist(data_root=None, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` of the train (60,000) or test (10,000) split."""
    files = mnist_files(data_root, split)
    images = read_idx(files["images"])
    labels = read_idx(files["labels"])
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptFileError(files["images"], f"expected uint8 images (N, 28, 28), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise CorruptFileError(files["labels"], f"expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise CorruptFileError(files["labels"], f"{len(labels)} labels for {len(images)} images in {files['images'].name}")
    if labels.size and labels.max() > 9:
        raise CorruptFileError(files["labels"], f"label {int(labels.max())} outside 0..9")
    return images, labels.astype(np.int64)
