"""Decoded-data caches carry content hashes checked on load (issue 21): a same-size byte
overwrite, an unreadable .npz or a changed .json is never served: the entry is rebuilt with a
one-line warning naming the file; a cache folder that cannot be written is said once and the
data still loads (uncached)."""
import errno
import json
import re

import numpy as np
import pytest

from lmle_core.data import cache as _cache
from lmle_core.data.celeba import load_celeba
from lmle_core.data.mnist_rot_back import load_mnist_rot_back_image
from lmle_core.data.paths import cache_dir


def _entry_file(suffix: str, prefix: str):
    found = sorted(cache_dir().glob(f"{prefix}-*{suffix}"))
    assert len(found) == 1, found
    return found[0]


def _flip_byte(path, offset_from_end=10):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))  # same size


def _one_warning(err: str, path) -> None:
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "rebuilding" in lines[0], lines[0]


@pytest.fixture
def celeba_root(tmp_path, build):
    build.celeba(tmp_path, present=[0, 1, 2, 6, 9])
    return tmp_path


def test_celeba_npy_same_size_overwrite_is_rebuilt(celeba_root, capsys):
    first = np.array(load_celeba(celeba_root, progress=False).images)
    npy = _entry_file(".npy", "celeba")
    _flip_byte(npy)
    capsys.readouterr()
    second = load_celeba(celeba_root, progress=False)
    np.testing.assert_array_equal(np.asarray(second.images), first)  # not the damaged bytes
    _one_warning(capsys.readouterr().err, npy)
    third = load_celeba(celeba_root, progress=False)  # rebuilt and replaced: a clean hit
    np.testing.assert_array_equal(np.asarray(third.images), first)
    assert "warning" not in capsys.readouterr().err


def test_celeba_corrupt_npz_is_rebuilt(celeba_root, capsys):
    first = load_celeba(celeba_root, progress=False)
    npz = _entry_file(".npz", "celeba")
    npz.write_bytes(b"PK\x03\x04 not a zip file at all")
    capsys.readouterr()
    second = load_celeba(celeba_root, progress=False)
    np.testing.assert_array_equal(second.attributes, first.attributes)
    _one_warning(capsys.readouterr().err, npz)


def test_celeba_json_same_size_edit_is_rebuilt(celeba_root, capsys, monkeypatch):
    first = load_celeba(celeba_root, progress=False)
    meta = _entry_file(".json", "celeba")
    text = meta.read_text()
    edited = text.replace('"000002.jpg"', '"000009.jpg"', 1)
    assert edited != text and len(edited) == len(text)
    meta.write_text(edited)
    capsys.readouterr()
    second = load_celeba(celeba_root, progress=False)
    assert second.filenames == first.filenames
    _one_warning(capsys.readouterr().err, meta)


def test_celeba_unwritable_cache_dir(tmp_path, celeba_root, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("LMLE_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    monkeypatch.setattr(_cache, "_UNWRITABLE_SEEN", set())
    ds = load_celeba(celeba_root, progress=False)
    again = load_celeba(celeba_root, progress=False)
    assert len(ds) == len(again) == 5
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: cannot write the cache folder {blocker / 'cache'}"), err
    assert "LMLE_CACHE_DIR" in err[0]


@pytest.fixture
def rot_root(tmp_path, build):
    build.mnist(tmp_path, n_train=200, n_test=60)
    build.bsds(tmp_path, n_per_split=(3, 1, 1), size=(40, 50))
    return tmp_path


def _load_rot(root):
    with pytest.warns(UserWarning, match="only 3 BSDS500"):
        return load_mnist_rot_back_image(root, n_train=40, n_test=30, progress=False)


def test_rot_back_corrupt_npz_is_rebuilt(rot_root, capsys):
    first = _load_rot(rot_root)
    npz = _entry_file(".npz", "mnist_rot_back_regen")
    npz.write_bytes(b"garbage")
    capsys.readouterr()
    second = _load_rot(rot_root)
    assert second.train_images.tobytes() == first.train_images.tobytes()
    _one_warning(capsys.readouterr().err, npz)
    load_mnist_rot_back_image(rot_root, n_train=40, n_test=30, progress=False)  # a clean hit, no regeneration
    assert "warning" not in capsys.readouterr().err


def test_rot_back_same_size_overwrite_is_rebuilt(rot_root, capsys):
    first = _load_rot(rot_root)
    npz = _entry_file(".npz", "mnist_rot_back_regen")
    raw = bytearray(npz.read_bytes())
    pos = raw.find(first.train_images[5].tobytes()[:64])  # inside the stored images (np.savez stores them raw)
    assert pos > 0
    raw[pos + 30] ^= 0xFF
    npz.write_bytes(bytes(raw))
    capsys.readouterr()
    second = _load_rot(rot_root)
    assert second.train_images.tobytes() == first.train_images.tobytes()
    _one_warning(capsys.readouterr().err, npz)


def test_rot_back_unwritable_cache_dir(tmp_path, rot_root, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("LMLE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(_cache, "_UNWRITABLE_SEEN", set())
    data = _load_rot(rot_root)
    assert data.counts() == {"train": 40, "test": 30}
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.match(rf"warning: cannot write the cache folder {re.escape(str(blocker))}", err[0]), err


@pytest.mark.parametrize("code, words", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system")])
def test_read_only_cache_folder_simulated(rot_root, capsys, monkeypatch, code, words):
    """What a read-only folder does to a non-root user (root writes there anyway)."""
    def refuse(target):
        raise OSError(code, "refused", str(target))

    monkeypatch.setattr(_cache, "_tmp_name", refuse)
    monkeypatch.setattr(_cache, "_UNWRITABLE_SEEN", set())
    _load_rot(rot_root)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"({words})" in err and str(cache_dir()) in err


def test_entries_of_the_old_format_are_rebuilt(rot_root, capsys):
    """An entry without recorded hashes (written before them) is not trusted."""
    _load_rot(rot_root)
    meta_path = _entry_file(".json", "mnist_rot_back_regen")
    meta = json.loads(meta_path.read_text())
    del meta["sha256"], meta["meta_sha256"]
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    _load_rot(rot_root)
    err = capsys.readouterr().err
    assert "records no content hash" in err and str(meta_path) in err
    assert "sha256" in json.loads(meta_path.read_text())
