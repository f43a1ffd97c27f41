"""The notebooks' one setup call (lmle_core.study.session.setup)."""
import os
from pathlib import Path

import torch

from lmle_core.runcache import RunCache
from lmle_core.study.reporting import StudyReport
from lmle_core.study.session import setup


def test_setup_gives_what_the_cells_use(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLE_DATA_ROOT", str(tmp_path / "datasets"))
    monkeypatch.chdir(tmp_path)
    data_root, results_dir, report, dev, cache = setup("demo", "A demo", "", "out/demo", "cpu", use_run_cache=False)
    assert data_root == str(tmp_path / "datasets")          # the one resolver: $LMLE_DATA_ROOT here
    assert results_dir == str(tmp_path / "out" / "demo") and os.path.isabs(results_dir)
    assert isinstance(report, StudyReport) and report.title == "A demo" and Path(results_dir).is_dir()
    assert dev == torch.device("cpu")
    assert isinstance(cache, RunCache) and cache.enabled is False


def test_setup_without_device_or_cache(tmp_path):
    s = setup("demo", "A demo", str(tmp_path / "d"), str(tmp_path / "r"), device=None)
    assert s.device is None and s.cache is None and s.data_root == str(tmp_path / "d")
