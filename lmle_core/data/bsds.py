"""BSDS500 (Arbelaez et al., TPAMI 2011): images and human ground truth.

Official layout below the data root (as in ``BSR/BSDS500/data``)::

    BSDS500/data/images/{train,val,test}/<id>.jpg         200 / 100 / 200 images
    BSDS500/data/groundTruth/{train,val,test}/<id>.mat    variable ``groundTruth``:
        a 1xK cell (K annotators, 4..9), each a struct with fields
        ``Segmentation`` (label map) and ``Boundaries`` (0/1 map), image size.

Images are listed in ASCII order of their file names (MATLAB's ``dir`` order,
which the official benchmark uses).

Orientation check: a jpg whose (H, W) is the transpose of its ground truth's
was stored rotated by a quarter turn (the shared copy of this project has 63
such train images, e.g. ``train/100080``: the jpg is landscape, the human
maps are portrait and upright). :func:`load_bsds500` turns such a jpg back to
the ground truth's frame, choosing between the two quarter turns the one
whose image gradients agree best with the annotators' boundaries (mean
Sobel magnitude on boundary pixels over the image mean; on the shared copy
the chosen turn wins by a factor 1.08 to 4.7 and is np.rot90 k=1 for all 63),
records it in ``BSDSImage.reoriented`` and warns once, naming the images.
``fix_orientation=False`` raises :class:`CorruptFileError` instead. The
jpg-only fast path :func:`load_bsds500_images` returns the jpgs as stored.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .errors import CorruptFileError, DatasetMissingError, download_command
from .paths import resolve_data_root

__all__ = [
    "BSDS_SPLITS",
    "BSDSImage",
    "read_ground_truth",
    "load_bsds500",
    "load_bsds500_images",
    "bsds500_ids",
]

BSDS_SPLITS = ("train", "val", "test")


@dataclass
class BSDSImage:
    """One BSDS500 image with its annotators' maps."""

    id: str
    split: str
    image: np.ndarray  # uint8 (H, W, 3)
    boundaries: List[np.ndarray] = field(default_factory=list)  # bool (H, W), one per annotator
    segmentations: List[np.ndarray] = field(default_factory=list)  # int32 (H, W)
    reoriented: int = 0  # quarter turns (np.rot90 k) applied to the stored jpg to match its ground truth

    @property
    def n_annotators(self) -> int:
        return len(self.boundaries)


# --------------------------------------------------------------------------- .mat reader


def _field(rec, name: str):
    """Field ``name`` of a MATLAB struct in any of scipy's representations."""
    if isinstance(rec, dict):
        return rec.get(name)
    names = getattr(getattr(rec, "dtype", None), "names", None)
    if names:  # numpy structured record / 0-d or 1-element structured array
        if name not in names:
            return None
        v = rec[name]
        return v
    return getattr(rec, name, None)  # scipy.io.matlab.mat_struct (struct_as_record=False)


