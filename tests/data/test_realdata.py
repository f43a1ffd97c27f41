"""Integration tests on the real datasets under $LMLE_DATA_ROOT (skipped when unset).

The first CelebA decode and the MNIST-rot-back-image regeneration take a few
seconds; both are cached under $LMLE_CACHE_DIR (default ~/.cache/lmle).
"""

import warnings

import numpy as np
import pytest

from lmle_core import data as D

pytestmark = pytest.mark.realdata


def _need(name, root):
    st = D.check_dataset(name, root)
    if not st.available:
        pytest.skip(f"{name} not under LMLE_DATA_ROOT: {st.message.splitlines()[0]}")


def test_celeba_subset_counts(real_root):
    _need("celeba", real_root)
    d = D.load_celeba(real_root, progress=False)
    assert d.counts() == {"train": 12000, "val": 4535, "test": 4640}
    assert d.images.shape == (21175, 55, 47, 3) and d.images.dtype == np.uint8
    assert d.attributes.shape == (21175, 40) and set(np.unique(d.attributes)) <= {0, 1}
    assert len(d.attribute_names) == 40 and d.attribute_names[0] == "5_o_Clock_Shadow"
    assert d.n_annotated == 202599
    assert (d.identity > 0).all()
    train = d.subset("train")
    assert len(train) == 12000 and len(np.unique(train.identity)) == 2400
    rate = d.positive_rate()
    assert 0.0 < rate.min() and rate.max() < 1.0
    again = D.load_celeba(real_root, progress=False)  # cache hit
    np.testing.assert_array_equal(np.asarray(again.images[::997]), np.asarray(d.images[::997]))


def test_bsds500_counts_and_annotators(real_root):
    _need("bsds500", real_root)
    with warnings.catch_warnings():
        # quarter-turned jpgs are turned back with a warning (the shared copy has 63; see lmle_core.data.bsds)
        warnings.simplefilter("ignore", UserWarning)
        items = D.load_bsds500(real_root, progress=False)
    counts = {s: sum(x.split == s for x in items) for s in ("train", "val", "test")}
    assert counts == {"train": 200, "val": 100, "test": 200}
    for x in items:
        assert 4 <= x.n_annotators <= 9
        assert x.image.dtype == np.uint8 and x.image.ndim == 3
        for b in x.boundaries:
            assert b.shape == x.image.shape[:2] and b.dtype == bool
    test_ids = [x.id for x in items if x.split == "test"]
    assert test_ids == sorted(test_ids)


def test_mnist_counts(real_root):
    _need("mnist", real_root)
    x, y = D.load_mnist(real_root, "train")
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    xt, yt = D.load_mnist(real_root, "test")
    assert xt.shape == (10000, 28, 28) and set(np.unique(yt)) == set(range(10))


def test_rot_back_image(real_root):
    st = D.check_dataset("mnist_rot_back_image", real_root)
    if not (st.available or st.can_regenerate):
        pytest.skip("neither the official .amat files nor MNIST + BSDS500 are under LMLE_DATA_ROOT")
    d = D.load_mnist_rot_back_image(real_root, progress=False)
    assert d.counts() == {"train": 12000, "test": 50000}
    assert d.train_images.shape == (12000, 28, 28) and d.train_images.dtype == np.uint8
    assert set(np.unique(d.train_labels)) == set(range(10)) and set(np.unique(d.test_labels)) == set(range(10))
    if not st.available:
        assert len(d.background_ids) == 20 and "seed 0" in d.source
        assert not set(d.train_provenance.mnist_index) & set(d.test_provenance.mnist_index)
        assert d.train_provenance.mnist_index.max() < 60000



def _black_corner_share(images: np.ndarray) -> float:
    """Share of images with a fully black 3x3 block in one of their four corners."""
    c = np.stack([images[:, :3, :3], images[:, :3, -3:], images[:, -3:, :3], images[:, -3:, -3:]], 1)
    return float((c.reshape(len(images), 4, -1).max(-1) == 0).any(1).mean())


def test_clean_augmentation_has_no_black_corners_that_test_digits_lack(real_root):
    st = D.check_dataset("mnist_rot_back_image", real_root)
    if not (st.available or st.can_regenerate):
        pytest.skip("neither the official .amat files nor MNIST + BSDS500 are under LMLE_DATA_ROOT")
    from lmle_core import tasks

    kw = dict(removal_percent=40, n_train=1500, n_test=2000, augment_factor=4, progress=False)
    clean = tasks.prepare_mnist_rot_back(real_root, augmentation="clean", **kw)
    padded = tasks.prepare_mnist_rot_back(real_root, augmentation="zero-padded", **kw)
    test = clean.test.images[:, 0].numpy()
    n = int((clean.train_groups == clean.train_groups[0]).sum())  # copies per digit
    copies = clean.train.images[len(clean.train) // n:, 0].numpy()   # the augmented copies (copy 0 is the original)
    assert _black_corner_share(test) <= 0.01
    assert _black_corner_share(padded.train.images[len(padded.train) // n:, 0].numpy()) > 0.5  # the artefact
    assert _black_corner_share(copies) <= _black_corner_share(test) + 0.01
    # same digits, labels and groups either way: only the pixels of the copies differ
    np.testing.assert_array_equal(clean.train.labels, padded.train.labels)
    np.testing.assert_array_equal(clean.train_groups, padded.train_groups)


def test_rot_back_sources_rebuild_each_regenerated_image(real_root):
    """max(the bare digit rotated by its recorded angle, its recorded patch) is the dataset's image."""
    st = D.check_dataset("mnist_rot_back_image", real_root)
    if st.available or not st.can_regenerate:
        pytest.skip("needs regenerated MNIST-rot-back-image (MNIST + BSDS500, no .amat)")
    from lmle_core.data._affine import inverse_matrices, to_uint8, warp
    from lmle_core.data.mnist_rot_back import rot_back_sources

    d = D.load_mnist_rot_back_image(real_root, progress=False)
    digits, backgrounds = rot_back_sources(d, real_root)
    p, rows = d.train_provenance, np.arange(0, 12000, 397)
    rotated = to_uint8(warp(digits[rows], inverse_matrices(p.angle[rows].astype(np.float64))))
    from lmle_core.data.rot_back_regen import as_gray_uint8

    patches = np.stack([as_gray_uint8(backgrounds[b], 0)[y:y + 28, x:x + 28]
                        for b, (y, x) in zip(p.background_index[rows], p.patch_yx[rows])])
    np.testing.assert_array_equal(np.maximum(rotated, patches), d.train_images[rows])
