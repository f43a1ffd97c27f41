import os

import numpy as np
import pytest

from lmle_core.data import (
    CROP_BOX,
    CorruptFileError,
    DatasetMissingError,
    load_celeba,
    read_attributes,
    read_identities,
    read_partition,
)
from lmle_core.data import celeba as celeba_mod



@pytest.mark.parametrize("gz,crlf", [(False, False), (True, True)])
def test_annotation_readers(tmp_path, build, gz, crlf):
    info = build.celeba(tmp_path, gz=gz, crlf=crlf, present=[])
    sfx = ".gz" if gz else ""
    files, names, values = read_attributes(tmp_path / "CelebA" / "Anno" / f"list_attr_celeba.txt{sfx}")
    assert files == info.names
    assert names == build.attr_names
    assert values.dtype == np.int8 and values.shape == (12, 40)
    np.testing.assert_array_equal(values, info.attrs)
    part = read_partition(tmp_path / "CelebA" / "Eval" / f"list_eval_partition.txt{sfx}")
    assert [part[f] for f in info.names] == list(info.split)
    ident = read_identities(tmp_path / "CelebA" / "Anno" / f"identity_CelebA.txt{sfx}")
    assert [ident[f] for f in info.names] == list(info.identity)


def test_attribute_reader_hand_written(tmp_path):
    p = tmp_path / "list_attr_celeba.txt"
    names = " ".join(f"a{i}" for i in range(40))
    row1 = "000001.jpg " + " ".join(["-1"] * 39 + [" 1"])
    row2 = "000002.jpg  " + "  ".join(["1"] * 40)
    p.write_text(f"2\n{names}\n{row1}\n{row2}\n")
    files, attr_names, v = read_attributes(p)
    assert files == ["000001.jpg", "000002.jpg"]
    assert attr_names[0] == "a0" and len(attr_names) == 40
    assert v[0].tolist() == [0] * 39 + [1]
    assert v[1].tolist() == [1] * 40


@pytest.mark.parametrize(
    "bad_row,problem",
    [("000002.jpg " + " ".join(["1"] * 39), "fields"), ("000002.jpg " + " ".join(["1"] * 39 + ["0"]), "-1 or 1")],
)
def test_attribute_reader_malformed_line(tmp_path, bad_row, problem):
    p = tmp_path / "list_attr_celeba.txt"
    names = " ".join(f"a{i}" for i in range(40))
    good = "000001.jpg " + " ".join(["1"] * 40)
    p.write_text(f"2\n{names}\n{good}\n{bad_row}\n")
    with pytest.raises(CorruptFileError) as ei:
        read_attributes(p)
    assert ei.value.line == 4 and "line 4" in str(ei.value)
    assert str(p) in str(ei.value) and problem in str(ei.value)


def test_attribute_reader_count_mismatch(tmp_path):
    p = tmp_path / "list_attr_celeba.txt"
    p.write_text("5\n" + " ".join(f"a{i}" for i in range(40)) + "\n000001.jpg " + " ".join(["1"] * 40) + "\n")
    with pytest.raises(CorruptFileError, match="announces 5"):
        read_attributes(p)


def test_load_partial_images_counts_and_labels(tmp_path, build):
    present = [0, 2, 3, 6, 8, 9, 11]  # train 0,2,3 / val 6,8 / test 9,11
    info = build.celeba(tmp_path, present=present, gz=True)
    d = load_celeba(tmp_path, progress=False)
    assert d.counts() == {"train": 3, "val": 2, "test": 2}
    assert d.filenames == [info.names[i] for i in present]
    assert d.images.shape == (7, 55, 47, 3) and d.images.dtype == np.uint8
    np.testing.assert_array_equal(d.attributes, info.attrs[present])
    assert d.attributes.dtype == np.uint8
    np.testing.assert_array_equal(d.split, info.split[present])
    np.testing.assert_array_equal(d.identity, info.identity[present])
    assert d.n_annotated == 12 and d.n_present == 7
    np.testing.assert_allclose(d.positive_rate(), info.attrs[present].mean(0))
    val = d.subset("val")
    assert val.filenames == [info.names[6], info.names[8]]
    np.testing.assert_array_equal(val.images, d.images[3:5])


