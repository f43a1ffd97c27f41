"""nearest / farthest / kmeans against brute force, both backends, tiled and untiled."""
import numpy as np
import pytest
import torch

import lmle_core.search as search


@pytest.fixture(params=[None, (7, 13)])
def tile(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(search, "tile_sizes", lambda device: request.param)


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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_named(bad, search_backend):
    """Issue 21: NaN / inf went through faiss and torch and gave arbitrary neighbours."""
    x = np.zeros((5, 2), np.float32)
    x[3, 1] = bad
    ok = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"^queries holds 1 non-finite values"):
        search.nearest(x, ok)
    with pytest.raises(ValueError, match=r"^database holds 1 non-finite values"):
        search.farthest(ok, x)
    with pytest.raises(ValueError, match=r"^x holds 1 non-finite values"):
        search.kmeans(x, 2)
    with pytest.raises(ValueError, match=r"^features holds 1 non-finite"):
        search.as_float_tensor(torch.as_tensor(x))


def test_bad_search_arguments_are_named():
    with pytest.raises(ValueError, match=r"^queries must be a numeric \(n, d\) array"):
        search.nearest([["a", "b"]], np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^database is empty"):
        search.nearest(np.zeros((2, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"^k must be a positive integer, got 2.5"):
        search.nearest(np.zeros((2, 2)), np.ones((3, 2)), k=2.5)
    with pytest.raises(ValueError, match=r"^x is empty"):
        search.kmeans(np.zeros((0, 2)), 1)
    with pytest.raises(ValueError, match=r"^n_clusters must be a positive integer, got 1.5"):
        search.kmeans(np.zeros((3, 2)), 1.5)
    with pytest.raises(ValueError, match=r"^features: expected a 2-D"):
        search.as_float_tensor(np.zeros(3))
