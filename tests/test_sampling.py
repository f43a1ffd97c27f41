"""Balanced batches and in-batch costs (LMLE Sec. 3.2)."""
import numpy as np

from lmle_core.sampling import BatchSampler, ClassMembers, batch_costs, multilabel_batch_costs


def test_costs_make_class_weights_equal():
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 0])
    w = batch_costs(y)
    totals = [w[y == c].sum() for c in (0, 1, 2)]
    np.testing.assert_allclose(totals, [10 / 3] * 3, rtol=1e-6)
    assert w.mean() == np.float32(1.0) or abs(w.mean() - 1) < 1e-6
    mw = multilabel_batch_costs(np.stack([y == 0, y == 1], 1).astype(int))
    np.testing.assert_allclose(mw[:, 0], batch_costs((y == 0).astype(int)))


def test_balanced_batches_share_classes_equally():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    s = BatchSampler(labels, batch_size=40, balanced=True, seed=0)
    counts = np.zeros(3)
    for _ in range(50):
        b = s.next()
        assert len(b) == 40
        c = np.bincount(labels[b], minlength=3)
        assert c.min() >= 13 and c.max() <= 14
        counts += c
    # the 10 minority samples are cycled through evenly (shuffled epochs, no replacement within one)
    fresh = BatchSampler(labels, batch_size=40, balanced=True, seed=3)
    minority_draws = np.bincount(np.concatenate([fresh.next() for _ in range(30)]), minlength=1000)[990:]
    assert minority_draws.max() - minority_draws.min() <= 1


def test_plain_batches_follow_the_prior_and_cover_an_epoch():
    labels = np.array([0] * 90 + [1] * 10)
    s = BatchSampler(labels, batch_size=20, balanced=False, seed=1)
    epoch = np.concatenate([s.next() for _ in range(5)])
    np.testing.assert_array_equal(np.sort(epoch), np.arange(100))


def test_class_members_draws_uniformly_within_the_class():
    labels = np.array([2, 0, 2, 1, 2, 0])
    members = ClassMembers(labels)
    rng = np.random.default_rng(0)
    draws = members.draw(np.full(3000, 2), rng)
    assert set(draws) == {0, 2, 4}
    assert np.bincount(draws, minlength=6)[[0, 2, 4]].min() > 900
    mixed = members.draw(np.array([0, 1, 2, 0]), rng)
    np.testing.assert_array_equal(labels[mixed], [0, 1, 2, 0])


def test_bad_input_is_named():
    """Issue 21: NaN labels became classes of their own, 2.5 was silently a batch of 2."""
    import pytest

    from lmle_core.sampling import positive_sharing_costs

    with pytest.raises(ValueError, match=r"^labels holds 1 non-finite"):
        BatchSampler([0, 1, np.nan], 2, balanced=True)
    with pytest.raises(ValueError, match=r"^labels must hold integer class labels, got dtype <U1"):
        BatchSampler(["a", "b"], 2, balanced=True)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 2.5"):
        BatchSampler([0, 1], 2.5, balanced=False)
    with pytest.raises(ValueError, match=r"^batch_labels must hold integer class labels, found 0.5"):
        batch_costs([0, 0.5])
    with pytest.raises(ValueError, match=r"^sharing must be a finite number >= 0, got nan"):
        positive_sharing_costs([0, 1], sharing=float("nan"))
    with pytest.raises(ValueError, match=r"^batch_labels must be a \(B, A\) array"):
        multilabel_batch_costs([0, 1])
    with pytest.raises(ValueError, match=r"^labels must be a non-empty array of class ids >= 0, found -1"):
        ClassMembers([0, -1, 1])
    with pytest.raises(ValueError, match=r"^classes must be in \[0, 1\], found 2"):
        ClassMembers([0, 1, 1]).draw([2], np.random.default_rng(0))
