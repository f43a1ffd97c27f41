import numpy as np
import pytest

from lmle_core.data import augment_digits


def _digits(n=7):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return x, rng.integers(0, 10, n)


def test_copy_zero_is_input_and_layout():
    x, y = _digits()
    a, l, s = augment_digits(x, y, factor=10, seed=0)
    assert a.shape == (70, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[:7], x)
    np.testing.assert_array_equal(s, np.tile(np.arange(7), 10))
    np.testing.assert_array_equal(l, y[s])
    assert not np.array_equal(a[7:14], x)  # the other copies are transformed


def test_deterministic():
    x, y = _digits()
    a1, _, _ = augment_digits(x, y, factor=3, seed=4)
    a2, _, _ = augment_digits(x, y, factor=3, seed=4)
    a3, _, _ = augment_digits(x, y, factor=3, seed=5)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)


def test_identity_and_mirror_only():
    x, y = _digits()
    a, _, _ = augment_digits(x, y, factor=4, max_rotation=0, scale_range=(1, 1), mirror=False)
    for k in range(4):
        np.testing.assert_array_equal(a[7 * k : 7 * (k + 1)], x)
    m, _, s = augment_digits(x, y, factor=6, max_rotation=0, scale_range=(1, 1), mirror=True, seed=2)
    flips = 0
    for row, src in zip(m[7:], s[7:]):
        same, flipped = np.array_equal(row, x[src]), np.array_equal(row, x[src][:, ::-1])
        assert same or flipped
        flips += flipped
    assert 0 < flips < 35


def test_factor_one_and_errors():
    x, y = _digits()
    a, l, s = augment_digits(x, y, factor=1)
    np.testing.assert_array_equal(a, x)
    with pytest.raises(ValueError):
        augment_digits(x, y, factor=0)
    with pytest.raises(ValueError):
        augment_digits(x.astype(np.float32), y)
