"""Fixtures of tests/data: isolated cache, the real data root, and builders that
write tiny datasets in the OFFICIAL on-disk formats under tmp_path."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ATTR_NAMES = [f"Attr_{i:02d}" for i in range(40)]


@pytest.fixture(autouse=True)
def _isolate(request, tmp_path, monkeypatch):
    """Unit tests get a private cache and no data root from the environment."""
    if request.node.get_closest_marker("realdata") is None:
        monkeypatch.setenv("LMLE_CACHE_DIR", str(tmp_path / "_cache"))
        monkeypatch.delenv("LMLE_DATA_ROOT", raising=False)


@pytest.fixture
def real_root() -> Path:
    root = os.environ.get("LMLE_DATA_ROOT")
    if not root:
        pytest.skip("LMLE_DATA_ROOT is not set: real-data integration test skipped")
    return Path(root)


# --------------------------------------------------------------------------- builders


def write_text(path: Path, text: str, gz: bool = False, crlf: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def face_image(seed: int, size=(178, 218)) -> "Image.Image":
    """A jpg-able RGB image: random colour field with a bright square in the middle."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = rng.integers(0, 256, 3, dtype=np.uint8)
    arr[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 250
    return Image.fromarray(arr)


def make_celeba(
    root: Path,
    n_per_split=(6, 3, 3),
    present=None,
    gz: bool = False,
    crlf: bool = False,
    image_size=(178, 218),
    identity: bool = True,
):
    """CelebA in the official layout; returns SimpleNamespace(names, split, attrs, identity)."""
    base = root / "CelebA"
    names, split = [], []
    k = 0
    for s, n in enumerate(n_per_split):
        for _ in range(n):
            k += 1
            names.append(f"{k:06d}.jpg")
            split.append(s)
    rng = np.random.default_rng(1)
    attrs = np.where(rng.random((len(names), 40)) < 0.3, 1, -1)
    ident = rng.integers(1, 50, len(names))
    lines = [str(len(names)), " ".join(ATTR_NAMES) + " "]
    for f, row in zip(names, attrs):
        # official style: values right-aligned in width 2, i.e. variable spaces
        lines.append(f + " " + " ".join(f"{v:2d}" for v in row))
    write_text(base / "Anno" / "list_attr_celeba.txt", "\n".join(lines) + "\n", gz=gz, crlf=crlf)
    write_text(base / "Eval" / "list_eval_partition.txt", "".join(f"{f} {s}\n" for f, s in zip(names, split)), gz=gz, crlf=crlf)
    if identity:
        write_text(base / "Anno" / "identity_CelebA.txt", "".join(f"{f} {i}\n" for f, i in zip(names, ident)), gz=gz, crlf=crlf)
    img_dir = base / "img_align_celeba"
    img_dir.mkdir(parents=True, exist_ok=True)
    present = range(len(names)) if present is None else present
    for i in present:
        face_image(i, image_size).save(img_dir / names[i], quality=95)
    return SimpleNamespace(names=names, split=np.array(split), attrs=(attrs > 0).astype(np.uint8), identity=ident, base=base)


def gt_cell(boundaries, segmentations) -> np.ndarray:
    """A 1xK MATLAB cell of structs {Segmentation, Boundaries} as scipy.io.savemat writes it."""
    cell = np.empty((1, len(boundaries)), dtype=object)
    for k, (b, s) in enumerate(zip(boundaries, segmentations)):
        cell[0, k] = {"Segmentation": s.astype(np.uint16), "Boundaries": b.astype(np.uint8)}
    return cell


def random_annotation(rng, h, w):
    seg = (rng.random((h, w)) < 0.5).astype(np.uint16) + 1
    b = np.zeros((h, w), bool)
    r = rng.integers(1, h - 1)
    b[r, :] = True
    return b, seg


def make_bsds(root: Path, n_per_split=(3, 2, 2), size=(24, 32), n_annotators=3, seed=0):
    """BSDS500 in the official layout; returns {split: [(id, image, boundaries)]}."""
    import scipy.io
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = {}
    base = root / "BSDS500" / "data"
    for split, n in zip(("train", "val", "test"), n_per_split):
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        (base / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
        items = []
        for j in range(n):
            i = f"{(j + 1) * 1000 + 7 * (j % 2) + len(split)}"  # numeric ids, ASCII order != numeric order
            h, w = size
            yy, xx = np.mgrid[0:h, 0:w]
            a = rng.uniform(0.5, 3.0, (2, 3))
            img = np.clip(rng.uniform(20, 60, 3) + a[0] * xx[..., None] + a[1] * yy[..., None], 0, 255).astype(np.uint8)
            Image.fromarray(img).save(base / "images" / split / f"{i}.jpg", quality=95)
            ann = [random_annotation(rng, h, w) for _ in range(n_annotators)]
            scipy.io.savemat(
                str(base / "groundTruth" / split / f"{i}.mat"),
                {"groundTruth": gt_cell([a[0] for a in ann], [a[1] for a in ann])},
            )
            items.append((i, img, [a[0] for a in ann]))
        out[split] = items
    return out


def make_mnist(root: Path, n_train=300, n_test=100, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = np.zeros((n, 28, 28), np.uint8)
        x[:, 8:20, 12:16] = rng.integers(100, 256, (n, 1, 1), dtype=np.uint8)  # a bar "digit"
        y = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(root / "MNIST" / f"{split}-images-idx3-ubyte", x, gz=gz)
        write_idx(root / "MNIST" / f"{split}-labels-idx1-ubyte", y, gz=gz)
        data[split] = (x, y)
    return data


def write_amat(path: Path, images: np.ndarray, labels) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for x, y in zip(images.reshape(len(images), -1), labels):
        rows.append(" ".join(f"{v:.10e}" for v in x) + f" {float(y):.10e}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def build():
    return SimpleNamespace(
        text=write_text,
        idx=write_idx,
        celeba=make_celeba,
        bsds=make_bsds,
        mnist=make_mnist,
        amat=write_amat,
        gt_cell=gt_cell,
        attr_names=ATTR_NAMES,
        face_image=face_image,
    )
