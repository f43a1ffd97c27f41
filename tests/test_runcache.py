"""The run cache: equal keys give the stored result, any changed key (data, method, budget, code) retrains."""
import numpy as np
import pytest
import torch

from lmle_core import experiments, runcache
from lmle_core.imageset import ImageSet


def test_get_or_compute_keys(tmp_path, monkeypatch):
    cache = runcache.RunCache(tmp_path)
    calls = []

    def compute(v):
        return lambda: calls.append(v) or {"value": v, "tensor": torch.arange(3)}

    first, hit = cache.get_or_compute({"data": "d1", "method": "m"}, compute(1))
    assert not hit and calls == [1]
    again, hit = cache.get_or_compute({"method": "m", "data": "d1"}, compute(2))   # key order does not matter
    assert hit and calls == [1] and again["value"] == 1 and torch.equal(again["tensor"], torch.arange(3))
    for parts in ({"data": "d2", "method": "m"}, {"data": "d1", "method": "m2"}, {"data": "d1", "method": "m", "lr": 0.1}):
        _, hit = cache.get_or_compute(parts, compute(3))
        assert not hit
    monkeypatch.setattr(runcache, "code_fingerprint", lambda: "changed code")
    _, hit = cache.get_or_compute({"data": "d1", "method": "m"}, compute(4))
    assert not hit and calls == [1, 3, 3, 3, 4]
    # a damaged entry is a miss, recomputed and replaced
    monkeypatch.undo()
    cache.path(cache.key({"data": "d1", "method": "m"})).write_bytes(b"not a torch file")
    value, hit = cache.get_or_compute({"data": "d1", "method": "m"}, compute(5))
    assert not hit and value["value"] == 5
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_same_size_overwrite_is_recomputed(tmp_path, capsys):
    """Issue 21: a same-size byte overwrite of a stored .pt was served (Male / Softmax 56.47 -> 50.00)."""
    cache = runcache.RunCache(tmp_path)
    stored = {"predictions": np.arange(100, dtype=np.int64)}
    cache.get_or_compute({"m": 1}, lambda: stored)
    path = cache.path(cache.key({"m": 1}))
    data = bytearray(path.read_bytes())
    pos = data.find(np.arange(100, dtype=np.int64).tobytes()[8 * 40:8 * 41])  # the stored value 40
    assert pos > 0
    data[pos] ^= 0x01  # 40 -> 41, same size, still a valid torch file
    path.write_bytes(bytes(data))
    capsys.readouterr()
    value, hit = cache.get_or_compute({"m": 1}, lambda: {"predictions": np.arange(100, dtype=np.int64)})
    assert not hit and value["predictions"][40] == 40
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(path) in err[0] and "does not match its recorded sha256" in err[0]
    _, hit = cache.get_or_compute({"m": 1}, lambda: pytest.fail("recomputed a repaired entry"))
    assert hit


def test_damaged_description_is_recomputed(tmp_path, capsys):
    cache = runcache.RunCache(tmp_path)
    cache.get_or_compute({"m": 1}, lambda: 1)
    meta = cache.path(cache.key({"m": 1})).with_suffix(".json")
    meta.write_text("{ not json")
    value, hit = cache.get_or_compute({"m": 1}, lambda: 2)
    assert (value, hit) == (2, False)
    assert str(meta) in capsys.readouterr().err


