"""Where the data and the decoded caches live.

* Data root: the ``data_root`` argument when given, else ``$LMLE_DATA_ROOT``,
  else the repository's ``data/`` folder (whatever the current directory: notebooks run in
  ``notebooks/``). Each dataset sits below it in its official layout (see ``data/README.md``).
  :func:`locate_data_root` is the one resolver: the readers, the batch runner and the notebooks use it.
* Cache: ``$LMLE_CACHE_DIR`` when set, else ``~/.cache/lmle``; decoded arrays
  (CelebA crops, regenerated MNIST-rot-back-image) are stored there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional, Union

DATA_ROOT_ENV = "LMLE_DATA_ROOT"
CACHE_DIR_ENV = "LMLE_CACHE_DIR"
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "data"   # the repository's data/

# Sub-folders of the data root, one per dataset (official names).
DATASET_DIRS = {
    "celeba": "CelebA",
    "bsds500": "BSDS500",
    "mnist": "MNIST",
    "mnist_rot_back_image": "mnist_rotation_back_image",
}


class DataRoot(NamedTuple):
    given: str        # as written by the user (or the default's description)
    source: str       # where it came from: the argument's name, "$LMLE_DATA_ROOT" or "default"
    path: Path        # absolute, ``~`` expanded; existence is not checked


def locate_data_root(data_root: Optional[Union[str, "os.PathLike[str]"]] = None,
                     argument: str = "data_root") -> DataRoot:
    """The data root: the argument (named ``argument`` in :attr:`DataRoot.source`), else
    ``$LMLE_DATA_ROOT``, else the repository's ``data/``."""
    if data_root is not None and os.fspath(data_root) != "":
        given, source = os.fspath(data_root), argument
    elif os.environ.get(DATA_ROOT_ENV):
        given, source = os.environ[DATA_ROOT_ENV], f"${DATA_ROOT_ENV}"
    else:
        return DataRoot("./data", "default: ./data of the repository", DEFAULT_DATA_ROOT)
    return DataRoot(given, source, Path(os.path.abspath(os.path.expanduser(given))))


def resolve_data_root(data_root: Optional[Union[str, "os.PathLike[str]"]] = None) -> Path:
    """The absolute data root (:func:`locate_data_root`)."""
    return locate_data_root(data_root).path


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