def test_splits_and_max_per_split(tmp_path, build):
    info = build.celeba(tmp_path)
    d = load_celeba(tmp_path, splits=("train", "test"), max_per_split=2, progress=False, cache=False)
    assert d.counts() == {"train": 2, "val": 0, "test": 2}
    assert d.filenames == [info.names[0], info.names[1], info.names[9], info.names[10]]
    assert load_celeba(tmp_path, splits="val", progress=False, cache=False).counts() == {"train": 0, "val": 3, "test": 0}
    with pytest.raises(ValueError, match="split"):
        load_celeba(tmp_path, splits=("training",), progress=False)


def test_crop_box_content_and_downscaled_source(tmp_path, build):
    """A 178x218 image that is red inside CROP_BOX and blue outside crops to red;
    the same image downscaled by 2 gives (nearly) the same crop."""
    from PIL import Image

    arr = np.zeros((218, 178, 3), np.uint8)
    arr[:] = (0, 0, 255)
    l, t, r, b = CROP_BOX
    arr[t:b, l:r] = (255, 0, 0)
    full = Image.fromarray(arr)
    crop = celeba_mod.crop_face(full)
    assert crop.shape == (55, 47, 3)
    assert (crop[2:-2, 2:-2, 0] > 240).all() and (crop[2:-2, 2:-2, 2] < 15).all()
    assert crop[..., 0].mean() > 230
    half = full.resize((89, 109), Image.BICUBIC)
    crop_half = celeba_mod.crop_face(half)
    assert np.abs(crop_half[2:-2, 2:-2].astype(int) - crop[2:-2, 2:-2]).max() < 40


def test_full_and_half_size_sources_agree(tmp_path, build):
    build.celeba(tmp_path / "full", present=[0, 1], image_size=(178, 218))
    build.celeba(tmp_path / "half", present=[0, 1], image_size=(89, 109))
    a = load_celeba(tmp_path / "full", progress=False, cache=False)
    b = load_celeba(tmp_path / "half", progress=False, cache=False)
    # the bright square of the face image sits in the middle of the crop in both
    assert np.abs(a.images.astype(int) - b.images.astype(int)).mean() < 8


def test_cache_hit_identical_and_no_decoding(tmp_path, build, monkeypatch):
    build.celeba(tmp_path, present=[0, 1, 6, 9])
    first = load_celeba(tmp_path, progress=False)

    def boom(*a, **k):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(celeba_mod, "_decode_one", boom)
    second = load_celeba(tmp_path, progress=False)
    np.testing.assert_array_equal(np.asarray(first.images), np.asarray(second.images))
    np.testing.assert_array_equal(first.attributes, second.attributes)
    assert first.filenames == second.filenames and second.counts() == first.counts()
    # a different size is a different cache entry
    with pytest.raises(AssertionError, match="decoded again"):
        load_celeba(tmp_path, image_size=(32, 32), progress=False)


def test_cache_invalidated_when_images_change(tmp_path, build):
    build.celeba(tmp_path, present=[0, 1])
    a = load_celeba(tmp_path, progress=False)
    build.face_image(99).save(tmp_path / "CelebA" / "img_align_celeba" / "000007.jpg")
    b = load_celeba(tmp_path, progress=False)
    assert len(a) == 2 and len(b) == 3


def test_same_size_label_edit_invalidates_the_cache(tmp_path, build):
    """Correcting one label keeps the file size (`` 1`` / ``-1``) and here even its mtime: the new label is read."""
    ds = build.celeba(tmp_path, present=[0, 1, 2])
    first = load_celeba(tmp_path, progress=False)
    path = ds.base / "Anno" / "list_attr_celeba.txt"
    stat = path.stat()
    lines = path.read_text().splitlines(keepends=True)
    row = lines[2 + 1]  # header lines, then the second image (000002.jpg)
    fields = row.split(" ")
    old = first.attributes[1, 0]
    value = " 1" if old == 0 else "-1"
    lines[3] = fields[0] + " " + value + row[len(fields[0]) + 3:]
    path.write_text("".join(lines))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    second = load_celeba(tmp_path, progress=False)
    assert second.attributes[1, 0] == 1 - old
    np.testing.assert_array_equal(np.delete(second.attributes, 1, 0), np.delete(first.attributes, 1, 0))


