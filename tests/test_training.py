"""The training loop, the method registry and the end-to-end LMLE-vs-softmax check on real MNIST."""
import numpy as np
import pytest
import torch

from lmle_core import experiments, methods, training
from lmle_core.experiments import Budget, PreparedData, run_method
from lmle_core.imageset import ImageSet
from lmle_core.tasks import prepare_digits

TINY = dict(prior_iters=15, iters_per_round=6, max_rounds=2, patience=2, cluster_size=20, knn_k=5, lr=0.003)


@pytest.fixture(scope="module")
def digits():
    return prepare_digits(removal_percent=40, augment_factor=1, seed=0)


@pytest.mark.parametrize("method", ["Softmax", "Softmax+resample+cost", "Triplet+resample+cost",
                                    "Quintuplet", "Quintuplet+resample+cost"])
def test_every_method_trains_and_predicts(method, digits):
    res = run_method(method, digits, Budget(**TINY), progress=False, keep_embeddings=True)
    assert res.test_predictions.shape == (len(digits.test),)
    assert set(np.unique(res.test_predictions)) <= set(range(10))
    assert 0.0 <= res.balanced_accuracy <= 1.0 and len(res.history) == 2
    assert res.iterations == 12 and res.images_per_second > 0
    assert res.train_embeddings.shape == (len(digits.train), 64)
    np.testing.assert_allclose(np.linalg.norm(res.test_embeddings, axis=1), 1.0, rtol=1e-4)
    if method.startswith("Softmax"):
        assert res.clusters is None
    else:  # LMLE-kNN keeps the clusters its classifier searches
        assert res.clusters.centroids.shape[1] == 64


def test_all_methods_start_from_the_same_prior(digits):
    budget = Budget(**TINY)
    a, _ = experiments.softmax_prior(digits, budget, progress=False)
    b, _ = experiments.softmax_prior(digits, budget, progress=False)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert a is not b  # each method gets its own copy to train


def test_unknown_method_and_budget_are_named():
    with pytest.raises(KeyError, match="Quintuplet"):
        experiments.get_method("Quadruplet")
    with pytest.raises(ValueError, match="iters"):
        Budget.from_dict({"iters": 3})


def _model_and_task(digits, budget):
    net, _ = experiments.softmax_prior(digits, budget, progress=False)
    return experiments._image_model(net, digits, budget), experiments._task(digits, budget)


def test_early_stopping_keeps_the_best_round(digits, monkeypatch):
    scores = iter([0.5, 0.7, 0.6, 0.55])
    monkeypatch.setattr(training.loop.metrics, "balanced_accuracy", lambda *a: next(scores))
    budget = Budget(**{**TINY, "iters_per_round": 2, "max_rounds": 4, "patience": 1, "softmax_batch_size": 20})
    model, task = _model_and_task(digits, budget)
    res = training.train(model, task, methods.get_method("Softmax"), budget, progress=False)
    assert [h.val_balanced_accuracy for h in res.history] == [0.5, 0.7, 0.6]
    assert res.best_round == 2


def test_checkpoint_resumes_after_an_interruption(digits, tmp_path, monkeypatch):
    budget = Budget(**{**TINY, "iters_per_round": 3, "max_rounds": 2, "patience": 5})
    method = methods.get_method("Quintuplet+resample+cost")
    ckpt = tmp_path / "run.pt"
    calls = {"n": 0}
    real_step = type(method.objective).step

    def failing_step(self, batch):
        calls["n"] += 1
        if calls["n"] > 3:  # round 2 dies
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(type(method.objective), "step", failing_step)
    model, task = _model_and_task(digits, budget)
    with pytest.raises(KeyboardInterrupt):
        training.train(model, task, method, budget, progress=False, checkpoint=ckpt)
    assert ckpt.exists()
    monkeypatch.setattr(type(method.objective), "step", real_step)
    model2, _ = _model_and_task(digits, budget)
    res = training.train(model2, task, method, budget, progress=False, checkpoint=ckpt)
    assert [h.round for h in res.history] == [1, 2]  # round 1 came from the checkpoint
    assert res.rules is not None and len(res.rules) == 1
    with pytest.raises(ValueError, match="another method or budget"):
        training.train(model2, task, method, Budget(**{**budget.__dict__, "lr": 0.1}), progress=False,
                       checkpoint=ckpt)


def test_imageset_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 1, 4, 4), np.zeros(2))
    with pytest.raises(ValueError, match="labels"):
        ImageSet.from_numpy(np.zeros((3, 4, 4), np.uint8), [0, 1])


@pytest.mark.realdata
@pytest.mark.slow
def test_lmle_knn_beats_softmax_on_long_tailed_mnist(data_root):
    """Issue acceptance: MNIST with a strong imbalance (300 -> 6 images per class, a 50:1 ratio),
    same prior and same iterations for both; LMLE-kNN must beat softmax by at least one point
    of balanced accuracy (measured: 88.3% vs 85.8% with seed 0; +2.1 and +2.6 with seeds 1, 2)."""
    from lmle_core.data import load_mnist

    x, y = load_mnist(data_root, "train")
    xt, yt = load_mnist(data_root, "test")
    rng = np.random.default_rng(0)
    sizes = np.round(300 * 0.02 ** (np.arange(10) / 9)).astype(int)
    perm = {c: rng.permutation(np.flatnonzero(y == c)) for c in range(10)}
    tr = np.concatenate([perm[c][:n] for c, n in enumerate(sizes)])
    va = np.concatenate([perm[c][n:n + max(3, n // 4)] for c, n in enumerate(sizes)])
    te = rng.permutation(len(yt))[:2000]
    train = ImageSet.from_numpy(x[tr], y[tr])
    stats = dict(mean=train.mean, std=train.std)
    data = PreparedData("mnist-long-tail", "mnist", 10, train, ImageSet.from_numpy(x[va], y[va], **stats),
                        ImageSet.from_numpy(xt[te], yt[te], **stats))
    budget = Budget(prior_iters=100, iters_per_round=60, max_rounds=2, patience=2, cluster_size=30, knn_k=5,
                    lr=0.003, subset_fraction=0.5, seed=0)
    softmax = run_method("Softmax", data, budget, progress=False)
    lmle = run_method("Quintuplet+resample+cost", data, budget, progress=False)
    print(f"\nlong-tailed MNIST, balanced accuracy: softmax {softmax.balanced_accuracy:.4f}, "
          f"LMLE-kNN {lmle.balanced_accuracy:.4f} ({lmle.iterations} iterations each after the shared prior)")
    assert lmle.iterations == softmax.iterations == 120
    assert lmle.balanced_accuracy > softmax.balanced_accuracy + 0.01