def test_unwritable_cache_folder_is_said_once_and_work_goes_on(tmp_path, capsys, monkeypatch):
    from lmle_core.data import cache as _cache

    monkeypatch.setattr(_cache, "_UNWRITABLE_SEEN", set())
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("LMLE_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    cache = runcache.RunCache()
    assert cache.get_or_compute({"m": 1}, lambda: 1) == (1, False)
    assert cache.get_or_compute({"m": 2}, lambda: 2) == (2, False)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: cannot write the cache folder {blocker / 'cache' / 'runs'}")


def test_disabled_cache_stores_nothing(tmp_path):
    cache = runcache.RunCache(tmp_path / "c", enabled=False)
    assert cache.get_or_compute({"a": 1}, lambda: 1) == (1, False)
    assert cache.get_or_compute({"a": 1}, lambda: 2) == (2, False)
    assert not (tmp_path / "c").exists()


def test_fingerprints():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert runcache.array_fingerprint(a) == runcache.array_fingerprint(torch.as_tensor(a))
    b = a.copy()
    b[1, 2] += 1
    assert runcache.array_fingerprint(a) != runcache.array_fingerprint(b)
    assert runcache.array_fingerprint(a) != runcache.array_fingerprint(a.reshape(4, 3))
    assert len(runcache.code_fingerprint()) == 20


def attribute_data(seed=0, n=(40, 16, 16)):
    rng = np.random.default_rng(seed)
    sets = {}
    for split, k in zip(("train", "val", "test"), n):
        labels = (rng.random((k, 2)) < [0.5, 0.25]).astype(np.int64)
        images = rng.integers(0, 256, (k, 55, 47, 3), dtype=np.uint8)
        images[labels[:, 0] == 1, :10] = 255  # something to learn
        sets[split] = ImageSet.from_numpy(images, labels, name=split)
    return experiments.PreparedData(name="synthetic-attributes", net="face", n_classes=2, tasks=["A", "B"], **sets)


@pytest.mark.slow
def test_attribute_runs_reuse_the_cache(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    data = attribute_data()
    budget = experiments.Budget.from_dict(dict(prior_iters=2, prior_batch_size=8, iters_per_round=2, max_rounds=1,
                                               batch_size=4, softmax_batch_size=8, cluster_size=5, knn_k=3,
                                               feature_dim=16, head_hidden=8, embedding_dim=4))
    cache = runcache.RunCache(tmp_path)
    run = lambda name, b=budget, d=data: experiments.run_method(name, d, b, progress=False, cache=cache)  # noqa: E731
    first = run("LMLE")
    assert not first.from_cache
    second = run("LMLE")
    assert second.from_cache and np.array_equal(first.test_predictions, second.test_predictions)
    assert run("LMLE (instance-wise kNN)").from_cache      # same training, another decision
    assert run("LMLE-kNN").from_cache                      # Table 2's name of the same method
    assert not run("Triplet-kNN").from_cache               # another method
    assert not run("LMLE", b=experiments.Budget(**{**budget.__dict__, "lr": 0.02})).from_cache   # another budget
    edited = attribute_data()
    edited.train.labels[0, 1] ^= 1
    assert not run("LMLE", d=edited).from_cache           # one label changed
    monkeypatch.setattr(runcache, "code_fingerprint", lambda: "other code")
    assert not run("LMLE").from_cache                     # the core's code changed


def test_single_label_runs_are_shared_through_the_cache(tmp_path):
    """Issue 21: Table 5, the head-to-head's MNIST part and the embedding figure train the same nets;
    with a cache the second call reads the first's result (same numbers), another budget retrains."""
    from lmle_core.tasks import prepare_digits
    data = prepare_digits(removal_percent=40, augment_factor=1, seed=0)
    budget = experiments.Budget(prior_iters=10, iters_per_round=4, max_rounds=1, cluster_size=20, knn_k=5, lr=0.003)
    cache = runcache.RunCache(tmp_path)
    first = experiments.run_method("Quintuplet", data, budget, progress=False, cache=cache)
    again = experiments.run_method("Quintuplet", data, budget, progress=False, cache=cache)
    assert (first.from_cache, again.from_cache) == (False, True) and (cache.hits, cache.misses) == (1, 1)
    assert again.balanced_accuracy == first.balanced_accuracy
    np.testing.assert_array_equal(again.test_predictions, first.test_predictions)
    np.testing.assert_array_equal(again.test_scores, first.test_scores)
    # the uncached path computes the same result
    plain = experiments.run_method("Quintuplet", data, budget, progress=False)
    np.testing.assert_array_equal(plain.test_predictions, first.test_predictions)
    other = experiments.run_method("Quintuplet", data, experiments.Budget(**{**budget.__dict__, "knn_k": 3}),
                                   progress=False, cache=cache)
    assert not other.from_cache and cache.misses == 2
