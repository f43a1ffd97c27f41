"""nearest / farthest / kmeans against brute force, both backends, tiled and untiled."""
import numpy as np
import pytest
import torch

import lmle_core.search as search


@pytest.fixture(params=[None, (7, 13)])
def tile(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(search, "_tile_sizes", lambda device: request.param)


@pytest.mark.parametrize("k", [1, 4])
def test_nearest_and_farthest(k, search_backend, tile):
    rng = np.random.default_rng(k)
    db = rng.normal(size=(50, 3)).astype(np.float32) * 3
    q = rng.normal(size=(20, 3)).astype(np.float32)
    full = ((q[:, None, :].astype(np.float64) - db[None]) ** 2).sum(-1)
    d, i = search.nearest(q, db, k=k)
    np.testing.assert_array_equal(i.numpy(), np.argsort(full, 1)[:, :k])
    np.testing.assert_allclose(d.numpy(), np.sort(full, 1)[:, :k], rtol=1e-4, atol=1e-4)
    d, i = search.farthest(q, db, k=k)
    np.testing.assert_array_equal(i.numpy(), np.argsort(-full, 1)[:, :k])
    np.testing.assert_allclose(d.numpy(), -np.sort(-full, 1)[:, :k], rtol=1e-4, atol=1e-4)


def test_k_capped_and_errors():
    d, i = search.nearest(np.zeros((2, 2)), np.ones((3, 2)), k=10)
    assert i.shape == (2, 3)
    with pytest.raises(ValueError, match="d="):
        search.nearest(np.zeros((2, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="n_clusters"):
        search.kmeans(np.zeros((3, 2)), 4)


def test_kmeans_recovers_blobs(search_backend):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 4)) * 20
    x = np.concatenate([c + rng.normal(size=(80, 4)) for c in centers]).astype(np.float32)
    cents = search.kmeans(x, 5, seed=3).numpy()
    # each true center has a centroid within 1 unit
    d = ((centers[:, None] - cents[None]) ** 2).sum(-1)
    assert (np.sqrt(d.min(1)) < 1.0).all()


def test_backend_choice(monkeypatch):
    monkeypatch.setenv("LMLE_SEARCH_BACKEND", "torch")
    assert search.backend_for("cpu") == "torch"
    monkeypatch.setenv("LMLE_SEARCH_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="LMLE_SEARCH_BACKEND"):
        search.backend_for("cpu")
    monkeypatch.setenv("LMLE_SEARCH_BACKEND", "auto")
    assert search.backend_for(torch.device("cpu")) in ("faiss", "torch")
