"""The LMLE edge pipeline: patches on demand, channel features, costs, the dense (fully convolutional)
patch network, label transfer and the BSDS500 task (``realdata``)."""
import numpy as np
import pytest
import torch

from lmle_core import nets, sampling
from lmle_core.edges.features import channel_features, patch_descriptors
from lmle_core.edges.maps import LabelTransfer, dense_embeddings, fold_patches
from lmle_core.edges.patchset import PatchSet, gather_patches


def test_gather_patches_is_slicing():
    rng = np.random.default_rng(0)
    canvas = torch.from_numpy(rng.integers(0, 255, (3, 2, 30, 40), dtype=np.uint8))
    img, top, left = np.array([0, 2, 1]), np.array([0, 5, 19]), np.array([3, 31, 0])
    got = gather_patches(canvas, torch.as_tensor(img), torch.as_tensor(top), torch.as_tensor(left), 9)
    for b in range(3):
        assert torch.equal(got[b], canvas[img[b], :, top[b]:top[b] + 9, left[b]:left[b] + 9])
    got2 = gather_patches(canvas[:, 0], torch.as_tensor(img), torch.as_tensor(top), torch.as_tensor(left), 9)
    assert torch.equal(got2, got[:, 0])
    ps = PatchSet(canvas, img, top, left, np.array([0, 1, 1]), 9, (0.5, 0.5), (0.25, 0.25))
    assert len(ps) == 3 and ps.batch([2]).shape == (1, 2, 9, 9)
    assert torch.allclose(ps.batch([1]), (got[1:2].float() / 255 - 0.5) / 0.25)
    assert ps.subset([2, 0]).labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="outside"):
        PatchSet(canvas, img, top, left + 30, np.zeros(3), 9, (0.5,), (0.5,))


def test_positive_sharing_costs():
    y = np.array([0, 0, 0, 0, 0, 1, 2, 2, 3, 3])
    np.testing.assert_allclose(sampling.positive_sharing_costs(y, 0, 0.0), sampling.batch_costs(y))
    w = sampling.positive_sharing_costs(y, 0, 1.0)
    assert w.mean() == pytest.approx(1.0)
    big = sampling.positive_sharing_costs(y, 0, 1e9)  # -> only the super-classes: equal totals
    assert big[y == 0].sum() == pytest.approx(big[y != 0].sum(), rel=1e-6)
    # by hand: class costs 10 / (4 classes x size), super-class costs 10 / (2 x 5), averaged
    np.testing.assert_allclose(w[[0, 5, 6, 8]], [(0.5 + 1) / 2, (2.5 + 1) / 2, (1.25 + 1) / 2, (1.25 + 1) / 2])


