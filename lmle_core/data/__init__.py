"""Dataset readers of the LMLE / CRL study: official layouts, a data root, decoded caches.

Data root: the ``data_root`` argument, else ``$LMLE_DATA_ROOT``, else ``./data``
(see ``data/README.md`` for the layouts and the download commands).

Modules (one concept each):

* ``paths``: data root and cache folder; ``errors``: DatasetMissingError / CorruptFileError;
* ``availability``: cheap presence checks of every dataset;
* ``celeba`` (+ ``celeba_anno``), ``bsds``, ``mnist``, ``mnist_rot_back`` (+ ``rot_back_regen``): readers and loaders;
* ``cache`` (used by ``runcache`` too), ``_fileio``, ``_affine``: decoded-array cache, plain-or-gzip files, batched affine warps;
* ``imbalance``: the Gaussian-like class removal of the MNIST control experiment (Table 5);
* ``augment``: the 10x rotation / mirroring / resizing augmentation of digits;
* ``download``: ``python -m lmle_core.data.download <name> --root DIR``.
"""

from .augment import augment_composited, augment_digits
from .availability import DATASET_NAMES, DatasetStatus, check_all, check_dataset
from .bsds import BSDSImage, bsds500_ids, load_bsds500, load_bsds500_images, read_ground_truth
from .celeba import CROP_BOX, CelebA, load_celeba, read_attributes, read_identities, read_partition
from .errors import CorruptFileError, DatasetMissingError, download_command
from .imbalance import (class_counts, gaussian_keep_fractions, imbalance_table, remove_gaussian_like,
                        steep_keep_fractions)
from .mnist import load_mnist, read_idx
from .mnist_rot_back import (
    Provenance,
    RotBackImage,
    load_mnist_rot_back_image,
    read_amat,
    regenerate_rot_back_image,
)
from .paths import cache_dir, resolve_data_root

__all__ = [
    "resolve_data_root",
    "cache_dir",
    "DatasetMissingError",
    "CorruptFileError",
    "download_command",
    "DATASET_NAMES",
    "DatasetStatus",
    "check_dataset",
    "check_all",
    "CROP_BOX",
    "CelebA",
    "read_attributes",
    "read_partition",
    "read_identities",
    "load_celeba",
    "BSDSImage",
    "read_ground_truth",
    "load_bsds500",
    "load_bsds500_images",
    "bsds500_ids",
    "read_idx",
    "load_mnist",
    "RotBackImage",
    "Provenance",
    "read_amat",
    "regenerate_rot_back_image",
    "load_mnist_rot_back_image",
    "gaussian_keep_fractions",
    "remove_gaussian_like",
    "steep_keep_fractions",
    "class_counts",
    "imbalance_table",
    "augment_composited",
    "augment_digits",
]
