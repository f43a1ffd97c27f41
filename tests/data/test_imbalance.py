import numpy as np
import pytest

from lmle_core.data import class_counts, gaussian_keep_fractions, imbalance_table, remove_gaussian_like


@pytest.mark.parametrize("removal", [0.2, 0.4])
def test_profile_symmetric_peaks_in_middle_and_removes_exact_share(removal):
    keep = gaussian_keep_fractions(10, removal)
    np.testing.assert_allclose(keep, keep[::-1])
    assert set(np.argsort(keep)[-2:]) == {4, 5}
    assert (np.diff(keep[:5]) > 0).all()
    assert np.mean(1 - keep) == pytest.approx(removal)
    assert ((keep > 0) & (keep <= 1)).all()


def test_documented_values():
    np.testing.assert_allclose(
        gaussian_keep_fractions(10, 0.4),
        [0.270, 0.379, 0.570, 0.806, 0.976, 0.976, 0.806, 0.570, 0.379, 0.270],
        atol=6e-4,
    )


@pytest.mark.parametrize("removal", [0.0, 0.2, 0.4])
def test_remove_equal_classes(removal):
    labels = np.repeat(np.arange(10), 1200)
    np.random.default_rng(0).shuffle(labels)
    kept = remove_gaussian_like(labels, removal, seed=1)
    assert (np.diff(kept) > 0).all()  # sorted, unique
    counts = class_counts(labels[kept], 10)
    target = gaussian_keep_fractions(10, removal) * 1200
    assert (np.abs(counts - target) <= 0.5 + 1e-9).all()  # within rounding, per class
    removed = len(labels) - len(kept)
    assert abs(removed - removal * len(labels)) <= 10  # within one sample per class
    if removal == 0:
        assert len(kept) == len(labels)
    else:
        assert counts[4] > counts[2] > counts[0] and counts[5] > counts[7] > counts[9]


def test_remove_deterministic_and_unequal_classes():
    labels = np.concatenate([np.full(100 + 10 * c, c) for c in range(10)])
    a = remove_gaussian_like(labels, 0.3, seed=0)
    b = remove_gaussian_like(labels, 0.3, seed=0)
    c = remove_gaussian_like(labels, 0.3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    keep = gaussian_keep_fractions(10, 0.3)
    sizes = np.bincount(labels)
    np.testing.assert_array_equal(class_counts(labels[a], 10), np.floor(keep * sizes + 0.5).astype(int))


def test_too_much_removal_raises():
    with pytest.raises(ValueError, match="removal=0.6.*n_classes=10.*sigma=2.0"):
        gaussian_keep_fractions(10, 0.6, 2.0)
    with pytest.raises(ValueError):
        gaussian_keep_fractions(10, 1.0)
    with pytest.raises(ValueError):
        class_counts([0, 11], 10)


def test_table():
    labels = np.repeat(np.arange(10), 1200)
    t = imbalance_table(labels)
    assert t.loc["0% removed", "total"] == 12000
    assert t.loc["40% removed", "total"] == 7200
    assert t.loc["40% removed", "0"] == 324


def test_steep_profile_has_the_ratio_and_the_removed_share():
    from lmle_core.data import steep_keep_fractions

    keep = steep_keep_fractions(10, 0.4, 10.0)
    assert keep.mean() == pytest.approx(0.6, abs=1e-9)
    assert keep.max() / keep.min() == pytest.approx(10.0, rel=1e-6)
    assert keep.max() == pytest.approx(1.0) and np.allclose(keep, keep[::-1])  # symmetric, middle kept whole
    assert (np.diff(keep[:5]) >= 0).all()
    labels = np.repeat(np.arange(10), 1000)
    kept = remove_gaussian_like(labels, 0.4, max_ratio=10.0)
    counts = np.bincount(labels[kept], minlength=10)
    assert counts.max() / counts.min() == pytest.approx(10.0, rel=0.01) and abs(len(kept) - 6000) <= 10
    with pytest.raises(ValueError, match="ratio"):
        steep_keep_fractions(10, 0.95, 10.0)
