"""Outputs of the OFFICIAL BSDS500 MATLAB benchmark, to check an evaluator against.

Layout below the data root (not part of the official BSR download; see the datasets README)::

    BSDS500/reference/ucm2_test/eval_bdry.txt       best T, ODS R P F, OIS R P F, AP (Area_PR)
    BSDS500/reference/ucm2_test/eval_bdry_img.txt   per image: index, best T, R, P, F
    BSDS500/reference/ucm2_test/eval_bdry_thr.txt   per threshold: T, R, P, F
    BSDS500/reference/ucm2_test/image_order.txt     image ids, row i of eval_bdry_img = i-th id
    BSDS500/reference/ucm2_test/<id>.mat            gPb-owt-ucm ``ucm2`` maps (2H+1 x 2W+1) of some ids
    BSDS500/reference/bench_data/{png,ucm2,groundTruth}/  the benchmark's 5-image self-test
    BSDS500/reference/bench_data/test_<k>/eval_bdry*.txt  its expected outputs

The benchmark evaluates ``pb = ucm2(3:2:end, 3:2:end)`` (MATLAB), i.e. ``ucm2[2::2, 2::2]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd

from .bsds import read_ground_truth
from .errors import CorruptFileError, DatasetMissingError
from .paths import resolve_data_root

__all__ = ["BenchmarkOutput", "read_benchmark_output", "ucm2_to_pb", "load_ucm2_reference", "load_bench_data"]


@dataclass
class BenchmarkOutput:
    """One folder of official ``eval_bdry*.txt`` files."""

    totals: Dict[str, float]        # threshold, ods_recall, ods_precision, ods, ois_recall, ois_precision, ois, ap
    per_image: pd.DataFrame         # index image id (or row number): threshold, recall, precision, f
    per_threshold: pd.DataFrame     # threshold, recall, precision, f


@dataclass
class ReferenceSet:
    """Maps given with the official outputs, the images' ids and their ground truth."""

    predictions: Dict[str, np.ndarray]          # id -> pb map (float64 in [0, 1])
    ground_truth: Dict[str, List[np.ndarray]]   # id -> annotators' boundary maps
    official: BenchmarkOutput


def _missing(path: Path, what: str) -> DatasetMissingError:
    return DatasetMissingError("bsds500", path, hint=f"{what} (the official benchmark's outputs under "
                                                       "BSDS500/reference; see the datasets README)")


def _read_table(path: Path, n_cols: int) -> np.ndarray:
    if not path.is_file():
        raise _missing(path, "official benchmark output")
    try:
        arr = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise CorruptFileError(path, f"not a table of numbers ({exc})") from None
    if arr.shape[1] != n_cols:
        raise CorruptFileError(path, f"expected {n_cols} columns, found {arr.shape[1]}")
    return arr


def read_benchmark_output(folder, ids: List[str] = None) -> BenchmarkOutput:
    """Read ``eval_bdry.txt``, ``eval_bdry_img.txt``, ``eval_bdry_thr.txt`` of one output folder;
    ``ids`` names the rows of ``eval_bdry_img.txt`` (default: their 1-based row numbers)."""
    folder = Path(folder)
    tot = _read_table(folder / "eval_bdry.txt", 8)[0]
    img = _read_table(folder / "eval_bdry_img.txt", 5)
    thr = _read_table(folder / "eval_bdry_thr.txt", 4)
    names = ["threshold", "ods_recall", "ods_precision", "ods", "ois_recall", "ois_precision", "ois", "ap"]
    if ids is not None and len(ids) != len(img):
        raise CorruptFileError(folder / "eval_bdry_img.txt", f"{len(img)} rows for {len(ids)} image ids")
    index = pd.Index(list(ids) if ids is not None else [str(int(i)) for i in img[:, 0]], name="image")
    per_image = pd.DataFrame(img[:, 1:], index=index, columns=["threshold", "recall", "precision", "f"])
    per_thr = pd.DataFrame(thr, columns=["threshold", "recall", "precision", "f"])
    return BenchmarkOutput(dict(zip(names, map(float, tot))), per_image, per_thr)


def ucm2_to_pb(ucm2: np.ndarray) -> np.ndarray:
    """The benchmark's ``pb = ucm2(3:2:end, 3:2:end)`` of a double-resolution ucm2 map."""
    return np.asarray(ucm2, dtype=np.float64)[2::2, 2::2]


def _load_ucm2(path: Path) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(path, f"cannot read MATLAB file ({type(exc).__name__}: {exc})") from None
    if "ucm2" not in mat:
        raise CorruptFileError(path, "no variable 'ucm2'")
    return ucm2_to_pb(mat["ucm2"])


def load_ucm2_reference(data_root=None, max_images: int = None) -> ReferenceSet:
    """The gPb-owt-ucm maps given in ``reference/ucm2_test`` (in ``image_order.txt`` order), the test
    ground truth of those images, and the official outputs over all 200 test images."""
    root = resolve_data_root(data_root) / "BSDS500"
    ref = root / "reference" / "ucm2_test"
    order_file = ref / "image_order.txt"
    if not order_file.is_file():
        raise _missing(order_file, "image order of the official per-image outputs")
    order = [line.strip() for line in order_file.read_text().splitlines() if line.strip()]
    official = read_benchmark_output(ref, order)
    ids = [i for i in order if (ref / f"{i}.mat").is_file()][:max_images]
    if not ids:
        raise _missing(ref / "<id>.mat", "no ucm2 map of a test image")
    gt_dir = root / "data" / "groundTruth" / "test"
    preds, gts = {}, {}
    for i in ids:
        preds[i] = _load_ucm2(ref / f"{i}.mat")
        gt = gt_dir / f"{i}.mat"
        if not gt.is_file():
            raise _missing(gt, f"ground truth of test image {i}")
        gts[i] = read_ground_truth(gt)[0]
    return ReferenceSet(preds, gts, official)


def load_bench_data(data_root=None, test: str = "test_2") -> ReferenceSet:
    """The benchmark's 5-image self-test: ``test_2`` = the png boundary maps (5 thresholds in the
    official ``test_benchs.m``), ``test_1`` = the ucm2 maps (boundary part)."""
    from PIL import Image

    bench = resolve_data_root(data_root) / "BSDS500" / "reference" / "bench_data"
    if test not in ("test_1", "test_2"):
        raise ValueError(f"test must be 'test_1' (ucm2) or 'test_2' (png), got {test!r}")
    gt_dir = bench / "groundTruth"
    if not gt_dir.is_dir():
        raise _missing(gt_dir, "the benchmark self-test's ground truth")
    ids = sorted(p.stem for p in gt_dir.glob("*.mat"))
    preds = {}
    for i in ids:
        if test == "test_2":
            path = bench / "png" / f"{i}.png"
            if not path.is_file():
                raise _missing(path, "a png boundary map of the self-test")
            with Image.open(path) as im:
                preds[i] = np.asarray(im, dtype=np.float64) / 255.0
        else:
            preds[i] = _load_ucm2(bench / "ucm2" / f"{i}.mat")
    gts = {i: read_ground_truth(gt_dir / f"{i}.mat")[0] for i in ids}
    return ReferenceSet(preds, gts, read_benchmark_output(bench / test, ids))
