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


# ----------------------------------------------------------------------------------------------
# Issue 21 (second pass): empty --only, budgets merged over the layers, value ranges
# ----------------------------------------------------------------------------------------------
TINY = yaml.safe_load((NOTEBOOKS / "profiles" / "tiny.yaml").read_text())


@pytest.mark.parametrize("only", ["", ",", " , "])
def test_empty_only_is_an_error(tmp_path, capsys, only):
    """An empty --only (an empty shell variable) used to run every study."""
    err = run_error(tmp_path, capsys, TINY, "--only", only)
    assert err.count("\n") == 1 and err.startswith("error: --only names no study")


def test_partial_budget_merges_over_the_profile(tmp_path):
    """profile common < profile per-study < command line, key by key, for budget and *_budget dicts."""
    from tests.study.test_runner import PARAMS_CELL, make_notebooks_dir

    src = PARAMS_CELL + 'budget: dict = {"lr": 0.5}\nmnist_budget: dict = {}\n'
    profile = {"timeout_s": 10, "parameters": {"budget": {"lr": 0.01, "knn_k": 5, "cluster_size": 20}},
               "notebooks": {"a": {"budget": {"knn_k": 7}, "mnist_budget": {"max_rounds": 2, "lr": 0.003}}}}
    nbdir = make_notebooks_dir(tmp_path, [{"name": "a", "notebook": "a.ipynb", "requires": []},
                                          {"name": "b", "notebook": "b.ipynb", "requires": []}],
                               profile, {"a": src, "b": src})
    prof = config.load_profile(nbdir, "tiny", ["a", "b"])
    studies = config.load_studies(nbdir)
    cli = config.parse_cli_parameters(None, ["budget: {lr: 0.02}", "mnist_budget: {max_rounds: 3}"])
    params = config.validate_run(studies, prof, cli, nbdir)
    assert params["a"]["budget"] == {"lr": 0.02, "knn_k": 7, "cluster_size": 20}
    assert params["a"]["mnist_budget"] == {"max_rounds": 3, "lr": 0.003}
    assert params["b"]["budget"] == {"lr": 0.02, "knn_k": 5, "cluster_size": 20}
    assert params["b"]["mnist_budget"] == {"max_rounds": 3}
    assert prof["parameters"]["budget"] == {"lr": 0.01, "knn_k": 5, "cluster_size": 20}  # the profile is not changed


def test_partial_budget_on_the_real_tiny_profile():
    studies = config.select_studies(config.load_studies(NOTEBOOKS), ["digits_demo"])
    prof = config.load_profile(NOTEBOOKS, "tiny")
    params = config.validate_run(studies, prof, {"budget": {"knn_k": 3}}, NOTEBOOKS)
    assert params["digits_demo"]["budget"] == {**TINY["notebooks"]["digits_demo"]["budget"], "knn_k": 3}


@pytest.mark.parametrize("given, words", [
    ("budget: {lr: 0}", "budget.lr must be > 0, got 0"),
    ("budget: {cluster_size: 0}", "budget.cluster_size must be a positive integer, got 0"),
    ("budget: {cluster_size: -1}", "budget.cluster_size must be a positive integer, got -1"),
    ("budget: {subset_fraction: 1.5}", "budget.subset_fraction must be in (0, 1], got 1.5"),
])
def test_budget_value_ranges_before_anything_starts(tmp_path, capsys, given, words):
    err = run_error(tmp_path, capsys, TINY, "--only", "digits_demo", "-y", given)
    assert f"command line (-p / -y): study 'digits_demo', parameter 'budget': {words}" in err
    assert err.count("\n") == 1


def test_budget_value_range_names_the_profile_layer_that_set_it(tmp_path, capsys):
    profile = {"notebooks": {"digits_demo": {"budget": {"lr": 0.0, "knn_k": 5}}}}
    err = run_error(tmp_path, capsys, profile, "--only", "digits_demo", "-y", "budget: {knn_k: 3}")
    assert "broken.yaml (notebooks: digits_demo): study 'digits_demo', parameter 'budget': budget.lr must be > 0" in err


@pytest.mark.parametrize("study, given, words", [
    ("mnist_imbalance", "seeds: []", "'seeds': must not be empty"),
    ("mnist_imbalance", "methods: []", "'methods': must not be empty"),
    ("mnist_imbalance", "margin_scales: []", "'margin_scales': must not be empty"),
    ("mnist_imbalance", "methods: [Softmax, Quintuplet+resample+cots]",
     "'methods': unknown method 'Quintuplet+resample+cots' (did you mean 'Quintuplet+resample+cost'"),
    ("bsds_edges", "baseline_method: DeepContour", "'baseline_method': unknown method 'DeepContour'"),
    ("imbalanced_methods", "crl_candidates: [CRL relative]", "'crl_candidates': unknown method 'CRL relative'"),
    ("imbalanced_methods", "mnist_methods: [Focal, focal]", "'mnist_methods': unknown method 'focal'"),
    ("knn_speed", "method: LMLE-KNN", "'method': unknown method 'LMLE-KNN'"),
    ("knn_speed", "n_queries: 0", "'n_queries': must be a positive count, got 0"),
    ("knn_speed", "k: 0", "'k': must be a positive count, got 0"),
    ("mnist_imbalance", "n_train: -5", "'n_train': must be >= 0, got -5"),
    ("bsds_edges", "n_thresholds: 0", "'n_thresholds': must be a positive count, got 0"),
])
def test_value_ranges_before_anything_starts(tmp_path, capsys, study, given, words):
    err = run_error(tmp_path, capsys, TINY, "--only", study, "-y", given)
    assert f"command line (-p / -y): study '{study}', parameter {words}" in err, err


@pytest.mark.parametrize("study, given", [("mnist_imbalance", "n_train: 0"), ("bsds_edges", "n_calibration: 0"),
                                          ("mnist_imbalance", "curve_iters: []"), ("knn_speed", "method: LMLE-kNN")])
def test_documented_zero_and_empty_defaults_stay_valid(study, given):
    """0 where the notebook says what it means ("0 means all", "0: none"), [] where the default is []."""
    studies = config.select_studies(config.load_studies(NOTEBOOKS), [study])
    config.validate_run(studies, config.load_profile(NOTEBOOKS, "tiny"), yaml.safe_load(given), NOTEBOOKS)


def test_every_notebook_default_is_in_range():
    """The range rules accept what the notebooks themselves declare (method names included)."""
    for study in config.load_studies(NOTEBOOKS):
        for name, declared in config.notebook_parameters(NOTEBOOKS / study["notebook"]).items():
            assert config.check_range(name, declared.default, declared) is None, (study["name"], name)