def _unwrap(x):
    """Strip the 1x1 object-array wrappers scipy puts around cell/struct members."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.reshape(-1)[0]
    while isinstance(x, np.ndarray) and x.dtype.names is None and x.dtype == object and x.ndim == 0:
        x = x[()]
    return x


def _annotators(gt) -> List:
    """The K annotator structs of ``groundTruth`` (cell array, struct array or single struct)."""
    if isinstance(gt, np.ndarray):
        if gt.dtype.names:  # struct array (1xK) or a single struct
            return [gt.reshape(-1)[i] for i in range(gt.size)]
        if gt.dtype == object:  # cell array
            out = []
            for item in gt.reshape(-1):
                out.extend(_annotators(item))
            return out
        raise TypeError(f"unexpected array of dtype {gt.dtype}")
    if isinstance(gt, (list, tuple)):
        out = []
        for item in gt:
            out.extend(_annotators(item))
        return out
    return [gt]  # mat_struct or dict


def read_ground_truth(mat_path) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Read a BSDS500 ground-truth ``.mat``.

    Returns ``(boundaries, segmentations)``: one bool (H, W) boundary map and
    one int32 (H, W) segmentation per annotator. Accepts the ``groundTruth``
    variable as a cell of structs (official), a struct array or a single
    struct, however scipy wraps it. Raises :class:`CorruptFileError` naming
    the file when it cannot be read or has the wrong structure.
    """
    import scipy.io

    path = Path(mat_path)
    try:
        mat = scipy.io.loadmat(str(path))
    except FileNotFoundError:
        raise
    except Exception as exc:  # MatReadError, ValueError, TypeError, zlib errors, ...
        raise CorruptFileError(path, f"cannot read MATLAB file ({type(exc).__name__}: {exc})") from None
    if "groundTruth" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise CorruptFileError(path, f"no variable 'groundTruth' (variables: {keys})")
    try:
        recs = _annotators(mat["groundTruth"])
    except TypeError as exc:
        raise CorruptFileError(path, f"'groundTruth' is not a cell of structs ({exc})") from None
    if not recs:
        raise CorruptFileError(path, "'groundTruth' holds no annotator")
    boundaries, segmentations = [], []
    for k, rec in enumerate(recs):
        b = _unwrap(_field(rec, "Boundaries"))
        s = _unwrap(_field(rec, "Segmentation"))
        if b is None or s is None:
            raise CorruptFileError(path, f"annotator {k + 1} lacks the fields 'Boundaries' and 'Segmentation'")
        b = np.asarray(b)
        s = np.asarray(s)
        if b.ndim != 2 or s.shape != b.shape or b.dtype == object or s.dtype == object:
            raise CorruptFileError(
                path, f"annotator {k + 1}: Boundaries {b.shape} / Segmentation {s.shape} are not two maps of one size"
            )
        boundaries.append(b != 0)
        segmentations.append(s.astype(np.int32))
    shapes = {b.shape for b in boundaries}
    if len(shapes) != 1:
        raise CorruptFileError(path, f"annotators disagree on the image size: {sorted(shapes)}")
    return boundaries, segmentations


# --------------------------------------------------------------------------- loaders


def _bsds_dirs(data_root) -> Tuple[Path, Path, Path, str]:
    root = resolve_data_root(data_root)
    cmd = download_command("bsds500", root)
    base = root / "BSDS500" / "data"
    if not base.is_dir():
        raise DatasetMissingError("bsds500", base, cmd)
    return base / "images", base / "groundTruth", root, cmd


def _check_split(split: str) -> str:
    if split not in BSDS_SPLITS:
        raise ValueError(f"unknown BSDS500 split {split!r}; valid: {BSDS_SPLITS}")
    return split


def bsds500_ids(data_root=None, split: str = "train") -> List[str]:
    """Image ids (file stems) of a split in ASCII order of the file names."""
    img_root, _, _, cmd = _bsds_dirs(data_root)
    d = img_root / _check_split(split)
    if not d.is_dir():
        raise DatasetMissingError("bsds500", d, cmd)
    names = sorted(e.name for e in os.scandir(d) if e.name.lower().endswith(".jpg") and e.is_file())
    if not names:
        raise DatasetMissingError("bsds500", d / "*.jpg", cmd, hint="the image folder holds no jpg")
    return [n[: -len(".jpg")] for n in names]


def _read_jpg(path: Path, grayscale: bool = False) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L" if grayscale else "RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"cannot decode image ({type(exc).__name__}: {exc})") from None


def _workers(workers: Optional[int]) -> int:
    return max(1, workers if workers is not None else min(8, os.cpu_count() or 1))


def load_bsds500_images(
    data_root=None,
    split: str = "train",
    ids: Optional[Iterable[str]] = None,
    grayscale: bool = False,
    workers: Optional[int] = None,
) -> Dict[str, np.ndarray]:
    """Only the jpgs of a split: ``{id: uint8 (H, W, 3)}`` (or (H, W) when
    ``grayscale``; PIL's ITU-R 601-2 luma), in ASCII order of ids unless
    ``ids`` gives the order. Fast path used to take background patches."""
    img_root, _, root, cmd = _bsds_dirs(data_root)
    split = _check_split(split)
    id_list = list(ids) if ids is not None else bsds500_ids(data_root, split)
    paths = [img_root / split / f"{i}.jpg" for i in id_list]
    for p in paths:
        if not p.is_file():
            raise DatasetMissingError("bsds500", p, cmd)
    with ThreadPoolExecutor(max_workers=_workers(workers)) as pool:
        arrays = list(pool.map(lambda p: _read_jpg(p, grayscale), paths))
    return dict(zip(id_list, arrays))


