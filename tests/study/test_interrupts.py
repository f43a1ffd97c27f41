"""SIGINT / SIGTERM during a batch run (issue 21): the study is "interrupted", not "failed"; the
kernel is killed; no staging folder, half-written notebook or kernel log is left; the earlier
results stay; the run stops and still writes its summary and REPORT.md.

Runs the runner in a subprocess (a real signal) on a temporary notebook that sleeps.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmle_core.study import runner
from tests.study.test_runner import KERNEL, PARAMS_CELL, earlier_results, make_notebooks_dir, snapshot

SLEEPER = PARAMS_CELL + """
# %%
import os, pathlib, time
pathlib.Path(results_dir, "partial.csv").write_text("a\\n1\\n")
pathlib.Path(data_root, "kernel.pid").write_text(str(os.getpid()))

# %%
time.sleep(120)
"""

AFTER = PARAMS_CELL + """
# %%
raise AssertionError("the run must stop at the interrupted study")
"""


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie waits only for its (new) parent to reap it


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_marks_the_study_interrupted_and_leaves_nothing(tmp_path, signum):
    studies = [{"name": "sleeper", "notebook": "sleeper.ipynb", "title": "Sleeper", "requires": []},
               {"name": "after", "notebook": "after.ipynb", "title": "After", "requires": []}]
    nbdir = make_notebooks_dir(tmp_path, studies, {"timeout_s": 300, "parameters": {"n_iters": 1}},
                               {"sleeper": SLEEPER, "after": AFTER})
    data_root, results, tmp = tmp_path / "data", tmp_path / "results", tmp_path / "tmp"
    data_root.mkdir()
    tmp.mkdir()
    before = earlier_results(results, "sleeper")
    env = {**os.environ, "PYTHONPATH": str(runner.REPO_ROOT), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "lmle_core.study.runner", "--profile", "tiny", "--notebooks-dir",
                             str(nbdir), "--results-root", str(results), "--data-root", str(data_root),
                             "--kernel", KERNEL], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid_file = data_root / "kernel.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), proc.communicate(timeout=60)[0] if proc.poll() is not None else "kernel did not start"
    time.sleep(0.5)  # the second cell is sleeping
    kernel_pid = int(pid_file.read_text())
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, out
    assert "interrupted" in out and "Traceback" not in out, out

    run = json.loads((results / "tiny" / "run.json").read_text())
    assert run["studies"]["sleeper"]["status"] == "interrupted", run["studies"]
    assert run["studies"]["sleeper"]["error"] == f"interrupted by {signal.Signals(signum).name}"
    assert "after" not in run["studies"]  # the run stopped there
    assert snapshot(results / "tiny" / "sleeper") == before  # the earlier results stay
    report = (results / "tiny" / "REPORT.md").read_text()
    assert "**interrupted**" in report and "last good ones" in report
    leftovers = [str(p.relative_to(tmp_path)) for p in (results / "tiny").rglob("*")
                 if ".new-" in p.name or p.name.endswith((".kernel.log", ".old")) or p.name in (".failed", "partial.csv")
                 or p.name.endswith(".failed.ipynb")]
    assert leftovers == []
    assert list(tmp.iterdir()) == []  # the kernel's IPC folder too
    deadline = time.monotonic() + 10
    while not _dead(kernel_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _dead(kernel_pid), "the kernel survived the run"
