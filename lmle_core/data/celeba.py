"""CelebA (Liu et al., ICCV 2015): annotation readers and the decoded-crop loader.

Official layout below the data root::

    CelebA/img_align_celeba/000001.jpg ...   aligned faces, 178x218 (any subset, any scale)
    CelebA/Anno/list_attr_celeba.txt[.gz]    40 binary attributes (-1/1)
    CelebA/Anno/identity_CelebA.txt[.gz]     identity of each image (optional here)
    CelebA/Eval/list_eval_partition.txt[.gz] 0 train / 1 val / 2 test

Only the images present in ``img_align_celeba`` are used (partial sets are
normal); images may be stored downscaled (the crop box is defined in the
original 178x218 coordinates and scaled by each image's actual size).

Face crop (:data:`CROP_BOX`): ``(left, top, right, bottom) = (25, 48, 153, 198)``
in 178x218 coordinates, i.e. a 128x150 (W x H) box, aspect 0.853 ~= 47/55.
It was chosen by looking at contact sheets of the aligned images: the aligned
faces have the hair line near y=55, the eyes near y=105-110, the mouth near
y=150 and the chin near y=175-185, and the face spans x~50..128 around the
centre x=89. The box runs from just above the forehead (keeps bangs, hats,
eyebrows) to just below the chin (keeps beard, double chin, the collar of a
necktie), with the cheeks and ears and part of the hair on the sides, which is
what a DeepID2-style 55x47 (H x W) face input sees. Crop and resize are done
in one bilinear, antialiased PIL resize (``Image.resize(size, box=...)``).
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import cache as _cache
from ._fileio import first_existing
from .celeba_anno import read_attributes, read_identities, read_partition
from .errors import CorruptFileError, DatasetMissingError, download_command
from .paths import resolve_data_root

__all__ = [
    "CROP_BOX",
    "ORIGINAL_SIZE",
    "SPLIT_NAMES",
    "CelebA",
    "read_attributes",
    "read_partition",
    "read_identities",
    "load_celeba",
    "celeba_paths",
]

ORIGINAL_SIZE = (178, 218)  # (W, H) of the official aligned images
CROP_BOX = (25, 48, 153, 198)  # (left, top, right, bottom) in ORIGINAL_SIZE coordinates
SPLIT_NAMES = ("train", "val", "test")
READER_VERSION = 2  # 2: cache keyed by annotation content and image mtimes
N_ATTRIBUTES = 40

_ATTR = "list_attr_celeba.txt"
_PART = "list_eval_partition.txt"
_IDENT = "identity_CelebA.txt"
_IMG_DIR = "img_align_celeba"


# --------------------------------------------------------------------------- dataset


@dataclass
class CelebA:
    """Decoded CelebA crops with their labels (one row per image present).

    ``images`` uint8 (N, H, W, 3) (may be a read-only memmap of the cache),
    ``attributes`` uint8 (N, 40) in {0, 1}, ``split`` int8 (N,) 0/1/2,
    ``identity`` int64 (N,) (-1 when unknown), ``filenames`` in file-name order.
    """

    images: np.ndarray
    attributes: np.ndarray
    attribute_names: List[str]
    split: np.ndarray
    identity: np.ndarray
    filenames: List[str]
    image_size: Tuple[int, int] = (55, 47)
    crop_box: Tuple[int, int, int, int] = CROP_BOX
    n_annotated: int = 0  # images listed in the partition file (202,599 officially)
    n_present: int = 0  # annotated jpgs found in img_align_celeba (before split/max filters)

    def __len__(self) -> int:
        return len(self.filenames)

    def counts(self) -> Dict[str, int]:
        """``{"train": n, "val": n, "test": n}``."""
        bc = np.bincount(np.asarray(self.split, dtype=np.int64), minlength=3)
        return {name: int(bc[i]) for i, name in enumerate(SPLIT_NAMES)}

    def subset(self, split_name: str) -> "CelebA":
        """The images of one split (a view when the split is contiguous)."""
        code = _split_code(split_name)
        idx = np.flatnonzero(np.asarray(self.split) == code)
        if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
            sel: Union[slice, np.ndarray] = slice(int(idx[0]), int(idx[-1]) + 1)
        else:
            sel = idx
        return replace(
            self,
            images=self.images[sel],
            attributes=self.attributes[sel],
            split=self.split[sel],
            identity=self.identity[sel],
            filenames=[self.filenames[i] for i in idx],
        )

    def positive_rate(self) -> np.ndarray:
        """Fraction of positives per attribute, float64 (40,)."""
        if len(self) == 0:
            return np.full(self.attributes.shape[1], np.nan)
        return np.asarray(self.attributes, dtype=np.float64).mean(axis=0)

    def describe(self) -> str:
        c = self.counts()
        return (
            f"CelebA aligned, {len(self):,} images used ({self.n_present:,} of {self.n_annotated:,} annotated "
            f"images present): train {c['train']:,} / val {c['val']:,} / test {c['test']:,}; "
            f"crops {self.image_size[0]}x{self.image_size[1]} (HxW) from box {self.crop_box} of 178x218"
        )


def _split_code(split) -> int:
    if isinstance(split, (int, np.integer)) and 0 <= int(split) <= 2:
        return int(split)
    if isinstance(split, str) and split.lower() in SPLIT_NAMES:
        return SPLIT_NAMES.index(split.lower())
    if isinstance(split, str) and split.lower() in ("valid", "validation"):
        return 1
    raise ValueError(f"unknown CelebA split {split!r}; valid: {SPLIT_NAMES}")


def celeba_paths(data_root=None, require_images: bool = True) -> Dict[str, Optional[Path]]:
    """Locate the CelebA files; raise :class:`DatasetMissingError` for a missing one.

    Returns ``{"base", "images", "attributes", "partition", "identity"}``
    (identity may be None). Cheap: no file is read.
    """
    root = resolve_data_root(data_root)
    cmd = download_command("celeba", root)
    base = root / "CelebA"
    if not base.is_dir():
        raise DatasetMissingError("celeba", base, cmd)
    attr = first_existing([base / "Anno" / _ATTR, base / _ATTR])
    if attr is None:
        raise DatasetMissingError("celeba", base / "Anno" / _ATTR, cmd, hint="(plain or .gz)")
    part = first_existing([base / "Eval" / _PART, base / "Anno" / _PART, base / _PART])
    if part is None:
        raise DatasetMissingError("celeba", base / "Eval" / _PART, cmd, hint="(plain or .gz)")
    ident = first_existing([base / "Anno" / _IDENT, base / _IDENT])
    img_dir = base / _IMG_DIR
    if require_images:
        if not img_dir.is_dir():
            raise DatasetMissingError("celeba", img_dir, cmd)
    return {"base": base, "images": img_dir, "attributes": attr, "partition": part, "identity": ident}


def _list_jpgs(img_dir: Path) -> List[Tuple[str, int, int]]:
    """(name, size, mtime_ns) of every jpg: the cache key of the decoded images."""
    out = []
    with os.scandir(img_dir) as it:
        for e in it:
            if e.name.lower().endswith(".jpg") and e.is_file():
                st = e.stat()
                out.append((e.name, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def load_celeba(
    data_root=None,
    splits: Sequence[Union[str, int]] = ("train", "val", "test"),
    image_size: Tuple[int, int] = (55, 47),
    max_per_split: Optional[int] = None,
    cache: bool = True,
    progress: bool = True,
    workers: Optional[int] = None,
) -> CelebA:
    """Load the CelebA images present, cropped (see :data:`CROP_BOX`) and resized.

    ``image_size`` is (H, W). ``splits`` selects train/val/test;
    ``max_per_split`` keeps the first n images of each split in file-name
    order. Images are decoded once (PIL, ``workers`` threads) and cached as
    ``.npy`` under :func:`~lmle_core.data.paths.cache_dir` keyed by the image
    files (name, size, modification time), the annotation files' bytes (sha256),
    the parameters and the reader version; a cache hit returns a read-only memmap.

    Raises :class:`DatasetMissingError` (missing folder or annotation file)
    and :class:`CorruptFileError` (unreadable jpg or malformed annotation).
    """
    if isinstance(splits, (str, int)):
        splits = (splits,)
    codes = sorted({_split_code(s) for s in splits})
    H, W = int(image_size[0]), int(image_size[1])
    if H <= 0 or W <= 0:
        raise ValueError(f"image_size must be positive (H, W), got {image_size}")
    if max_per_split is not None and max_per_split < 0:
        raise ValueError("max_per_split must be >= 0")
    p = celeba_paths(data_root)
    root = resolve_data_root(data_root)
    listing = _list_jpgs(p["images"])
    if not listing:
        raise DatasetMissingError(
            "celeba", p["images"] / "*.jpg", download_command("celeba", root), hint="the image folder holds no jpg"
        )

    ann_files = [p["attributes"], p["partition"]] + ([p["identity"]] if p["identity"] else [])
    key_obj = {
        "version": READER_VERSION,
        "images": listing,
        "annotations": _cache.file_signature(ann_files, content=True),
        "splits": codes,
        "max_per_split": max_per_split,
        "image_size": [H, W],
        "crop_box": list(CROP_BOX),
    }
    entry = None
    if cache:
        entry = _cache.entry_paths("celeba", _cache.hash_key(key_obj))
        hit = _load_cached(entry, (H, W))
        if hit is not None:
            return hit

    # ---- annotations
    part = read_partition(p["partition"])
    fnames, attr_names, attr_values = read_attributes(p["attributes"])
    attr_row = {f: i for i, f in enumerate(fnames)}
    ident = read_identities(p["identity"]) if p["identity"] else {}
    if not ident:
        warnings.warn("CelebA identity file not found: identity set to -1")

    present = [name for name, *_ in listing if name in part and name in attr_row]
    unknown = len(listing) - len(present)
    if unknown:
        warnings.warn(f"CelebA: {unknown} jpg(s) in {p['images']} are not in the annotation files; ignored")
    selected: List[str] = []
    per_split = {c: 0 for c in codes}
    for name in present:
        c = part[name]
        if c in per_split and (max_per_split is None or per_split[c] < max_per_split):
            per_split[c] += 1
            selected.append(name)

    n = len(selected)
    attributes = attr_values[[attr_row[f] for f in selected]].astype(np.uint8).reshape(n, -1)
    split = np.array([part[f] for f in selected], dtype=np.int8)
    identity = np.array([ident.get(f, -1) for f in selected], dtype=np.int64)

    paths = [p["images"] / f for f in selected]
    writer = None
    if entry is not None and n > 0:
        try:
            writer = _cache.NpyWriter(entry["npy"], (n, H, W, 3), np.uint8)
            images = writer.array
        except OSError as exc:
            _cache.warn_unwritable(entry["npy"].parent, exc)
            writer = None
    if writer is None:
        entry = None
        images = np.empty((n, H, W, 3), np.uint8)
    try:
        decode_images(paths, images, (H, W), progress=progress, workers=workers)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise

    meta = dict(
        attribute_names=attr_names,
        filenames=selected,
        n_annotated=len(part),
        n_present=len(present),
        image_size=[H, W],
        crop_box=list(CROP_BOX),
    )
    if writer is not None:
        try:
            writer.commit()
            _cache.atomic_save_npz(entry["npz"], attributes=attributes, split=split, identity=identity)
            _cache.commit_entry(entry, dict(meta, version=READER_VERSION, created=_cache.now(), n=n), ("npy", "npz"))
            images = np.load(entry["npy"], mmap_mode="r")
        except OSError as exc:  # a full disk: the decoded images are still in hand
            _cache.warn_unwritable(entry["npy"].parent, exc)
    return CelebA(
        images=images,
        attributes=attributes,
        attribute_names=attr_names,
        split=split,
        identity=identity,
        filenames=selected,
        image_size=(H, W),
        crop_box=CROP_BOX,
        n_annotated=len(part),
        n_present=len(present),
    )


def _load_cached(entry, image_size) -> Optional[CelebA]:
    """The cached crops when the entry is complete and its files match their recorded sha256;
    else None (a damaged entry is named in a one-line warning, rebuilt and replaced)."""
    meta = _cache.verified_meta(entry, ("npy", "npz"))
    if meta is None or meta.get("version") != READER_VERSION:
        return None
    try:
        images = np.load(entry["npy"], mmap_mode="r")
        with np.load(entry["npz"]) as z:
            attributes, split, identity = z["attributes"], z["split"], z["identity"]
        n = meta["n"]
        if images.shape != (n,) + tuple(image_size) + (3,) or len(attributes) != n:
            raise ValueError(f"shapes {images.shape} / {attributes.shape} do not fit n = {n}")
        return CelebA(
            images=images,
            attributes=attributes,
            attribute_names=list(meta["attribute_names"]),
            split=split,
            identity=identity,
            filenames=list(meta["filenames"]),
            image_size=tuple(image_size),
            crop_box=tuple(meta["crop_box"]),
            n_annotated=int(meta["n_annotated"]),
            n_present=int(meta["n_present"]),
        )
    except Exception as exc:  # noqa: BLE001 -- BadZipFile, a foreign pickle, ...: rebuilt
        _cache.warn(f"cache entry {entry['json']} cannot be read ({type(exc).__name__}: {exc}); rebuilding the entry")
        return None


# --------------------------------------------------------------------------- decoding


def crop_face(img, image_size: Tuple[int, int] = (55, 47), crop_box=CROP_BOX):
    """Crop ``CROP_BOX`` (scaled to the image's size) and resize to (H, W); PIL in, uint8 array out."""
    from PIL import Image

    w, h = img.size
    sx, sy = w / ORIGINAL_SIZE[0], h / ORIGINAL_SIZE[1]
    box = (crop_box[0] * sx, crop_box[1] * sy, crop_box[2] * sx, crop_box[3] * sy)
    out = img.resize((image_size[1], image_size[0]), Image.BILINEAR, box=box, reducing_gap=None)
    return np.asarray(out, dtype=np.uint8)


def _decode_one(path: Path, image_size, draft_size) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", draft_size)  # DCT-domain downscale of large sources (>= needed size)
            rgb = im.convert("RGB")
        return crop_face(rgb, image_size)
    except CorruptFileError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise CorruptFileError(path, f"cannot decode image ({type(exc).__name__}: {exc})") from None


def decode_images(paths: Sequence[Path], out: np.ndarray, image_size, progress=True, workers=None, chunk=256):
    """Decode + crop ``paths`` into ``out[i]`` with a thread pool (PIL releases the GIL)."""
    H, W = image_size
    bw = (CROP_BOX[2] - CROP_BOX[0]) / ORIGINAL_SIZE[0]
    bh = (CROP_BOX[3] - CROP_BOX[1]) / ORIGINAL_SIZE[1]
    draft_size = (math.ceil(W / bw), math.ceil(H / bh))
    n = len(paths)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    starts = list(range(0, n, chunk))

    def work(s):
        for i in range(s, min(n, s + chunk)):
            out[i] = _decode_one(paths[i], (H, W), draft_size)
        return min(n, s + chunk) - s

    from tqdm.auto import tqdm

    with tqdm(total=n, desc="decoding CelebA", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for s in starts:
                bar.update(work(s))
            return out
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(work, s) for s in starts]
            try:
                for f in as_completed(futures):
                    bar.update(f.result())
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return out
