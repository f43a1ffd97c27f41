import numpy as np
import pytest

from lmle_core.data import (
    CorruptFileError,
    DatasetMissingError,
    load_mnist_rot_back_image,
    read_amat,
    regenerate_rot_back_image,
)
from lmle_core.data import mnist_rot_back as rb
from lmle_core.data._affine import inverse_matrices, to_uint8, warp


def test_read_amat_hand_written(tmp_path):
    rows = []
    for r, label in enumerate([3, 0, 9]):
        pix = ["0"] * 784
        pix[1] = "1.000000000000000000e+00"  # row 0, column 1
        pix[28 * (r + 2)] = "5.000000000000000000e-01"  # row r+2, column 0
        rows.append("   ".join(pix) + f"  {label}.000000000000000000e+00")
    p = tmp_path / "three.amat"
    p.write_text("\n".join(rows) + "\n")
    x, y = read_amat(p)
    assert x.shape == (3, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [3, 0, 9]
    assert x[0, 0, 1] == 1.0 and x[0, 1, 0] == 0.0  # row-major
    assert x[2, 4, 0] == 0.5 and x.sum() == pytest.approx(3 * 1.5)
    xt, _ = read_amat(p, transpose=True)
    assert xt[0, 1, 0] == 1.0


@pytest.mark.parametrize(
    "row,problem",
    [
        (" ".join(["0"] * 784), "fewer than 785 numbers"),
        (" ".join(["0"] * 784) + " 3.5", "not an integer"),
        (" ".join(["0"] * 783 + ["2.0"]) + " 3", "outside [0, 1]"),
    ],
)
def test_read_amat_corrupt(tmp_path, row, problem):
    good = " ".join(["0"] * 784) + " 1"
    p = tmp_path / "bad.amat"
    p.write_text(good + "\n" + good + "\n" + row + "\n")
    with pytest.raises(CorruptFileError) as ei:
        read_amat(p)
    assert "bad.amat" in str(ei.value) and problem in str(ei.value)


def test_read_amat_ragged_row_names_file(tmp_path):
    p = tmp_path / "ragged.amat"
    p.write_text(" ".join(["0"] * 785) + "\n" + " ".join(["0"] * 786) + "\n")
    with pytest.raises(CorruptFileError, match="ragged.amat"):
        read_amat(p)


def test_warp_exact_quarter_and_half_turns():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(warp(x, inverse_matrices(np.zeros(3)))), x)
    np.testing.assert_array_equal(to_uint8(warp(x, inverse_matrices(np.full(3, np.pi)))), x[:, ::-1, ::-1])
    np.testing.assert_array_equal(to_uint8(warp(x, inverse_matrices(np.full(3, np.pi / 2)))), np.rot90(x, 1, axes=(1, 2)))


def _inputs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    digits = np.zeros((n, 28, 28), np.uint8)
    digits[:, 6:22, 12:16] = rng.integers(128, 256, (n, 1, 1), dtype=np.uint8)
    digits[:10] = 0  # blank digits: output must equal the background patch
    labels = rng.integers(0, 10, n)
    textured = [rng.integers(0, 256, (40 + 10 * k, 50), dtype=np.uint8) for k in range(3)]
    flat = np.full((60, 60), 128, np.uint8)  # every patch of it has std 0: always rejected
    return digits, labels, textured + [flat]


def test_regeneration_contract():
    digits, labels, bgs = _inputs()
    d = regenerate_rot_back_image(digits, labels, bgs, n_train=50, n_test=120, seed=3, train_pool_size=200,
                                  background_ids=["a", "b", "c", "flat"])
    assert d.train_images.shape == (50, 28, 28) and d.test_images.shape == (120, 28, 28)
    assert d.train_images.dtype == np.uint8 and d.test_images.dtype == np.uint8
    tr, te = d.train_provenance, d.test_provenance
    # disjoint MNIST sources; train only from the train pool
    assert len(set(tr.mnist_index) & set(te.mnist_index)) == 0
    assert len(set(tr.mnist_index)) == 50 and len(set(te.mnist_index)) == 120
    assert tr.mnist_index.max() < 200
    np.testing.assert_array_equal(d.train_labels, labels[tr.mnist_index])
    np.testing.assert_array_equal(d.test_labels, labels[te.mnist_index])
    assert ((tr.angle >= 0) & (tr.angle < 2 * np.pi)).all()
    assert 3 not in set(tr.background_index) | set(te.background_index)  # the flat image never used
    assert "regenerated from MNIST (seed 3)" in d.source and "a, b, c, flat" in d.source
    # pixel = max(digit, background), checked on every example
    for images, prov in ((d.train_images, tr), (d.test_images, te)):
        patches = np.stack(
            [bgs[b][y : y + 28, x : x + 28] for b, (y, x) in zip(prov.background_index, prov.patch_yx)]
        )
        assert (patches.reshape(len(patches), -1).std(axis=1) / 255 >= rb.MIN_PATCH_STD).all()
        assert (images >= patches).all()
        blank = prov.mnist_index < 10
        np.testing.assert_array_equal(images[blank], patches[blank])
        rot = to_uint8(warp(digits[prov.mnist_index], inverse_matrices(prov.angle.astype(np.float64))))
        np.testing.assert_array_equal(images, np.maximum(rot, patches))
        # the rotated bar keeps (roughly) its mass
        assert abs(rot.astype(float).sum() / digits[prov.mnist_index].astype(float).sum() - 1) < 0.05


