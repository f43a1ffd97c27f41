"""One data-root resolver: the readers, the batch runner and a notebook run by hand agree."""
from pathlib import Path

import pytest

from lmle_core.data.paths import locate_data_root, resolve_data_root
from lmle_core.study import notebook_paths, runner

REPO_DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("arg, env, expected", [
    (None, None, REPO_DATA),                         # the default: the repository's data/
    ("", None, REPO_DATA),                           # an empty parameter (a notebook's default) is no argument
    (None, "ENV", "ENV"),
    ("ARG", "ENV", "ARG"),                           # the argument wins over the environment
    ("~/x", None, Path.home() / "x"),
])
def test_readers_runner_and_notebooks_agree(arg, env, expected, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)                      # the default must not depend on the current folder
    if env is None:
        monkeypatch.delenv("LMLE_DATA_ROOT", raising=False)
    else:
        monkeypatch.setenv("LMLE_DATA_ROOT", str(tmp_path / env))
    arg = str(tmp_path / arg) if arg and not arg.startswith("~") else arg
    expected = tmp_path / expected if isinstance(expected, str) else expected
    reader = resolve_data_root(arg)
    _, _, from_runner = runner.resolve_data_root(arg)
    from_notebook, _ = notebook_paths(arg or "", "", "demo")
    assert reader == expected and Path(from_runner) == expected and Path(from_notebook) == expected


def test_the_source_is_named(monkeypatch):
    monkeypatch.delenv("LMLE_DATA_ROOT", raising=False)
    assert locate_data_root().source.startswith("default")
    assert locate_data_root("/d", argument="--data-root")[:2] == ("/d", "--data-root")
    monkeypatch.setenv("LMLE_DATA_ROOT", "/e")
    assert locate_data_root()[:2] == ("/e", "$LMLE_DATA_ROOT")
