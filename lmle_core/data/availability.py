"""Cheap checks of which datasets are present under the data root.

Only the key files and folders of each official layout are looked for; no
file is read:

* ``celeba``: ``CelebA/Anno/list_attr_celeba.txt[.gz]``,
  ``CelebA/Eval/list_eval_partition.txt[.gz]`` and at least one jpg in
  ``CelebA/img_align_celeba``;
* ``bsds500``: ``BSDS500/data/images/{train,val,test}`` and
  ``BSDS500/data/groundTruth/{train,val,test}``;
* ``mnist``: ``MNIST/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
* ``mnist_rot_back_image``: ``mnist_rotation_back_image/
  mnist_all_background_images_rotation_normalized_{train_valid,test}.amat``
  (when absent, ``can_regenerate`` says whether MNIST and BSDS500 are there
  to regenerate it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from .errors import DatasetMissingError, download_command
from .paths import resolve_data_root

__all__ = ["DATASET_NAMES", "DatasetStatus", "check_dataset", "check_all"]

DATASET_NAMES = ("celeba", "bsds500", "mnist", "mnist_rot_back_image")


@dataclass
class DatasetStatus:
    name: str
    available: bool
    message: str
    download_command: str
    missing: Optional[str] = None  # the first missing file or folder
    can_regenerate: Optional[bool] = None  # mnist_rot_back_image only

    def __bool__(self) -> bool:
        return self.available

    def skip_reason(self, part: str) -> str:
        """One line for a study that runs without this dataset: ``"<part> skipped: missing <file>
        (<hint>); get it with: <command>"`` (``part`` e.g. "CelebA part")."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        what = lines[0].split(":", 1)[1].strip() if lines and lines[0].startswith(f"{self.name}:") else \
            (lines[0] if lines else "not available")
        hint = lines[1] if len(lines) > 1 and not lines[1].startswith(("Get the data", "(the data root")) else ""
        return (f"{part} skipped: {what}" + (f" {hint}" if hint else "")
                + (f"; get it with: {self.download_command}" if self.download_command else ""))


def _has_jpg(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(e.name.lower().endswith(".jpg") for e in it)
    except OSError:
        return False


def _check_celeba(root: Path) -> str:
    from .celeba import celeba_paths

    p = celeba_paths(root)
    if not _has_jpg(p["images"]):
        raise DatasetMissingError("celeba", p["images"] / "*.jpg", download_command("celeba", root), hint="no jpg found")
    return f"CelebA: annotations and images found in {p['base']}"


def _check_bsds(root: Path) -> str:
    base = root / "BSDS500" / "data"
    for kind in ("images", "groundTruth"):
        for split in ("train", "val", "test"):
            d = base / kind / split
            if not d.is_dir():
                raise DatasetMissingError("bsds500", d, download_command("bsds500", root))
    return f"BSDS500: images and groundTruth folders found in {base}"


def _check_mnist(root: Path) -> str:
    from .mnist import mnist_files

    for split in ("train", "test"):
        mnist_files(root, split)
    return f"MNIST: the four idx files found in {root / 'MNIST'}"


def _check_rot_back(root: Path) -> str:
    from .mnist_rot_back import AMAT_DIR, AMAT_FILES, rot_back_official_files

    if rot_back_official_files(root) is None:
        raise DatasetMissingError(
            "mnist_rot_back_image", root / AMAT_DIR / AMAT_FILES["train"], download_command("mnist_rot_back_image", root)
        )
    return f"MNIST-rot-back-image: official .amat files found in {root / AMAT_DIR}"


_CHECKS = {
    "celeba": _check_celeba,
    "bsds500": _check_bsds,
    "mnist": _check_mnist,
    "mnist_rot_back_image": _check_rot_back,
}


def check_dataset(name: str, data_root=None) -> DatasetStatus:
    """Whether dataset ``name`` is present under the data root (no file is read)."""
    if name not in _CHECKS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
    root = resolve_data_root(data_root)
    cmd = download_command(name, root)
    try:
        msg = _CHECKS[name](root)
        return DatasetStatus(name, True, msg, cmd)
    except DatasetMissingError as exc:
        status = DatasetStatus(name, False, str(exc), cmd, missing=str(exc.path))
    if name == "mnist_rot_back_image":
        regen = check_dataset("mnist", root).available and check_dataset("bsds500", root).available
        status.can_regenerate = regen
        status.message += (
            "\nIt can be regenerated from MNIST + BSDS500, which are present."
            if regen
            else "\nRegenerating it needs MNIST and BSDS500, which are not both present."
        )
    return status


def check_all(data_root=None) -> Dict[str, DatasetStatus]:
    """:func:`check_dataset` for every name in :data:`DATASET_NAMES`."""
    return {n: check_dataset(n, data_root) for n in DATASET_NAMES}
