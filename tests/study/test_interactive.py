"""Reading and running the notebooks by hand: the lab command, the data root of a hand run, the HTML pages."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lmle_core.study import notebook_paths, runner

REPO = runner.REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_lab_command_serves_the_lmle_kernel(tmp_path):
    """./run_all.sh --lab --no-browser: the server answers on localhost and lists the lmle kernel."""
    port, token = free_port(), "lmle-test-token"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen([str(REPO / "run_all.sh"), "--lab", "--data-root", str(tmp_path), "--no-browser",
                             "--port", str(port), "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline, specs = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5) as r:
                    specs = json.load(r)
                break
            except OSError:
                time.sleep(1)
        assert specs is not None, proc.stdout.read(20000).decode(errors="replace") if proc.poll() is not None else \
            "the lab server did not answer within 120 s"
        assert "lmle" in specs["kernelspecs"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5) as r:
            names = {item["name"] for item in json.load(r)["content"]}
        assert "celeba_attributes.ipynb" in names and "studies.yaml" in names  # the notebooks folder
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def test_notebook_paths_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("LMLE_DATA_ROOT", str(tmp_path / "datasets"))
    data, results = notebook_paths("", "", "knn_speed")
    assert data == str(tmp_path / "datasets")
    assert results == str(REPO / "results" / "interactive" / "knn_speed")
    monkeypatch.delenv("LMLE_DATA_ROOT")
    assert notebook_paths("", "", "x")[0] == str(REPO / "data")
    assert notebook_paths("/given", "/out", "x") == ("/given", "/out")


@pytest.mark.slow
def test_a_notebook_run_by_hand_finds_the_data_of_LMLE_DATA_ROOT(tmp_path, monkeypatch):
    """papermill without data_root / results_dir (as JupyterLab runs it): the data of $LMLE_DATA_ROOT is found."""
    import papermill

    from tests.data.conftest import make_mnist

    data = tmp_path / "datasets"
    make_mnist(data, n_train=50, n_test=20)
    monkeypatch.setenv("LMLE_DATA_ROOT", str(data))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    out = tmp_path / "overview"
    papermill.execute_notebook(str(REPO / "notebooks" / "dataset_overview.ipynb"), str(tmp_path / "o.ipynb"),
                               parameters={"results_dir": str(out), "n_bsds": 0}, kernel_name="lmle",
                               progress_bar=False, cwd=str(REPO / "notebooks"))
    table = (out / "tables" / "availability.csv").read_text()
    assert re.search(r"^mnist,True", table, flags=re.M), table
    assert re.search(r"^celeba,False", table, flags=re.M)


def test_committed_report_links_resolve():
    """Every relative link of the committed quick REPORT.md points at a committed file, and every
    study section with results links its executed notebook page (under 2 MB)."""
    report = REPO / "results" / "quick" / "REPORT.md"
    if not report.is_file():
        pytest.skip("no committed results/quick/REPORT.md")
    text = report.read_text()
    tracked = set(subprocess.run(["git", "-C", str(REPO), "ls-files", "results/quick"], capture_output=True,
                                 text=True).stdout.split())
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        assert f"results/quick/{link}" in tracked or (report.parent / link).is_file(), link
    for section in re.split(r"^## ", text, flags=re.M)[2:]:
        name = re.search(r"- Study: `([^`]+)`", section).group(1)
        if (report.parent / name / "metrics.json").is_file():
            assert f"]({name}/notebook.html)" in section, name
            assert (report.parent / name / "notebook.html").stat().st_size < 2_000_000, name