def load_bsds500(
    data_root=None,
    splits: Sequence[str] = ("train", "val", "test"),
    max_per_split: Optional[int] = None,
    progress: bool = True,
    workers: Optional[int] = None,
    fix_orientation: bool = True,
) -> List[BSDSImage]:
    """Images and ground truth of the chosen splits, each split in ASCII order.

    ``max_per_split`` keeps the first n images of each split. Raises
    :class:`DatasetMissingError` for a missing folder or a jpg without its
    ``.mat``, :class:`CorruptFileError` for an unreadable file or a ground
    truth whose size differs from its image (a quarter-turned jpg is turned
    back when ``fix_orientation``; see the module docstring).
    """
    from tqdm.auto import tqdm

    img_root, gt_root, root, cmd = _bsds_dirs(data_root)
    if isinstance(splits, str):
        splits = (splits,)
    jobs = []
    for split in splits:
        _check_split(split)
        gt_dir = gt_root / split
        if not gt_dir.is_dir():
            raise DatasetMissingError("bsds500", gt_dir, cmd)
        ids = bsds500_ids(data_root, split)
        if max_per_split is not None:
            ids = ids[:max_per_split]
        for i in ids:
            mat = gt_dir / f"{i}.mat"
            if not mat.is_file():
                raise DatasetMissingError("bsds500", mat, cmd, hint=f"ground truth of image {split}/{i}.jpg")
            jobs.append((i, split, img_root / split / f"{i}.jpg", mat))

    def work(job):
        i, split, jpg, mat = job
        image = _read_jpg(jpg)
        b, s = read_ground_truth(mat)
        k = 0
        if b[0].shape != image.shape[:2]:
            if not (fix_orientation and b[0].shape == image.shape[1::-1]):
                raise CorruptFileError(mat, f"ground truth is {b[0].shape}, image {jpg.name} is {image.shape[:2]}")
            k = orientation_from_boundaries(image, b)
            image = np.ascontiguousarray(np.rot90(image, k))
        return BSDSImage(id=i, split=split, image=image, boundaries=b, segmentations=s, reoriented=k)

    out: List[BSDSImage] = []
    with ThreadPoolExecutor(max_workers=_workers(workers)) as pool:
        for item in tqdm(pool.map(work, jobs), total=len(jobs), desc="reading BSDS500", disable=not progress):
            out.append(item)
    turned = [f"{x.split}/{x.id}" for x in out if x.reoriented]
    if turned:
        warnings.warn(
            f"BSDS500: {len(turned)} jpg(s) were stored rotated by a quarter turn relative to their ground truth "
            f"and were turned back (BSDSImage.reoriented): {', '.join(turned[:10])}" + (" ..." if len(turned) > 10 else ""),
            stacklevel=2,
        )
    return out


def orientation_from_boundaries(image: np.ndarray, boundaries: Sequence[np.ndarray]) -> int:
    """Quarter turns k (1 or 3, for ``np.rot90``) that bring ``image`` into the
    frame of the transposed-shape ``boundaries``: the turn whose Sobel gradient
    magnitude is highest on the annotated boundary pixels (relative to its mean)."""
    from scipy import ndimage

    gray = image.astype(np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    votes = np.zeros(boundaries[0].shape, np.float32)
    for b in boundaries:
        votes += b
    scores = {}
    for k in (1, 3):
        r = np.rot90(gray, k)
        g = np.hypot(ndimage.sobel(r, 0), ndimage.sobel(r, 1))
        scores[k] = float((g * votes).sum() / max(votes.sum(), 1.0) / max(g.mean(), 1e-6))
    return max(scores, key=scores.get)