def test_replaced_image_of_the_same_size_invalidates_the_cache(tmp_path, build):
    ds = build.celeba(tmp_path, present=[0, 1])
    first = load_celeba(tmp_path, progress=False)
    path = ds.base / "img_align_celeba" / ds.names[1]
    size = path.stat().st_size
    data = bytearray(path.read_bytes())
    other = build.face_image(77)
    import io
    buf = io.BytesIO()
    for q in range(95, 5, -1):  # re-encode another face to exactly the old size (pad with JPEG comment bytes)
        buf = io.BytesIO()
        other.save(buf, format="JPEG", quality=q)
        if len(buf.getvalue()) <= size:
            break
    new = buf.getvalue()
    new = new[:-2] + b"\x00" * (size - len(new)) + new[-2:] if len(new) < size else new
    assert len(new) == size and bytes(data) != new
    path.write_bytes(new)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = load_celeba(tmp_path, progress=False)
    assert not np.array_equal(np.asarray(first.images[1]), np.asarray(second.images[1]))


def test_corrupt_jpg_names_file(tmp_path, build):
    build.celeba(tmp_path, present=[0, 1, 2])
    bad = tmp_path / "CelebA" / "img_align_celeba" / "000002.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(CorruptFileError) as ei:
        load_celeba(tmp_path, progress=False)
    assert "000002.jpg" in str(ei.value)
    # nothing half-written is left behind as a valid cache entry
    bad.unlink()
    assert len(load_celeba(tmp_path, progress=False)) == 2


def test_missing_anno_names_command(tmp_path, build):
    build.celeba(tmp_path, present=[0])
    (tmp_path / "CelebA" / "Anno" / "list_attr_celeba.txt").unlink()
    with pytest.raises(DatasetMissingError) as ei:
        load_celeba(tmp_path, progress=False)
    msg = str(ei.value)
    assert "list_attr_celeba.txt" in msg
    assert f"python -m lmle_core.data.download celeba --root {tmp_path}" in msg
    assert ei.value.download_command == f"python -m lmle_core.data.download celeba --root {tmp_path}"


def test_missing_dataset_and_image_folder(tmp_path, build):
    with pytest.raises(DatasetMissingError, match="CelebA"):
        load_celeba(tmp_path / "nothing", progress=False)
    build.celeba(tmp_path, present=[])
    with pytest.raises(DatasetMissingError, match="jpg"):
        load_celeba(tmp_path, progress=False)


def test_missing_identity_file_is_tolerated(tmp_path, build):
    build.celeba(tmp_path, present=[0, 1], identity=False)
    with pytest.warns(UserWarning, match="identity"):
        d = load_celeba(tmp_path, progress=False, cache=False)
    assert (d.identity == -1).all()


def test_single_worker_equals_threads(tmp_path, build):
    build.celeba(tmp_path)
    a = load_celeba(tmp_path, progress=False, cache=False, workers=1)
    b = load_celeba(tmp_path, progress=False, cache=False, workers=2)
    np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize("extra, words", [("000002.jpg 2\n", "000002.jpg is listed again (first on line 2, 0 there, 2 here)"),
                                          ("000001.jpg 0\n", "000001.jpg is listed again (first on line 1, the same value)")])
def test_repeated_partition_line_names_file_and_line(tmp_path, extra, words):
    """Issue 21: the last of two lines won, so a training image could move into the test split."""
    p = tmp_path / "list_eval_partition.txt"
    p.write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 2\n" + extra)
    with pytest.raises(CorruptFileError) as err:
        read_partition(p)
    assert err.value.line == 4 and err.value.path == p
    assert f"{p}, line 4" in str(err.value) and words in str(err.value)


@pytest.mark.parametrize("crlf", [False, True])
def test_repeated_image_in_the_attribute_file(tmp_path, crlf):
    p = tmp_path / "list_attr_celeba.txt"
    names = " ".join(f"a{i}" for i in range(40))
    rows = [f"00000{i}.jpg " + " ".join(["-1"] * 40) for i in (1, 2, 3)] + ["000002.jpg " + " ".join([" 1"] * 40)]
    text = f"4\n{names}\n" + "\n".join(rows) + "\n"
    p.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
    with pytest.raises(CorruptFileError) as err:
        read_attributes(p)
    assert err.value.line == 6 and "000002.jpg is listed again (first on line 4)" in str(err.value)


def test_repeated_partition_line_stops_load_celeba(tmp_path, build):
    ds = build.celeba(tmp_path, present=[0, 1])
    part = ds.base / "Eval" / "list_eval_partition.txt"
    part.write_text(part.read_text() + "000001.jpg 2\n")
    with pytest.raises(CorruptFileError, match=r"list_eval_partition.txt, line 13: 000001.jpg is listed again"):
        load_celeba(tmp_path, progress=False)
