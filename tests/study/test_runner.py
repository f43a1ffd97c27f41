"""lmle_core.study.runner on temporary notebooks (one papermill batch), plus the authoring script.

Needs the Jupyter kernel named $LMLE_KERNEL (default ``lmle``; scripts/bootstrap.sh registers it).
"""
import contextlib
import importlib.util
import io
import json
import os
import re
import types
from pathlib import Path

import pytest
import yaml

from lmle_core.study import data_needs, runner

REPO = Path(__file__).resolve().parents[2]
KERNEL = os.environ.get("LMLE_KERNEL", "lmle")
ABS_PATH = re.compile(r"(?<![\w.:/~<>\-])(?:/[\w.+@%=,\-]+){2,}")


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


py2nb = _load_script("py_to_notebook")

PARAMS_CELL = """# %% tags=["parameters"]
data_root = "data"
results_dir = "results/x"
profile = "tiny"
n_iters = 1
sizes = [0]
seed = 0
budget = {"lr": 0.5}
"""

OK_SRC = PARAMS_CELL + """

# %% [markdown]
# # A study that writes through StudyReport

# %%
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
from lmle_core.study.reporting import StudyReport
rep = StudyReport(results_dir, title="OK study")
rep.data_used("Fakeset (subset present)", {"train": 12000, "test": 4640})
rep.table("params", pd.DataFrame({"name": ["n_iters", "seed", "sizes_len", "profile"],
                                  "value": [n_iters, seed, len(sizes), profile]}),
          caption="the parameters this notebook received")
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
rep.figure("line", fig, caption="a falling line")
rep.metric("sizes", sizes)
rep.metric("types", [type(n_iters).__name__, type(sizes).__name__, type(data_root).__name__])
rep.metric("data_root_is_abs", data_root.startswith("/"))
rep.metric("budget", budget)
rep.note("This note mentions " + data_root + "/fakeset, which must not reach the report.")
rep.skip("part B: otherset missing")
rep.timing("fit", 0.25)
rep.save()
"""

FAIL_SRC = PARAMS_CELL + """
# %%
from lmle_core.study.reporting import StudyReport
import pandas as pd
rep = StudyReport(results_dir, title="Failing study")
rep.table("before_failure", pd.DataFrame({"a": [1]}), caption="written before the error")

# %%
raise ValueError("boom: cannot read " + data_root + "/missing.bin")
"""

SLOW_SRC = PARAMS_CELL + """
# %%
import time
time.sleep(1)

# %%
time.sleep(60)
"""

SKIP_SRC = PARAMS_CELL + """
# %%
raise AssertionError("a study whose data is missing must not be executed")
"""

STUDIES = [
    {"name": "ok_study", "notebook": "ok_study.ipynb", "title": "OK study: writes a table",
     "paper_item": "LMLE Table 5", "requires": [["presentset"]]},
    {"name": "fail_study", "notebook": "fail_study.ipynb", "title": "Failing study",
     "paper_item": "LMLE Table 3", "requires": []},
    {"name": "slow_study", "notebook": "slow_study.ipynb", "title": "Slow study", "requires": []},
    {"name": "skip_study", "notebook": "skip_study.ipynb", "title": "Study without data",
     "paper_item": "LMLE Table 2", "requires": [["fakeset"], ["otherset", "presentset"]]},
]

PROFILE = {"timeout_s": 120, "parameters": {"n_iters": 3, "seed": 7, "sizes": [1, 2, 3]},
           "notebooks": {"ok_study": {"n_iters": 5, "budget": {"lr": 0.02, "knn_k": 3}}}, "timeouts": {"slow_study": 2.5}}


def fake_check_dataset(name, data_root):
    available = name == "presentset"
    return types.SimpleNamespace(
        available=available,
        message="" if available else f"{name} not found under {data_root}/{name}",
        download_command=None if available else f"python -m lmle_core.data.download {name} --root {data_root}")


