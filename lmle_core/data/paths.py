"""Where the data and the decoded caches live.

* Data root: the ``data_root`` argument when given, else ``$LMLE_DATA_ROOT``,
  else ``./data`` (relative to the current working directory). Each dataset
  sits below it in its official layout (see ``data/README.md``).
* Cache: ``$LMLE_CACHE_DIR`` when set, else ``~/.cache/lmle``; decoded arrays
  (CelebA crops, regenerated MNIST-rot-back-image) are stored there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

DATA_ROOT_ENV = "LMLE_DATA_ROOT"
CACHE_DIR_ENV = "LMLE_CACHE_DIR"
DEFAULT_DATA_ROOT = "data"

# Sub-folders of the data root, one per dataset (official names).
DATASET_DIRS = {
    "celeba": "CelebA",
    "bsds500": "BSDS500",
    "mnist": "MNIST",
    "mnist_rot_back_image": "mnist_rotation_back_image",
}


def resolve_data_root(data_root: Optional[Union[str, "os.PathLike[str]"]] = None) -> Path:
    """The data root: the argument, else ``$LMLE_DATA_ROOT``, else ``./data``.

    Returned as given (``~`` expanded); existence is not checked.
    """
    if data_root is not None and os.fspath(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return Path(DEFAULT_DATA_ROOT)


def dataset_dir(name: str, data_root=None) -> Path:
    """``<data root>/<official folder>`` of a dataset (e.g. ``data/CelebA``)."""
    return resolve_data_root(data_root) / DATASET_DIRS[name]


def cache_dir() -> Path:
    """``$LMLE_CACHE_DIR`` if set, else ``~/.cache/lmle``; created on demand (a folder that cannot be
    created is returned as it is: the cache's writers report it once and go on uncached)."""
    env = os.environ.get(CACHE_DIR_ENV)
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "lmle"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path
