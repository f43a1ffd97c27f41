"""Where a notebook reads and writes when it is run by hand (JupyterLab) rather than by run_all.sh.

``run_all.sh`` injects ``data_root`` and ``results_dir``; a notebook opened by hand keeps its
parameters cell's empty defaults, and :func:`notebook_paths` fills them the way run_all.sh would:
the data root from ``$LMLE_DATA_ROOT`` (else the repository's ``data/``), the results under
``results/interactive/<study>/``, never over a profile's committed results.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

from lmle_core.data.paths import resolve_data_root
from lmle_core.study.provenance import REPO_ROOT

__all__ = ["notebook_paths"]


def notebook_paths(data_root: str, results_dir: str, study: str) -> Tuple[str, str]:
    """(data root, results folder), both absolute: the given ones, else the defaults above."""
    results = results_dir or str(REPO_ROOT / "results" / "interactive" / study)
    return str(resolve_data_root(data_root)), os.path.abspath(os.path.expanduser(results))