def test_regeneration_determinism():
    digits, labels, bgs = _inputs()
    kw = dict(n_train=40, n_test=100, train_pool_size=200)
    a = regenerate_rot_back_image(digits, labels, bgs, seed=0, **kw)
    b = regenerate_rot_back_image(digits, labels, bgs, seed=0, **kw)
    c = regenerate_rot_back_image(digits, labels, bgs, seed=1, **kw)
    assert a.train_images.tobytes() == b.train_images.tobytes()
    assert a.test_images.tobytes() == b.test_images.tobytes()
    assert a.train_images.tobytes() != c.train_images.tobytes()
    assert a.test_images.tobytes() != c.test_images.tobytes()


def test_regeneration_size_errors():
    digits, labels, bgs = _inputs()
    with pytest.raises(ValueError, match="n_train"):
        regenerate_rot_back_image(digits, labels, bgs, n_train=250, n_test=10, train_pool_size=200)
    with pytest.raises(ValueError, match="n_test"):
        regenerate_rot_back_image(digits, labels, bgs, n_train=100, n_test=250)
    with pytest.raises(ValueError, match="min_patch_std"):
        regenerate_rot_back_image(digits, labels, [bgs[-1]], n_train=5, n_test=5)


def test_load_regenerated_and_cached(tmp_path, build):
    build.mnist(tmp_path, n_train=200, n_test=60)
    build.bsds(tmp_path, n_per_split=(3, 1, 1), size=(40, 50))
    with pytest.warns(UserWarning, match="only 3 BSDS500 train images"):
        d = load_mnist_rot_back_image(tmp_path, n_train=80, n_test=150, progress=False)
    assert d.counts() == {"train": 80, "test": 150}
    assert len(d.background_ids) == 3 and d.background_ids == sorted(d.background_ids)
    assert d.source.startswith("regenerated from MNIST (seed 0) with backgrounds from 3 BSDS500 train images: ")
    assert d.train_provenance.mnist_index.max() < 200  # MNIST train rows only
    e = load_mnist_rot_back_image(tmp_path, n_train=80, n_test=150, progress=False)  # cache hit
    assert e.train_images.tobytes() == d.train_images.tobytes() and e.source == d.source
    np.testing.assert_array_equal(e.test_provenance.angle, d.test_provenance.angle)
    with pytest.warns(UserWarning):
        f = load_mnist_rot_back_image(tmp_path, n_train=80, n_test=150, seed=5, progress=False, cache=False)
    assert f.train_images.tobytes() != d.train_images.tobytes()


def test_load_official_amat_preferred(tmp_path, build):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 28, 28)).astype(np.float64) / 255
    base = tmp_path / "mnist_rotation_back_image"
    build.amat(base / rb.AMAT_FILES["train"], x[:3], [1, 2, 3])
    build.amat(base / rb.AMAT_FILES["test"], x[3:], [7])
    d = load_mnist_rot_back_image(tmp_path, progress=False)
    assert d.source == "official .amat files"
    assert d.counts() == {"train": 3, "test": 1}
    np.testing.assert_array_equal(d.train_images, np.rint(x[:3] * 255).astype(np.uint8))
    assert d.test_labels.tolist() == [7]
    again = load_mnist_rot_back_image(tmp_path, progress=False)
    np.testing.assert_array_equal(again.train_images, d.train_images)


def test_missing_both_names_both_options(tmp_path):
    with pytest.raises(DatasetMissingError) as ei:
        load_mnist_rot_back_image(tmp_path, progress=False)
    msg = str(ei.value)
    for name in ("mnist_rot_back_image", "mnist", "bsds500"):
        assert f"python -m lmle_core.data.download {name} --root {tmp_path}" in msg
    assert rb.AMAT_FILES["train"] in msg
