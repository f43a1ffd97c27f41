"""lmle_core.study.config: every bad parameter is named before a notebook starts (issue: reliability).

The checks run against the REAL notebooks' parameters cells, with temporary profiles.
"""
import shutil
from pathlib import Path

import pytest
import yaml

from lmle_core.study import config, runner

NOTEBOOKS = runner.DEFAULT_NOTEBOOKS_DIR


def notebooks_with_profile(tmp_path: Path, profile: dict, name: str = "broken") -> Path:
    """A notebooks folder holding the real notebooks and studies.yaml plus one temporary profile."""
    nbdir = tmp_path / "notebooks"
    (nbdir / "profiles").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "studies.yaml", nbdir / "studies.yaml")
    for nb in NOTEBOOKS.glob("*.ipynb"):
        (nbdir / nb.name).symlink_to(nb)
    (nbdir / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return nbdir


def run_error(tmp_path, capsys, profile, *extra) -> str:
    nbdir = notebooks_with_profile(tmp_path, profile)
    rc = runner.main(["--profile", "broken", "--notebooks-dir", str(nbdir), "--results-root", str(tmp_path / "r"),
                      "--kernel", "no-kernel-needed", *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not (tmp_path / "r").exists()  # nothing started, nothing written
    return err


def test_text_where_a_float_is_expected(tmp_path, capsys):
    """`lr: 3e-3` is text for YAML 1.1: named with profile, study, parameter, expected and given type."""
    text = "notebooks:\n  mnist_imbalance:\n    budget: {prior_iters: 20, lr: 3e-3}\n"
    nbdir = notebooks_with_profile(tmp_path, {})
    (nbdir / "profiles" / "broken.yaml").write_text(text)
    rc = runner.main(["--profile", "broken", "--notebooks-dir", str(nbdir), "--kernel", "x"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "broken.yaml (notebooks: mnist_imbalance)" in err
    assert "study 'mnist_imbalance', parameter 'budget'" in err
    assert "budget key 'lr': expected float, got str '3e-3'" in err and "YAML reads it as text" in err


def test_number_where_a_list_is_expected(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {"notebooks": {"mnist_imbalance": {"removal_levels": 40}}})
    assert "broken.yaml" in err and "'mnist_imbalance'" in err and "'removal_levels'" in err
    assert "expected list, got int 40" in err


def test_quoted_number(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {"notebooks": {"mnist_imbalance": {"n_train": "600"}}})
    assert "parameter 'n_train': expected int, got str '600'" in err


def test_list_element_of_the_wrong_type(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {"notebooks": {"mnist_imbalance": {"removal_levels": [0, "40"]}}})
    assert "'removal_levels': expected a list of numbers, but element 1 is str '40'" in err


@pytest.mark.parametrize("name", ["train_iters", "remove_fractions"])
def test_misspelled_parameter(tmp_path, capsys, name):
    """The names of the old profile header example do not exist: an error, not silently ignored."""
    err = run_error(tmp_path, capsys, {"notebooks": {"mnist_imbalance": {name: 1}}})
    assert f"study 'mnist_imbalance' has no parameter {name!r}" in err and "broken.yaml" in err


def test_misspelled_budget_key(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {"notebooks": {"knn_speed": {"celeba_budget": {"iters_per_rnd": 5}}}})
    assert "'celeba_budget': unknown budget key(s) 'iters_per_rnd'" in err and "iters_per_round" in err


def test_common_parameter_a_notebook_lacks(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {"parameters": {"n_train": 100}})
    assert "broken.yaml (parameters): study 'dataset_overview' has no parameter 'n_train'" in err


def test_unknown_study_and_unknown_profile_key(tmp_path, capsys):
    assert "unknown study 'mnist_imbalanse'" in run_error(tmp_path, capsys, {"notebooks": {"mnist_imbalanse": {}}})
    assert "unknown key(s) 'notebook'" in run_error(tmp_path / "b", capsys, {"notebook": {"knn_speed": {}}})


def test_command_line_parameters_checked(tmp_path, capsys):
    err = run_error(tmp_path, capsys, {}, "--only", "mnist_imbalance", "-p", "seeds", "3")
    assert "command line (-p / -y): study 'mnist_imbalance', parameter 'seeds': expected list, got int 3" in err
    err = run_error(tmp_path / "b", capsys, {}, "-y", "seeds: [0, 1]")  # every study gets it: knn_speed lacks seeds
    assert "has no parameter 'seeds'" in err


def test_every_committed_profile_is_valid():
    studies = config.load_studies(NOTEBOOKS)
    for profile in config.available_profiles(NOTEBOOKS):
        prof = config.load_profile(NOTEBOOKS, profile, [s["name"] for s in studies])
        params = config.validate_run(studies, prof, {}, NOTEBOOKS)
        assert set(params) == {s["name"] for s in studies}


def test_profile_header_examples_are_valid():
    """The examples in every profile's header comment name real studies and their real parameters."""
    import re

    studies = {s["name"] for s in config.load_studies(NOTEBOOKS)}
    for path in (NOTEBOOKS / "profiles").glob("*.yaml"):
        header = [line for line in path.read_text().splitlines() if line.startswith("#")]
        timeouts = [yaml.safe_load(m) for line in header for m in re.findall(r"timeouts: (\{.*\})", line)]
        examples = [yaml.safe_load(line[1:].strip()) for line in header if re.match(r"#\s+\w+: \{", line)]
        assert timeouts and examples, path
        assert all(set(t) <= studies for t in timeouts), (path, timeouts)
        for example in examples:
            study, params = next(iter(example.items()))
            declared = config.notebook_parameters(NOTEBOOKS / f"{study}.ipynb")
            config.check_parameters(params, declared, study, {})


def test_notebook_parameters_parsing(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('a: float = 1\nb = [1, 2]\nc: dict = {"x": 1,\n  "y": "s"}\nd = None\n'
                                     'e: str = "t"  # comment\nf = some_call()\n')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, str(path))
    p = config.notebook_parameters(path)
    assert {k: (v.type, v.default) for k, v in p.items()} == {
        "a": (float, 1), "b": (list, [1, 2]), "c": (dict, {"x": 1, "y": "s"}), "d": (None, None),
        "e": (str, "t"), "f": (None, None)}
    assert config.check_value("a", 2, p["a"]) is None            # int is fine for float
    assert "expected float" in config.check_value("a", True, p["a"])
    assert config.check_value("d", "anything", p["d"]) is None
    assert "key 'y': expected str" in config.check_value("c", {"y": 3}, p["c"])
