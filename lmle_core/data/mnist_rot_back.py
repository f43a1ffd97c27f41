"""MNIST-rot-back-image (Larochelle et al., ICML 2007): official files or a faithful regeneration.

Official form (``mnist_rotation_back_image_new.zip``), below the data root::

    mnist_rotation_back_image/mnist_all_background_images_rotation_normalized_train_valid.amat  12,000 rows
    mnist_rotation_back_image/mnist_all_background_images_rotation_normalized_test.amat         50,000 rows

one example per row: 784 pixel values in [0, 1] then the label (as a float).

Pixel order: row-major, like MNIST. Bergstra's ``skdata`` loader of these
files (``skdata/larochelle_etal_2007/dataset.py``) marks ``mnist-back-image``
and ``mnist-back-random`` as "saved sideways" (``TRANSPOSE_IMAGES = True``)
but not the two rotated variants; for this variant a transpose would only be
a reflection of digits that are rotated by any angle anyway. :func:`read_amat`
therefore keeps row-major (``transpose=True`` flips it if ever needed).

When the .amat files are absent the dataset is regenerated (see
:func:`regenerate_rot_back_image`) from ``<root>/MNIST`` and the first 20
(ASCII order) BSDS500 train images, converted to grayscale, as backgrounds.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from . import cache as _cache
from ._affine import to_uint8
from ._fileio import read_text
from .errors import CorruptFileError, DatasetMissingError, download_command
from .paths import resolve_data_root
from .rot_back_regen import MIN_PATCH_STD, Provenance, RotBackImage, regenerate_rot_back_image

__all__ = [
    "AMAT_FILES",
    "MIN_PATCH_STD",
    "N_BACKGROUNDS",
    "Provenance",
    "RotBackImage",
    "read_amat",
    "regenerate_rot_back_image",
    "load_mnist_rot_back_image",
    "rot_back_official_files",
    "rot_back_sources",
]

AMAT_DIR = "mnist_rotation_back_image"
AMAT_FILES = {
    "train": "mnist_all_background_images_rotation_normalized_train_valid.amat",
    "test": "mnist_all_background_images_rotation_normalized_test.amat",
}
N_BACKGROUNDS = 20
REGEN_VERSION = 1
PATCH = 28


# --------------------------------------------------------------------------- official files


def read_amat(path, transpose: bool = False):
    """Read an .amat file of Larochelle's MNIST variants.

    Returns ``(images float32 (N, 28, 28) in [0, 1], labels int64 (N,))``.
    Lines starting with ``#`` (PLearn headers) are skipped. Raises
    :class:`CorruptFileError` naming the file (and the line when known) for a
    row without 785 numbers, a pixel outside [0, 1] or a label that is not an
    integer 0..9.
    """
    import pandas as pd

    path = Path(path)
    text = read_text(path)
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=r"\s+", header=None, dtype=np.float32, engine="c", comment="#"
        )
    except Exception as exc:  # ParserError (ragged rows), ValueError (non-numeric), EmptyDataError
        raise CorruptFileError(path, f"not a table of numbers ({type(exc).__name__}: {str(exc).strip()})") from None
    data = df.to_numpy(dtype=np.float32)
    if data.shape[1] != PATCH * PATCH + 1:
        raise CorruptFileError(path, f"expected 785 columns (784 pixels + label), found {data.shape[1]}")
    bad_rows = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if len(bad_rows):
        raise CorruptFileError(path, "row with fewer than 785 numbers (784 pixels + label) or non-finite values", line=_line_of_row(text, int(bad_rows[0])))
    pixels, labels_f = data[:, :-1], data[:, -1]
    out_of_range = np.flatnonzero((pixels < -1e-6).any(axis=1) | (pixels > 1 + 1e-6).any(axis=1))
    if len(out_of_range):
        raise CorruptFileError(path, "pixel values outside [0, 1]", line=_line_of_row(text, int(out_of_range[0])))
    bad_label = np.flatnonzero((labels_f != np.round(labels_f)) | (labels_f < 0) | (labels_f > 9))
    if len(bad_label):
        r = int(bad_label[0])
        raise CorruptFileError(path, f"label {labels_f[r]!r} is not an integer 0..9", line=_line_of_row(text, r))
    images = np.clip(pixels, 0.0, 1.0).reshape(-1, PATCH, PATCH)
    if transpose:
        images = images.transpose(0, 2, 1)
    return np.ascontiguousarray(images), labels_f.astype(np.int64)


def _line_of_row(text: str, row: int) -> int:
    """1-based line number of data row ``row`` (skipping blank and # lines)."""
    k = -1
    for lineno, ln in enumerate(text.splitlines(), start=1):
        s = ln.strip()
        if s and not s.startswith("#"):
            k += 1
            if k == row:
                return lineno
    return row + 1


def rot_back_official_files(data_root=None) -> Optional[Dict[str, Path]]:
    """The two official .amat files when both are present (plain or .gz), else None."""
    from ._fileio import find_plain_or_gz

    base = resolve_data_root(data_root) / AMAT_DIR
    found = {k: find_plain_or_gz(base / name) for k, name in AMAT_FILES.items()}
    return found if all(found.values()) else None


# --------------------------------------------------------------------------- loader

_PROV_FIELDS = ("mnist_index", "angle", "background_index", "patch_yx")


def _save(entry, data: RotBackImage, meta: dict) -> None:
    arrays = dict(
        train_images=data.train_images,
        train_labels=data.train_labels,
        test_images=data.test_images,
        test_labels=data.test_labels,
    )
    for split, prov in (("train", data.train_provenance), ("test", data.test_provenance)):
        if prov is not None:
            for f in _PROV_FIELDS:
                arrays[f"{split}_{f}"] = getattr(prov, f)
    try:
        _cache.atomic_save_npz(entry["npz"], **arrays)
        _cache.commit_entry(
            entry,
            dict(meta, source=data.source, background_ids=data.background_ids, seed=data.seed, created=_cache.now()),
            ("npz",),
        )
    except OSError as exc:  # a read-only or full cache folder: the data is in hand, uncached
        _cache.warn_unwritable(entry["npz"].parent, exc)


def _load(entry) -> Optional[RotBackImage]:
    """The cached arrays when the entry's files match their recorded sha256; else None (a damaged
    entry is named in a one-line warning, rebuilt and replaced)."""
    meta = _cache.verified_meta(entry, ("npz",))
    if meta is None:
        return None
    try:
        with np.load(entry["npz"]) as z:
            arrays = {k: z[k] for k in z.files}
        provs = {}
        for split in ("train", "test"):
            if f"{split}_mnist_index" in arrays:
                provs[split] = Provenance(**{f: arrays[f"{split}_{f}"] for f in _PROV_FIELDS})
        return RotBackImage(
            train_images=arrays["train_images"],
            train_labels=arrays["train_labels"],
            test_images=arrays["test_images"],
            test_labels=arrays["test_labels"],
            source=meta["source"],
            background_ids=list(meta.get("background_ids", [])),
            train_provenance=provs.get("train"),
            test_provenance=provs.get("test"),
            seed=meta.get("seed"),
        )
    except Exception as exc:  # noqa: BLE001 -- BadZipFile, a missing array, ...: rebuilt
        _cache.warn(f"cache entry {entry['json']} cannot be read ({type(exc).__name__}: {exc}); rebuilding the entry")
        return None


def _missing_both(root: Path, reason: str) -> DatasetMissingError:
    hint = (
        f"MNIST-rot-back-image needs either (1) the official .amat files in {root / AMAT_DIR}:\n"
        f"    {download_command('mnist_rot_back_image', root)}\n"
        f"or (2) MNIST and BSDS500 to regenerate it ({reason}):\n"
        f"    {download_command('mnist', root)}\n"
        f"    {download_command('bsds500', root)}"
    )
    return DatasetMissingError(
        "mnist_rot_back_image", root / AMAT_DIR / AMAT_FILES["train"], download_command("mnist_rot_back_image", root), hint
    )


def load_mnist_rot_back_image(
    data_root=None,
    seed: int = 0,
    n_train: int = 12000,
    n_test: int = 50000,
    prefer_official: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> RotBackImage:
    """MNIST-rot-back-image from the official .amat files when present under
    ``<root>/mnist_rotation_back_image/`` (and ``prefer_official``), else
    regenerated (:func:`regenerate_rot_back_image`, ``seed``, ``n_train``,
    ``n_test``) from ``<root>/MNIST`` (train rows then t10k rows) with the
    first 20 BSDS500 train images (ASCII order, grayscale) as backgrounds.
    Both paths are cached under :func:`~lmle_core.data.paths.cache_dir`.
    With the official files, ``n_train``/``n_test`` are ignored (the files'
    12,000 / 50,000 rows are returned). Raises :class:`DatasetMissingError`
    naming both options when neither source is available.
    """
    from .bsds import bsds500_ids, load_bsds500_images
    from .mnist import load_mnist, mnist_files

    root = resolve_data_root(data_root)
    official = rot_back_official_files(root) if prefer_official else None

    if official is not None:
        key = {"kind": "official", "version": REGEN_VERSION, "files": _cache.file_signature(official.values(), content=True)}
        entry = _cache.entry_paths("mnist_rot_back_official", _cache.hash_key(key)) if cache else None
        if entry is not None:
            hit = _load(entry)
            if hit is not None:
                return hit
        tr_x, tr_y = read_amat(official["train"])
        te_x, te_y = read_amat(official["test"])
        data = RotBackImage(
            train_images=to_uint8(tr_x * 255.0),
            train_labels=tr_y,
            test_images=to_uint8(te_x * 255.0),
            test_labels=te_y,
            source="official .amat files",
        )
        if entry is not None:
            _save(entry, data, key)
        return data

    try:
        files = {s: mnist_files(root, s) for s in ("train", "test")}
    except DatasetMissingError as exc:
        raise _missing_both(root, f"missing {exc.path}") from None
    try:
        ids = bsds500_ids(root, "train")[:N_BACKGROUNDS]
    except DatasetMissingError as exc:
        raise _missing_both(root, f"missing {exc.path}") from None
    bsds_jpgs = [root / "BSDS500" / "data" / "images" / "train" / f"{i}.jpg" for i in ids]
    key = {
        "kind": "regenerated",
        "version": REGEN_VERSION,
        "seed": int(seed),
        "n_train": int(n_train),
        "n_test": int(n_test),
        "min_patch_std": MIN_PATCH_STD,
        "mnist": _cache.file_signature([p for f in files.values() for p in f.values()], content=True),
        "backgrounds": _cache.file_signature(bsds_jpgs, content=True),
    }
    entry = _cache.entry_paths("mnist_rot_back_regen", _cache.hash_key(key)) if cache else None
    if entry is not None:
        hit = _load(entry)
        if hit is not None:
            return hit
    if len(ids) < N_BACKGROUNDS:
        warnings.warn(f"only {len(ids)} BSDS500 train images found; using them all as backgrounds")
    tr_x, tr_y = load_mnist(root, "train")
    te_x, te_y = load_mnist(root, "test")
    backgrounds = load_bsds500_images(root, "train", ids=ids, grayscale=True)
    if progress:
        print(f"regenerating MNIST-rot-back-image (seed {seed}, {n_train} + {n_test} digits) ...", flush=True)
    data = regenerate_rot_back_image(
        np.concatenate([tr_x, te_x]),
        np.concatenate([tr_y, te_y]),
        [backgrounds[i] for i in ids],
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        train_pool_size=len(tr_x),
        background_ids=ids,
    )
    if entry is not None:
        _save(entry, data, key)
    return data


def rot_back_sources(data: RotBackImage, data_root=None):
    """(bare MNIST digits (N_train, 28, 28) uint8 of ``data``'s train images, background images) of
    REGENERATED data, read from the same files (for digit-first augmentation); None for official data."""
    from .bsds import load_bsds500_images
    from .mnist import load_mnist

    if data.train_provenance is None:
        return None
    root = resolve_data_root(data_root)
    tr_x, _ = load_mnist(root, "train")
    te_x, _ = load_mnist(root, "test")
    pool = np.concatenate([tr_x, te_x])
    backgrounds = load_bsds500_images(root, "train", ids=data.background_ids, grayscale=True)
    return pool[data.train_provenance.mnist_index], [backgrounds[i] for i in data.background_ids]
