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

from lmle_core.study import runner

KERNEL = os.environ.get("LMLE_KERNEL", "lmle")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One whole tiny run with a cold cache (decoded images and trained runs: a fresh LMLE_CACHE_DIR)."""
    root = tmp_path_factory.mktemp("tiny")
    data_root = os.environ.get("LMLE_DATA_ROOT") or str(root / "empty-data-root")
    os.makedirs(data_root, exist_ok=True)
    buf = io.StringIO()
    before = os.environ.get("LMLE_CACHE_DIR")
    os.environ["LMLE_CACHE_DIR"] = str(root / "cold-cache")
    try:
        with contextlib.redirect_stdout(buf):
            rc = runner.main(["--profile", "tiny", "--data-root", data_root, "--results-root",
                              str(root / "results"), "--kernel", KERNEL])
    finally:
        if before is None:
            os.environ.pop("LMLE_CACHE_DIR", None)
        else:
            os.environ["LMLE_CACHE_DIR"] = before
    return rc, root / "results" / "tiny", bool(os.environ.get("LMLE_DATA_ROOT")), buf.getvalue()


@pytest.mark.slow
def test_every_notebook_runs_with_the_tiny_profile(tiny_run):
    rc, results, have_data, stdout = tiny_run
    studies = runner.load_studies(runner.DEFAULT_NOTEBOOKS_DIR)
    assert studies, "notebooks/studies.yaml lists no study"
    assert rc == 0, stdout
    for study in studies:
        run = json.loads((results / "run.json").read_text())["studies"][study["name"]]
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
        # papermill parses the cell too (and warns "Passed unknown parameter" for a line it cannot read)
        import papermill

        from lmle_core.study import config
        assert set(papermill.inspect_notebook(str(path))) == set(config.notebook_parameters(path)), path.name


def _tables(results):
    """Every CSV table of a run, without its timing columns (seconds, queries per second) and the
    'from run cache' provenance column."""
    import pandas as pd

    out = {}
    for path in sorted(results.glob("*/tables/*.csv")):
        df = pd.read_csv(path)
        out[str(path.relative_to(results))] = df[[c for c in df.columns if not any(
            w in c for w in ("seconds", "per_second", "per second", "cache"))]]  # timings and cache provenance
    return out


@pytest.mark.slow
def test_the_same_command_twice_gives_identical_tables(tiny_run, tmp_path):
    """Determinism on CPU: a second whole tiny run, in a separate process with its own cold cache
    (decoded images and trained runs), writes the same tables, every one (timings aside)."""
    import subprocess
    import sys

    import pandas as pd

    rc, first, have_data, _ = tiny_run
    assert rc == 0
    data_root = os.environ.get("LMLE_DATA_ROOT") or str(first.parent.parent / "empty-data-root")
    env = {**os.environ, "LMLE_CACHE_DIR": str(tmp_path / "fresh-cache")}
    proc = subprocess.run([sys.executable, "-m", "lmle_core.study.runner", "--profile", "tiny", "--data-root",
                           data_root, "--results-root", str(tmp_path), "--kernel", KERNEL],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = _tables(first), _tables(tmp_path / "tiny")
    assert a and set(a) == set(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.slow
@pytest.mark.realdata
def test_partly_missing_data_is_marked_in_the_status(data_root, tmp_path):
    """knn_speed without CelebA's partition file: 'ok, CelebA part skipped: <what>; get it with: <command>'."""
    root = tmp_path / "data"
    (root / "CelebA").mkdir(parents=True)
    for name in ("MNIST", "BSDS500"):
        (root / name).symlink_to(os.path.join(data_root, name))
    for name in ("Anno", "img_align_celeba"):
        (root / "CelebA" / name).symlink_to(os.path.join(data_root, "CelebA", name))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = runner.main(["--profile", "tiny", "--only", "knn_speed", "--data-root", str(root), "--results-root",
                          str(tmp_path / "results"), "--kernel", KERNEL])
    out = buf.getvalue()
    assert rc == 0, out
    line = [l for l in out.splitlines() if l.startswith("[1/1] knn_speed")][0]
    assert f"ok, CelebA part skipped: missing {root}/CelebA/Eval/list_eval_partition.txt" in line
    assert f"get it with: python -m lmle_core.data.download celeba --root {root}" in line
    record = json.loads((tmp_path / "results" / "tiny" / "run.json").read_text())["studies"]["knn_speed"]
    assert record["status"] == "ok" and record["partial"][0].startswith(
        "CelebA part skipped: missing <data_root>/CelebA/Eval/list_eval_partition.txt")
    report = (tmp_path / "results" / "tiny" / "REPORT.md").read_text()
    assert "**ok, CelebA part skipped: missing <data_root>/CelebA/Eval/list_eval_partition.txt" in report
