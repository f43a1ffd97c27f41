"""The main job never loses results, guards its results folder, and says which data root it used.

Uses the REAL studies.yaml and notebooks, and copies of the committed results/quick.
"""
import errno
import os
import shutil
from pathlib import Path

import pytest

from lmle_core.study import data_needs, results_store, runner

KERNEL = os.environ.get("LMLE_KERNEL", "lmle")
COMMITTED = runner.REPO_ROOT / "results" / "quick"
DATA_STUDIES = [s["name"] for s in runner.load_studies(runner.DEFAULT_NOTEBOOKS_DIR) if s["requires"]]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def committed_copy(tmp_path):
    """results/quick as committed, copied (mtimes kept) under a temporary results root."""
    if not all((COMMITTED / s).is_dir() for s in DATA_STUDIES):
        pytest.skip("results/quick lacks some study folders")
    dest = tmp_path / "results" / "quick"
    for name in DATA_STUDIES:
        shutil.copytree(COMMITTED / name, dest / name)
    return dest


def test_missing_data_root_keeps_earlier_results_and_says_so(committed_copy, tmp_path, capsys):
    before = {name: snapshot(committed_copy / name) for name in DATA_STUDIES}
    missing = tmp_path / "no" / "such" / "dir"
    rc = runner.main(["--profile", "quick", "--data-root", str(missing), "--results-root",
                      str(tmp_path / "results"), "--only", ",".join(DATA_STUDIES), "--kernel", KERNEL])
    out = capsys.readouterr().out
    assert rc == 0, out
    for name in DATA_STUDIES:
        assert snapshot(committed_copy / name) == before[name], f"{name}: earlier results were touched"
    assert f"data root {missing} (--data-root) DOES NOT EXIST" in out
    report = (committed_copy / "REPORT.md").read_text()
    assert "- Data root: `<path>/dir` (--data-root) **does not exist**" in report
    for name in DATA_STUDIES:
        section = report.split(f"- Study: `{name}`")[1].split("\n## ")[0]
        assert "**skipped**" in section and "last good ones, from the run of" in section


def test_default_data_root_is_named(committed_copy, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LMLE_DATA_ROOT", raising=False)
    rc = runner.main(["--profile", "quick", "--results-root", str(tmp_path / "results"), "--only", DATA_STUDIES[0],
                      "--list"])
    assert rc == 0
    assert "data root ./data (default: ./data of the repository)" in capsys.readouterr().out


def test_second_run_on_the_same_folder_stops(tmp_path, capsys):
    holder = results_store.ResultsFolder(tmp_path / "results" / "tiny").lock("the first run")
    try:
        rc = runner.main(["--profile", "tiny", "--results-root", str(tmp_path / "results"), "--only", "digits_demo",
                          "--kernel", KERNEL])
    finally:
        holder.unlock()
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: another run is writing")
    assert "the first run" in err and f"pid {os.getpid()}" in err
    assert not (tmp_path / "results" / "tiny" / "digits_demo").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; see the simulated test below")
def test_read_only_results_folder(tmp_path, capsys):
    root = tmp_path / "results"
    (root / "tiny").mkdir(parents=True)
    os.chmod(root / "tiny", 0o555)
    try:
        rc = runner.main(["--profile", "tiny", "--results-root", str(root), "--only", "digits_demo",
                          "--kernel", KERNEL])
    finally:
        os.chmod(root / "tiny", 0o755)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"cannot write the results folder {root / 'tiny'}" in err


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied (read-only?)"),
                                         (errno.ENOSPC, "no space left on device")])
def test_unwritable_results_folder_simulated(tmp_path, capsys, monkeypatch, code, words):
    """The lock file cannot be created (what a read-only or full file system does to root too)."""
    real_open = os.open

    def failing_open(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(results_store.os, "open", failing_open)
    rc = runner.main(["--profile", "tiny", "--results-root", str(tmp_path / "results"), "--only", "digits_demo",
                      "--kernel", KERNEL])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"error: cannot write the results folder {tmp_path / 'results' / 'tiny'}: {words}\n"


def test_disk_full_while_writing_the_report(tmp_path, capsys, monkeypatch):
    """A write that fails after the lock (here the run summary) is one line too, and the lock is released."""
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "write_json_atomic", full)
    monkeypatch.setattr(data_needs, "check_dataset", lambda name, root: type("S", (), {"available": False,
                                                                                    "message": "x", "download_command": ""})())
    rc = runner.main(["--profile", "tiny", "--results-root", str(tmp_path / "results"), "--only", "mnist_imbalance",
                      "--kernel", KERNEL, "--data-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.endswith(": no space left on device\n") and err.count("\n") == 1
    results_store.ResultsFolder(tmp_path / "results" / "tiny").lock().unlock()  # not held any more


def test_interrupted_swap_is_repaired(tmp_path):
    folder = results_store.ResultsFolder(tmp_path / "tiny").lock()
    try:
        (folder.root / ".study.old").mkdir()
        (folder.root / ".study.old" / "kept.csv").write_text("1")
        (folder.root / ".other.new-123").mkdir()
        notes = folder.recover()
        assert (folder.root / "study" / "kept.csv").read_text() == "1"
        assert not (folder.root / ".other.new-123").exists()
        assert len(notes) == 2
        staging = folder.staging("study")
        (staging / "new.csv").write_text("2")
        folder.commit("study", staging)
        assert [p.name for p in (folder.root / "study").iterdir()] == ["new.csv"]
        assert not list(folder.root.glob(".study*"))
    finally:
        folder.unlock()


def test_data_root_that_is_a_file_is_named_so(tmp_path, capsys):
    """Issue 21: a --data-root that is a file was reported as "DOES NOT EXIST"."""
    archive = tmp_path / "datasets.tar"
    archive.write_bytes(b"not a folder")
    rc = runner.main(["--profile", "tiny", "--data-root", str(archive), "--only", "digits_demo", "--list"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"data root {archive} (--data-root) is a file, not a folder" in out and "DOES NOT EXIST" not in out


def test_help_lists_lab(capsys):
    with pytest.raises(SystemExit) as exit_:
        runner.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--lab" in out and "JupyterLab" in out
    assert runner.main(["--lab"]) == 2  # only run_all.sh starts JupyterLab
    assert "./run_all.sh --lab" in capsys.readouterr().err
