import gzip

import numpy as np
import pytest

from lmle_core.data import CorruptFileError, DatasetMissingError, load_mnist, read_idx

# magic 0x00000803 (ubyte, 3 dims), dims 2 x 2 x 3, then 12 bytes of data
HAND_IDX3 = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
# magic 0x00000801 (ubyte, 1 dim), 4 labels
HAND_IDX1 = bytes([0, 0, 8, 1, 0, 0, 0, 4, 7, 0, 9, 1])


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_hand_written(tmp_path, gz):
    p = tmp_path / ("x.idx" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(HAND_IDX3) if gz else HAND_IDX3)
    a = read_idx(p)
    assert a.dtype == np.uint8 and a.shape == (2, 2, 3)
    assert a[0, 0].tolist() == [0, 1, 2] and a[1, 1, 2] == 11
    q = tmp_path / "y.idx"
    q.write_bytes(HAND_IDX1)
    assert read_idx(q).tolist() == [7, 0, 9, 1]


def test_read_idx_big_endian_int32(tmp_path):
    p = tmp_path / "i.idx"
    p.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (258).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True))
    assert read_idx(p).tolist() == [258, -1]


@pytest.mark.parametrize(
    "data,problem",
    [
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "magic"),
        (bytes([0, 0, 7, 1, 0, 0, 0, 1, 5]), "type code"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 3, 5]), "data bytes"),  # declares 3, has 1
        (bytes([0, 0, 8, 2, 0, 0, 0, 3]), "truncated"),
        (bytes([0, 0]), "too short"),
    ],
)
def test_read_idx_corrupt(tmp_path, data, problem):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(data)
    with pytest.raises(CorruptFileError) as ei:
        read_idx(p)
    assert "bad-idx1-ubyte" in str(ei.value) and problem in str(ei.value)


def test_truncated_gzip(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(HAND_IDX3)[:-10])
    with pytest.raises(CorruptFileError, match="t.gz"):
        read_idx(p)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist(tmp_path, build, gz):
    made = build.mnist(tmp_path, n_train=30, n_test=10, gz=gz)
    x, y = load_mnist(tmp_path, "train")
    assert x.shape == (30, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, made["train"][0])
    np.testing.assert_array_equal(y, made["train"][1])
    xt, yt = load_mnist(tmp_path, "test")
    assert xt.shape == (10, 28, 28)
    np.testing.assert_array_equal(yt, made["t10k"][1])


def test_load_mnist_missing_and_mismatch(tmp_path, build):
    with pytest.raises(DatasetMissingError) as ei:
        load_mnist(tmp_path)
    assert "train-images-idx3-ubyte" in str(ei.value)
    assert "python -m lmle_core.data.download mnist --root" in str(ei.value)
    build.mnist(tmp_path, n_train=5, n_test=3)
    build.idx(tmp_path / "MNIST" / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(CorruptFileError, match="4 labels for 5 images"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError):
        load_mnist(tmp_path, "validation")
