"""The setup every study notebook starts with, in one call.

``setup("crl", "Class Rectification Loss (CRL) on CelebA", data_root, results_dir, device, use_run_cache)``
gives the absolute data root and results folder (:func:`~lmle_core.study.interactive.notebook_paths`:
the injected ones under ``run_all.sh``, the defaults when run by hand), the study's
:class:`~lmle_core.study.reporting.StudyReport`, the torch device and the run cache shared by the
attribute notebooks. A module of its own, not part of ``lmle_core.study``'s namespace: it brings torch,
which the batch runner does not need.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from lmle_core import runcache, search
from lmle_core.study.interactive import notebook_paths
from lmle_core.study.reporting import StudyReport

__all__ = ["NotebookSetup", "setup"]


class NotebookSetup(NamedTuple):
    data_root: str                           # absolute
    results_dir: str                         # absolute
    report: StudyReport
    device: Optional[torch.device]           # None when the notebook asked for none
    cache: Optional[runcache.RunCache]       # None when the notebook keeps no run cache


def setup(study: str, title: str, data_root: str = "", results_dir: str = "", device: Optional[str] = "auto",
          use_run_cache: Optional[bool] = None) -> NotebookSetup:
    """What a study notebook's first cell prepares; ``device=None``: no device, ``use_run_cache=None``: no cache."""
    data_root, results_dir = notebook_paths(data_root, results_dir, study)
    return NotebookSetup(data_root, results_dir, StudyReport(results_dir, title=title),
                         None if device is None else search.default_device(device),
                         None if use_run_cache is None else runcache.RunCache(enabled=use_run_cache))
