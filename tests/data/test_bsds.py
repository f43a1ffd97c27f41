import numpy as np
import pytest
import scipy.io

from lmle_core.data import CorruptFileError, DatasetMissingError, bsds500_ids, load_bsds500, load_bsds500_images
from lmle_core.data import read_ground_truth


def _maps(rng, k, h=12, w=16):
    bs = [(rng.random((h, w)) < 0.2) for _ in range(k)]
    ss = [rng.integers(1, 5, (h, w)).astype(np.uint16) for _ in range(k)]
    return bs, ss


def test_ground_truth_cell_of_three_structs(tmp_path, build):
    rng = np.random.default_rng(0)
    bs, ss = _maps(rng, 3)
    p = tmp_path / "1.mat"
    scipy.io.savemat(str(p), {"groundTruth": build.gt_cell(bs, ss)})
    boundaries, segs = read_ground_truth(p)
    assert len(boundaries) == 3 and len(segs) == 3
    for got, want in zip(boundaries, bs):
        assert got.dtype == bool
        np.testing.assert_array_equal(got, want)
    for got, want in zip(segs, ss):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_ground_truth_struct_array_and_single_struct(tmp_path):
    rng = np.random.default_rng(1)
    bs, ss = _maps(rng, 2)
    # a 1x2 struct array (not a cell)
    sa = np.zeros((1, 2), dtype=[("Segmentation", object), ("Boundaries", object)])
    for k in range(2):
        sa[0, k]["Segmentation"] = ss[k]
        sa[0, k]["Boundaries"] = bs[k].astype(np.uint8)
    scipy.io.savemat(str(tmp_path / "a.mat"), {"groundTruth": sa})
    b, s = read_ground_truth(tmp_path / "a.mat")
    assert len(b) == 2
    np.testing.assert_array_equal(b[1], bs[1])
    # a single struct (K = 1)
    scipy.io.savemat(str(tmp_path / "b.mat"), {"groundTruth": {"Segmentation": ss[0], "Boundaries": bs[0].astype(np.uint8)}})
    b, s = read_ground_truth(tmp_path / "b.mat")
    assert len(b) == 1
    np.testing.assert_array_equal(b[0], bs[0])
    np.testing.assert_array_equal(s[0], ss[0])


def test_corrupt_mat_names_file(tmp_path):
    p = tmp_path / "broken.mat"
    p.write_bytes(b"MATLAB 5.0 MAT-file garbage" + bytes(200))
    with pytest.raises(CorruptFileError) as ei:
        read_ground_truth(p)
    assert "broken.mat" in str(ei.value)
    q = tmp_path / "novar.mat"
    scipy.io.savemat(str(q), {"somethingElse": np.zeros(3)})
    with pytest.raises(CorruptFileError, match="groundTruth"):
        read_ground_truth(q)


def test_load_bsds500_order_and_content(tmp_path, build):
    made = build.bsds(tmp_path)
    data = load_bsds500(tmp_path, progress=False)
    assert [x.split for x in data] == ["train"] * 3 + ["val"] * 2 + ["test"] * 2
    for split in ("train", "val", "test"):
        ids = [x.id for x in data if x.split == split]
        assert ids == sorted(i for i, _, _ in made[split])  # ASCII order of the file names
    first = {x.id: x for x in data if x.split == "train"}
    for i, img, bs in made["train"]:
        x = first[i]
        assert x.image.shape == img.shape and x.image.dtype == np.uint8
        assert np.abs(x.image.astype(int) - img).mean() < 4  # jpeg round trip of a smooth image
        assert x.n_annotators == 3
        for got, want in zip(x.boundaries, bs):
            np.testing.assert_array_equal(got, want)
    sub = load_bsds500(tmp_path, splits=("val",), max_per_split=1, progress=False)
    assert len(sub) == 1 and sub[0].id == sorted(i for i, _, _ in made["val"])[0]


def test_quarter_turned_jpg_is_turned_back(tmp_path, build):
    """A jpg stored rotated by 90 degrees (clockwise) relative to its ground truth."""
    from PIL import Image

    build.bsds(tmp_path, n_per_split=(1, 1, 1), size=(40, 60))
    h, w = 60, 40  # ground truth frame: portrait
    img = np.full((h, w), 30, np.uint8)
    img[:, 25:] = 220  # a vertical step edge at x = 25
    b = np.zeros((h, w), bool)
    b[:, 25] = True
    seg = np.where(np.arange(w)[None, :] < 25, 1, 2).repeat(h, 0).astype(np.uint16)
    i = bsds500_ids(tmp_path, "train")[0]
    base = tmp_path / "BSDS500" / "data"
    scipy.io.savemat(str(base / "groundTruth" / "train" / f"{i}.mat"), {"groundTruth": build.gt_cell([b, b], [seg, seg])})
    stored = np.rot90(np.stack([img] * 3, -1), k=-1)  # clockwise: landscape 40x60
    Image.fromarray(np.ascontiguousarray(stored)).save(base / "images" / "train" / f"{i}.jpg", quality=95)
    with pytest.warns(UserWarning, match="quarter turn"):
        data = load_bsds500(tmp_path, splits=("train",), progress=False)
    x = data[0]
    assert x.reoriented == 1 and x.image.shape == (h, w, 3)
    assert np.abs(x.image[..., 0].astype(int) - img).mean() < 5
    with pytest.raises(CorruptFileError, match="ground truth is"):
        load_bsds500(tmp_path, splits=("train",), progress=False, fix_orientation=False)


def test_images_only_fast_path(tmp_path, build):
    made = build.bsds(tmp_path)
    ims = load_bsds500_images(tmp_path, "train", grayscale=True)
    assert list(ims) == sorted(i for i, _, _ in made["train"])
    assert all(a.ndim == 2 and a.dtype == np.uint8 for a in ims.values())
    some = load_bsds500_images(tmp_path, "test", ids=[made["test"][1][0]])
    assert list(some) == [made["test"][1][0]] and some[made["test"][1][0]].shape == (24, 32, 3)
    with pytest.raises(DatasetMissingError, match="nope.jpg"):
        load_bsds500_images(tmp_path, "test", ids=["nope"])


def test_missing_pieces(tmp_path, build):
    with pytest.raises(DatasetMissingError) as ei:
        load_bsds500(tmp_path, progress=False)
    assert "python -m lmle_core.data.download bsds500 --root" in str(ei.value)
    made = build.bsds(tmp_path)
    i = made["val"][0][0]
    (tmp_path / "BSDS500" / "data" / "groundTruth" / "val" / f"{i}.mat").unlink()
    with pytest.raises(DatasetMissingError, match=f"{i}.mat"):
        load_bsds500(tmp_path, progress=False)
    with pytest.raises(ValueError, match="split"):
        load_bsds500(tmp_path, splits=("training",), progress=False)