def make_notebooks_dir(root: Path, studies, profile, sources=None) -> Path:
    nbdir = root / "notebooks"
    (nbdir / "profiles").mkdir(parents=True)
    (nbdir / "studies.yaml").write_text(yaml.safe_dump(studies, sort_keys=False))
    (nbdir / "profiles" / "tiny.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    for name, src in (sources or {}).items():
        (root / f"{name}.py").write_text(src)
        py2nb.convert(root / f"{name}.py", nbdir / f"{name}.ipynb")
    return nbdir


def test_kernel_is_registered():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no Jupyter kernel named {KERNEL!r}: run scripts/bootstrap.sh (or set LMLE_KERNEL)")
    assert spec.language == "python"


def earlier_results(results: Path, name: str) -> dict:
    """A study folder as an earlier run left it; returns {relative path: bytes}."""
    d = results / "tiny" / name
    (d / "tables").mkdir(parents=True)
    (d / "tables" / "old.csv").write_text("a\n1\n")
    (d / "run.json").write_text(json.dumps({"status": "ok", "finished": "2026-01-02T03:04:05+00:00", "wall_s": 9.0}))
    (d / "metrics.json").write_text(json.dumps({"title": name, "tables": [], "notes": ["from the earlier run"]}))
    return snapshot(d)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """ONE runner call over the temporary notebooks (ok / failed / timed out / skipped)."""
    root = tmp_path_factory.mktemp("runner")
    nbdir = make_notebooks_dir(root, STUDIES, PROFILE,
                               {"ok_study": OK_SRC, "fail_study": FAIL_SRC,
                                "slow_study": SLOW_SRC, "skip_study": SKIP_SRC})
    data_root = root / "datasets"
    data_root.mkdir()
    results = root / "results"
    # Earlier results: replaced for the study that succeeds, kept as they are for the others.
    before = {name: earlier_results(results, name) for name in ("ok_study", "fail_study", "skip_study")}
    mp = pytest.MonkeyPatch()
    mp.setattr(data_needs, "check_dataset", fake_check_dataset)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = runner.main(["--profile", "tiny", "--data-root", str(data_root), "--results-root", str(results),
                              "--notebooks-dir", str(nbdir), "--kernel", KERNEL, "-y", "budget: {knn_k: 4}"])
    finally:
        mp.undo()
    out_lines = buf.getvalue().splitlines()
    return types.SimpleNamespace(root=root, rc=rc, results=results / "tiny", stdout=out_lines, data_root=data_root,
                                 before=before)


def _run_json(batch, name):
    """This run's record of a study (the run-level run.json)."""
    return json.loads((batch.results / "run.json").read_text())["studies"][name]


def test_batch_statuses_and_exit_code(batch):
    assert batch.rc == 1
    ok, fail, skip = (_run_json(batch, n) for n in ("ok_study", "fail_study", "skip_study"))
    assert ok["status"] == "ok", ok
    assert ok["partial"] == ["part B: otherset missing"]
    assert fail["status"] == "failed"
    assert skip["status"] == "skipped"
    for rec in (ok, fail, skip):
        assert set(rec) >= {"status", "wall_s", "error", "started", "finished"}
        assert rec["wall_s"] >= 0
    assert "ValueError: boom" in fail["error"]
    assert str(batch.data_root) not in fail["error"] and "<data_root>/missing.bin" in fail["error"]
    slow = _run_json(batch, "slow_study")
    assert slow["status"] == "failed" and slow["error"].startswith("timeout: the notebook ran past its limit of 2.5 s"), slow
    assert "time.sleep(60)" in slow["error"]
    assert 2.5 <= slow["wall_s"] < 30  # the budget covers the whole notebook, not each cell
    assert "fakeset" in skip["reason"] and "otherset" in skip["reason"]
    assert skip["download_commands"] == ["python -m lmle_core.data.download fakeset --root <data_root>",
                                         "python -m lmle_core.data.download otherset --root <data_root>"]
    # the study folder of the study that ran holds the record of the run that made it
    assert json.loads((batch.results / "ok_study" / "run.json").read_text())["status"] == "ok"
    # progress: the data root, then one line per study on stdout, in order, plus the summary
    assert batch.stdout[0].startswith(f"data root {batch.data_root} (--data-root): holds")
    progress = [l for l in batch.stdout if l.startswith("[")]
    assert [l.split()[1] for l in progress] == ["ok_study", "fail_study", "slow_study", "skip_study"]
    assert [l.split("s  ", 1)[1].split(":")[0] for l in progress] == [
        "ok, part B", "failed", "failed", "skipped"]
    assert "ok, part B: otherset missing" in progress[0]
    assert "(executed notebook: tiny/notebooks/fail_study.failed.ipynb)" in progress[1]
    assert "1 ok, 2 failed, 1 skipped" in batch.stdout[-1]


def test_batch_outputs(batch):
    res = batch.results
    assert (res / "notebooks" / "ok_study.ipynb").is_file()
    assert (res / "notebooks" / "fail_study.failed.ipynb").is_file()
    assert not (res / "notebooks" / "fail_study.ipynb").exists()
    assert not (res / "notebooks" / "skip_study.ipynb").exists()
    # the study that succeeded replaced its earlier results entirely
    assert not (res / "ok_study" / "tables" / "old.csv").exists()
    # the failed and the skipped study kept theirs, byte for byte
    assert snapshot(res / "fail_study") == batch.before["fail_study"]
    assert snapshot(res / "skip_study") == batch.before["skip_study"]
    # parameters: common < per-notebook < injected, types kept
    params = (res / "ok_study" / "tables" / "params.csv").read_text().splitlines()
    assert params[1:] == ["n_iters,5", "seed,7", "sizes_len,3", "profile,tiny"]
    m = json.loads((res / "ok_study" / "metrics.json").read_text())
    assert m["profile"] == "tiny"
    assert m["metrics"]["sizes"] == [1, 2, 3]
    assert m["metrics"]["types"] == ["int", "list", "str"]
    assert m["metrics"]["data_root_is_abs"] is True
    assert (res / "ok_study" / "figures" / "line.png").is_file()
    # a partial budget on the command line changed one key of the profile's budget (issue 21)
    assert m["metrics"]["budget"] == {"lr": 0.02, "knn_k": 4}
    # the failing notebook's partial outputs are kept aside, not in its results
    assert (res / ".failed" / "fail_study" / "tables" / "before_failure.csv").is_file()
    leftovers = [p for p in batch.root.rglob("*") if p.name.startswith(".tmp-") or ".new-" in p.name
                 or p.name.endswith(".old")]
    assert leftovers == []


def test_study_run_json_records_its_parameters(batch):
    """Each study's run.json says what it ran with: the profile, every parameter, the command line's."""
    kept = json.loads((batch.results / "ok_study" / "run.json").read_text())
    assert kept["profile"] == "tiny" and kept["profile_file"] == "profiles/tiny.yaml"
    assert kept["parameters"] == {"n_iters": 5, "seed": 7, "sizes": [1, 2, 3], "budget": {"lr": 0.02, "knn_k": 4}}
    assert kept["command_line"] == {"budget": {"knn_k": 4}}
    assert _run_json(batch, "fail_study")["parameters"]["budget"] == {"knn_k": 4}


def test_report_shows_each_sections_parameters(batch):
    """The header no longer claims the last run's -y values for sections made by earlier runs."""
    text = (batch.results / "REPORT.md").read_text()
    header, rest = text.split("\n## Summary", 1)
    assert "command line" not in header  # the kept sections were made without them
    ok = rest.split("\n## OK study: writes a table")[1].split("\n## ")[0]
    assert ('- Made with profile `tiny` (`notebooks/profiles/tiny.yaml`); given on the command line: '
            '`{"budget": {"knn_k": 4}}`') in ok
    assert '- Parameters: `{"n_iters": 5, "seed": 7, "sizes": [1, 2, 3], "budget": {"lr": 0.02, "knn_k": 4}}`' in ok
    failed = rest.split("\n## Failing study")[1].split("\n## ")[0]
    assert "- Parameters: not recorded" in failed


def test_batch_report(batch):
    text = (batch.results / "REPORT.md").read_text()
    sections = re.findall(r"^## (.+)$", text, flags=re.M)
    assert sections == ["Summary", "OK study: writes a table", "Failing study", "Slow study", "Study without data"]
    body = {title: chunk for title, chunk in zip(sections, re.split(r"^## .+$", text, flags=re.M)[1:])}
    ok, fail, skip = body["OK study: writes a table"], body["Failing study"], body["Study without data"]
    assert "**ok, part B: otherset missing**" in ok
    assert "> Part of this study was skipped: part B: otherset missing" in ok
    assert "**Table params.** the parameters this notebook received" in ok
    assert re.search(r"\| n_iters +\| +5 +\|", ok)  # the Markdown table is inlined
    assert "![a falling line](ok_study/figures/line.png)" in ok
    assert re.search(r"\| Fakeset \(subset present\) +\| train 12,000, test 4,640 +\|", ok)
    assert "Paper item: LMLE Table 5" in ok
    assert "**failed**" in fail and "ValueError: boom" in fail
    assert "last good ones, from the run of 2026-01-02 03:04" in fail and "from the earlier run" in fail
    assert "**failed**" in body["Slow study"] and "timeout" in body["Slow study"]
    assert "No earlier results" in body["Slow study"]
    assert "**skipped**" in skip and "last good ones, from the run of 2026-01-02 03:04" in skip
    assert "python -m lmle_core.data.download fakeset --root <data_root>" in skip
    assert "[OK study: writes a table](#ok-study-writes-a-table)" in body["Summary"]
    assert "- Data root: `<path>/datasets` (--data-root), holding none of the datasets" in text
    # never a local absolute path
    for p in (batch.root, batch.data_root, runner.REPO_ROOT, Path.home()):
        assert str(p) not in text
    assert not ABS_PATH.search(text), ABS_PATH.search(text)


# ----------------------------------------------------------------------------------------------
# Configuration errors and listing (no kernel started)
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def small_nbdir(tmp_path, monkeypatch):
    monkeypatch.setattr(data_needs, "check_dataset", fake_check_dataset)
    return make_notebooks_dir(tmp_path, STUDIES, PROFILE, {"ok_study": OK_SRC, "fail_study": FAIL_SRC,
                                                          "slow_study": SLOW_SRC, "skip_study": SKIP_SRC})


def test_unknown_only_exits_2(small_nbdir, tmp_path, capsys):
    rc = runner.main(["--profile", "tiny", "--notebooks-dir", str(small_nbdir), "--results-root",
                      str(tmp_path / "r"), "--only", "ok_study,nope"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nope" in err and "ok_study" in err and "fail_study" in err and "skip_study" in err


def test_missing_profile_exits_2(small_nbdir, tmp_path, capsys):
    rc = runner.main(["--profile", "quick", "--notebooks-dir", str(small_nbdir), "--results-root", str(tmp_path / "r")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "quick.yaml" in err and "tiny" in err


def test_list(small_nbdir, tmp_path, capsys):
    rc = runner.main(["--profile", "tiny", "--notebooks-dir", str(small_nbdir), "--list",
                      "--data-root", str(tmp_path / "d")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "ok_study" in out and "data: ok" in out and "data: MISSING" in out
    assert not (tmp_path / "r").exists()


def test_only_skipped_study_exits_0(small_nbdir, tmp_path, capsys):
    rc = runner.main(["--profile", "tiny", "--notebooks-dir", str(small_nbdir), "--results-root",
                      str(tmp_path / "r"), "--only", "skip_study", "--kernel", KERNEL])
    assert rc == 0
    text = (tmp_path / "r" / "tiny" / "REPORT.md").read_text()
    assert "This run executed only: skip_study" in text
    assert "| [OK study: writes a table](#ok-study-writes-a-table) | LMLE Table 5 | not run | none |" in text


def test_empty_studies_exit_0(tmp_path, capsys):
    nbdir = make_notebooks_dir(tmp_path, [], {"timeout_s": 10, "notebooks": {}})
    rc = runner.main(["--profile", "tiny", "--notebooks-dir", str(nbdir), "--results-root", str(tmp_path / "r"),
                      "--kernel", "no-such-kernel-needed"])
    assert rc == 0
    assert "No studies are defined yet" in (tmp_path / "r" / "tiny" / "REPORT.md").read_text()


@pytest.mark.parametrize("requires", [["mnist"], [["mnist"], "bsds500"], [[]], "mnist"])
def test_bad_requires_rejected(tmp_path, requires, capsys):
    nbdir = make_notebooks_dir(tmp_path, [{"name": "x", "notebook": "x.ipynb", "requires": requires}],
                               {"timeout_s": 10})
    assert runner.main(["--profile", "tiny", "--notebooks-dir", str(nbdir)]) == 2
    assert "requires" in capsys.readouterr().err


def test_injected_parameter_in_profile_rejected(tmp_path, capsys):
    nbdir = make_notebooks_dir(tmp_path, [], {"timeout_s": 10, "parameters": {"data_root": "/x"}})
    assert runner.main(["--profile", "tiny", "--notebooks-dir", str(nbdir)]) == 2
    assert "data_root" in capsys.readouterr().err


def test_describe_error():
    from papermill.exceptions import PapermillExecutionError

    e = PapermillExecutionError(cell_index=2, exec_count=3, source="raise ValueError('x')", ename="ValueError",
                                evalue="x", traceback=["\x1b[0;31m---------\x1b[0m",
                                                       "\x1b[0;31mValueError\x1b[0m: x",
                                                       "Cell In[3], line 1\n----> 1 raise ValueError('x')"])
    d = runner.describe_error(e)
    assert d.startswith("ValueError: x (cell 3)") and "\x1b" not in d
    assert "raise ValueError('x')" in d

    class CellTimeoutError(TimeoutError):
        pass

    assert runner.describe_error(CellTimeoutError("Cell execution timed out")).startswith("timeout: CellTimeoutError")
    assert runner.describe_error(RuntimeError()) == "RuntimeError"


# ----------------------------------------------------------------------------------------------
# scripts/py_to_notebook.py
# ----------------------------------------------------------------------------------------------
def test_py_to_notebook_roundtrip(tmp_path):
    import nbformat

    src = tmp_path / "s.py"
    src.write_text("# ---\n# jupyter: {}\n# ---\n\n# %% [markdown]\n# # Title\n#\n# prose\n\n"
                   + PARAMS_CELL + "\n# %%\nprint(1)\n\n\n# %% [raw]\nraw text\n")
    dst = tmp_path / "nb.ipynb"
    py2nb.convert(src, dst)
    first = dst.read_bytes()
    py2nb.convert(src, dst)
    assert dst.read_bytes() == first  # deterministic
    nb = nbformat.read(str(dst), as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "raw"]
    assert nb.cells[0].source == "# Title\n\nprose"
    assert nb.cells[1].metadata["tags"] == ["parameters"]
    assert nb.cells[1].source.startswith('data_root = "data"')
    assert nb.cells[2].source == "print(1)" and nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert nb.metadata["kernelspec"] == {"name": "lmle", "display_name": "Python (lmle)", "language": "python"}

    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[2].execution_count = 1
    nbformat.write(nb, str(dst))
    assert py2nb.main(["--strip", "--check", str(dst)]) == 1
    assert py2nb.main(["--strip", str(dst)]) == 0
    assert dst.read_bytes() == first
    assert py2nb.main(["--strip", "--check", str(dst)]) == 0