def test_channel_features_and_descriptors():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)
    img[:, 30:] = 255 - img[:, 30:] // 4
    ch = channel_features(img)
    assert ch.shape == (13, 50, 60) and np.isfinite(ch).all()
    d = patch_descriptors(ch, np.array([25, 0]), np.array([30, 59]), patch=45, grid=5)
    assert d.shape == (2, 13 * 25)
    # the centre cell of the first patch is the 9x9 mean around (25, 30)
    centre = d[0].reshape(13, 5, 5)[:, 2, 2]
    np.testing.assert_allclose(centre, ch[:, 21:30, 26:35].mean((1, 2)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_dense_embeddings_equal_the_patch_network(stride):
    torch.manual_seed(0)
    net = nets.build_net("patch", 16, n_classes=5)
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (23, 30, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    emb, logits, grid = dense_embeddings(net, img, mean, std, stride=stride)
    assert grid == (-(-23 // stride), -(-30 // stride))
    padded = np.pad(img, ((22, 22), (22, 22), (0, 0)), mode="reflect")
    ys, xs = np.meshgrid(np.arange(grid[0]) * stride, np.arange(grid[1]) * stride, indexing="ij")
    patches = np.stack([padded[y:y + 45, x:x + 45] for y, x in zip(ys.ravel(), xs.ravel())])
    x = torch.from_numpy(patches.transpose(0, 3, 1, 2)).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(emb, net(x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(logits, net.logits(x), atol=1e-4, rtol=1e-4)


def test_fold_patches_centres_and_averages():
    grid, stride, L = (5, 6), 2, 5
    patches = torch.zeros(30, L * L)
    centre = torch.zeros(L, L)
    centre[L // 2, L // 2] = 1.0
    patches[:] = centre.reshape(-1)
    m = fold_patches(patches, grid, stride, (10, 12))
    on = torch.zeros(10, 12, dtype=torch.bool)
    on[::2, ::2] = True
    # a grid point gets its own patch's centre 1, averaged with the neighbours' zeros there
    assert (m[on] > 0).all() and (m[~on] == 0).all()
    flat = fold_patches(torch.full((30, L * L), 0.3), grid, stride, (10, 12))
    torch.testing.assert_close(flat, torch.full((10, 12), 0.3))


def test_label_transfer_averages_the_neighbours_patches():
    pts = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    q = torch.tensor([[0.9, 0.1], [-0.9, 0.2]])
    np.testing.assert_allclose(LabelTransfer("cluster", bank, pts, k=1).patches(q, None).numpy(),
                               [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(LabelTransfer("instance", bank, pts, k=2).patches(q, None).numpy(),
                               [[0.5, 0.5], [0.25, 0.75]])
    soft = LabelTransfer("softmax", bank).patches(q, torch.tensor([[0.0, 0.0, 0.0], [10.0, -10.0, -10.0]]))
    np.testing.assert_allclose(soft.numpy()[0], bank.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(soft.numpy()[1], bank[0].numpy(), atol=1e-3)


@pytest.mark.realdata
@pytest.mark.slow
def test_bsds_edge_task_trains_and_gives_maps(data_root):
    from lmle_core import experiments
    from lmle_core.data.bsds import load_bsds500
    from lmle_core.edges.maps import edge_maps, transfer_for
    from lmle_core.edges import prepare_bsds_edges

    torch.set_num_threads(1)
    test = load_bsds500(data_root, splits=("test",), max_per_split=1, progress=False)
    task = prepare_bsds_edges(data_root, n_patches=600, n_val_patches=200, n_test_patches=200, n_edge_classes=8,
                              label_size=9, max_train_images=6, max_val_images=2, test_images=test, progress=False)
    d = task.data
    assert d.n_classes == 9 and d.negative_class == 0
    y = d.train.labels
    assert abs((y == 0).mean() - 0.5) < 0.02                     # as many edge as non-edge patches
    assert set(np.unique(y)) == set(range(9))
    assert d.prior_features.shape == (len(y), 13 * 25)
    cp = task.class_patches
    assert cp[1:, 4, 4].min() > cp[0, 4, 4]                      # edge classes have an edge at the centre
    assert task.label_patches["train"].shape == (len(y), 9, 9)
    budget = experiments.Budget(prior_iters=3, iters_per_round=3, max_rounds=1, batch_size=10, softmax_batch_size=20,
                                cluster_size=20, knn_k=3, embedding_dim=8, positive_sharing=1.0)
    res = experiments.run_method("Quintuplet+resample+cost", d, budget, progress=False, keep_embeddings=True)
    assert 0.0 <= res.balanced_accuracy <= 1.0
    crop = {test[0].id: test[0].image[:40, :50]}
    for decision in ("cluster", "instance", "softmax"):
        maps = edge_maps(res.net, transfer_for(res, task, decision, k=3), crop, d.train.mean, d.train.std, stride=4)
        m = maps[test[0].id]
        assert m.shape == (40, 50) and 0.0 <= m.min() and m.max() <= 1.0


@pytest.mark.realdata
@pytest.mark.slow
def test_descriptor_task_trains_and_the_oracle_bounds_every_learned_map(data_root):
    """The CPU profiles' task (channel descriptors for the MLP) trains through the registry, and on a small
    case the oracle transfer (the true class's label patch at every grid point) is at least as good as
    every learned map."""
    from lmle_core import experiments
    from lmle_core.data.bsds import load_bsds500
    from lmle_core.edges import prepare_bsds_edges
    from lmle_core.edges.descriptor_net import FeatureSet
    from lmle_core.edges.diagnostics import oracle_maps
    from lmle_core.edges.features import FEATURE_DIM
    from lmle_core.edges.maps import edge_maps, finish_maps, transfer_for
    from lmle_core.metrics import evaluate_boundaries

    torch.set_num_threads(1)
    test = load_bsds500(data_root, splits=("test",), max_per_split=1, progress=False)
    im = test[0]
    im.image, im.boundaries = im.image[:96, :128].copy(), [b[:96, :128].copy() for b in im.boundaries]
    task = prepare_bsds_edges(data_root, n_patches=600, n_val_patches=200, n_test_patches=100, n_edge_classes=8,
                              label_size=9, max_train_images=6, max_val_images=2, test_images=test, progress=False,
                              inputs="descriptors")
    d = task.data
    assert d.net == "edge-descriptor" and isinstance(d.train, FeatureSet)
    assert d.train.features.shape == (len(d.train), FEATURE_DIM) and d.prior_features.shape == (len(d.train), 13 * 25)
    # the prior features are the standardised, L2-normalised first block of the descriptors
    z = (d.train.features[:, :325].numpy() - task.prior_stats[0]) / task.prior_stats[1]
    np.testing.assert_allclose(d.prior_features, z / np.linalg.norm(z, axis=1, keepdims=True), rtol=1e-4, atol=1e-5)
    budget = experiments.Budget(prior_iters=20, iters_per_round=20, max_rounds=1, batch_size=10, softmax_batch_size=40,
                                cluster_size=20, knn_k=3, embedding_dim=8, positive_sharing=1.0)
    images, gts = {im.id: im.image}, {im.id: im.boundaries}
    scores = {}
    for name in ("Softmax", "Quintuplet+resample+cost"):
        res = experiments.run_method(name, d, budget, progress=False, keep_embeddings=True)
        for decision in (("softmax",) if name == "Softmax" else ("cluster", "instance")):
            maps = edge_maps(res.net, transfer_for(res, task, decision, k=3), images, d.train.mean, d.train.std, stride=2)
            assert maps[im.id].shape == (96, 128)
            scores[f"{name} {decision}"] = evaluate_boundaries(maps, gts, thresholds=9, workers=1).ods
    oracle = evaluate_boundaries(finish_maps(oracle_maps(gts, task, stride=2)), gts, thresholds=9, workers=1).ods
    assert oracle >= max(scores.values()), (oracle, scores)
