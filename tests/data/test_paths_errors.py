from pathlib import Path

import pytest

from lmle_core.data import CorruptFileError, DatasetMissingError, cache_dir, resolve_data_root


def test_resolve_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("LMLE_DATA_ROOT", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert resolve_data_root() == repo / "data"             # the repository's data/, wherever we run
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root() == repo / "data"
    monkeypatch.setenv("LMLE_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root("rel/dir") == tmp_path / "rel" / "dir"  # absolute, no existence check


def test_cache_dir_env_and_creation(monkeypatch, tmp_path):
    monkeypatch.setenv("LMLE_CACHE_DIR", str(tmp_path / "a" / "b"))
    d = cache_dir()
    assert d == tmp_path / "a" / "b" and d.is_dir()
    monkeypatch.delenv("LMLE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "lmle"


def test_dataset_missing_error_message():
    e = DatasetMissingError("mnist", "/x/MNIST/train-images-idx3-ubyte.gz", "python -m lmle_core.data.download mnist --root /x")
    assert isinstance(e, FileNotFoundError)
    assert e.dataset == "mnist" and e.path == Path("/x/MNIST/train-images-idx3-ubyte.gz")
    assert "train-images-idx3-ubyte.gz" in str(e)
    assert "python -m lmle_core.data.download mnist --root /x" in str(e)
    with pytest.raises(FileNotFoundError):
        raise e


def test_corrupt_file_error_message():
    e = CorruptFileError("/x/a.txt", "bad value", line=7)
    assert isinstance(e, ValueError)
    assert "/x/a.txt" in str(e) and "line 7" in str(e) and "bad value" in str(e)
