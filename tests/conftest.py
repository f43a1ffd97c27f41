"""Shared test settings: small thread count, data root from the environment."""
import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(params=["torch", "faiss"])
def search_backend(request, monkeypatch):
    """Run a test under both nearest-neighbour backends (faiss skipped when absent)."""
    if request.param == "faiss":
        pytest.importorskip("faiss")
    monkeypatch.setenv("LMLE_SEARCH_BACKEND", request.param)
    return request.param


@pytest.fixture
def data_root():
    root = os.environ.get("LMLE_DATA_ROOT")
    if not root:
        pytest.skip("LMLE_DATA_ROOT is not set: real-data test skipped")
    return root
