"""Papermill smoke test: every study notebook runs with the tiny profile.

With LMLE_DATA_ROOT set every study must run and be ok; without it, an empty data root is
used: the studies that need no data must be ok and the others skipped with the command that
gets their data. One runner call for all notebooks (each kernel start costs seconds).
"""
import contextlib
import io
import json
import os

import pytest

from lmle_core import runner

KERNEL = os.environ.get("LMLE_KERNEL", "lmle")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data_root = os.environ.get("LMLE_DATA_ROOT") or str(root / "empty-data-root")
    os.makedirs(data_root, exist_ok=True)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = runner.main(["--profile", "tiny", "--data-root", data_root, "--results-root", str(root / "results"),
                          "--kernel", KERNEL])
    return rc, root / "results" / "tiny", bool(os.environ.get("LMLE_DATA_ROOT")), buf.getvalue()


@pytest.mark.slow
def test_every_notebook_runs_with_the_tiny_profile(tiny_run):
    rc, results, have_data, stdout = tiny_run
    studies = runner.load_studies(runner.DEFAULT_NOTEBOOKS_DIR)
    assert studies, "notebooks/studies.yaml lists no study"
    assert rc == 0, stdout
    for study in studies:
        run = json.loads((results / study["name"] / "run.json").read_text())
        if have_data or not study["requires"]:
            assert run["status"] == "ok", (study["name"], run)
            metrics = json.loads((results / study["name"] / "metrics.json").read_text())
            assert metrics["tables"] or metrics["figures"], study["name"]
        else:
            assert run["status"] == "skipped", (study["name"], run)
            assert "python -m lmle_core.data.download" in json.dumps(run), run
    report = (results / "REPORT.md").read_text()
    for study in studies:
        assert f"## {study['title']}" in report


@pytest.mark.slow
def test_notebooks_are_committed_clean():
    """Outputs stripped, one cell tagged 'parameters' declaring the injected names."""
    for path in sorted(runner.DEFAULT_NOTEBOOKS_DIR.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") for c in code), f"{path.name} has outputs: strip them"
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{path.name}: expected one cell tagged 'parameters'"
        src = "".join(params[0]["source"])
        for name in runner.INJECTED:
            assert f"{name}:" in src or f"{name} =" in src, f"{path.name}: parameters cell lacks {name}"
