"""lmle_core.reporting: Markdown tables, paper comparison, StudyReport, REPORT.md."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmle_core.study import reporting
from lmle_core.study.reporting import (StudyReport, build_report, compare_with_paper, format_value, git_commit,
                                 hardware_summary, markdown_table, sanitize_text, write_json_atomic,
                                 write_text_atomic)

ABS_PATH = re.compile(r"(?<![\w.:/~<>\-])(?:/[\w.+@%=,\-]+){2,}")


def temp_files(root: Path):
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------
def cells(md: str) -> list[list[str]]:
    """The rows of a pipe table as stripped cells (escaped pipes kept as ``\\|``)."""
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in md.splitlines()]


def test_markdown_table_basic():
    df = pd.DataFrame({"method": ["a|b", "c"], "acc": [83.8312, float("nan")], "n": [12000, 5]})
    md = markdown_table(df)
    rows = cells(md)
    assert rows[0] == ["method", "acc", "n"]
    assert [re.fullmatch(r":-+|-+:", c) is not None for c in rows[1]] == [True, True, True]
    assert rows[1][0].startswith(":") and rows[1][1].endswith(":") and rows[1][2].endswith(":")  # text left, numbers right
    assert rows[2:] == [["a\\|b", "83.83", "12000"], ["c", "n/a", "5"]]
    assert len({len(line) for line in md.splitlines()}) == 1  # padded: readable as plain text too
    assert md.endswith("\n")


def test_markdown_table_float_format_and_index():
    df = pd.DataFrame({"x": [0.123456, 2.0]}, index=pd.Index(["r1", "r2"], name="row"))
    rows = cells(markdown_table(df, float_format=".2f"))
    assert rows[0] == ["row", "x"] and rows[2:] == [["r1", "0.12"], ["r2", "2.00"]]
    assert cells(markdown_table(df, float_format="{:.1f}"))[2] == ["r1", "0.1"]
    assert cells(markdown_table(df, float_format="%.3f"))[2] == ["r1", "0.123"]
    assert cells(markdown_table(df, float_format=lambda v: f"<{v:.0f}>"))[3] == ["r2", "<2>"]
    assert cells(markdown_table(df, index=False))[0] == ["x"]
    # numbers as text are not re-parsed by tabulate (keeps "1.50" and "007")
    assert cells(markdown_table(pd.DataFrame({"s": ["1.50", "007"]})))[2:] == [["1.50"], ["007"]]


def test_format_value_defaults():
    assert format_value(1.0) == "1"
    assert format_value(np.float32(0.73125)) == "0.7312"
    assert format_value(1234.5678) == "1234.57"
    assert format_value(np.int64(7)) == "7"
    assert format_value(None) == "n/a"
    assert format_value(float("nan")) == "n/a"
    assert format_value(True) == "True"
    assert format_value("text") == "text"


# ----------------------------------------------------------------------------------------------
# compare_with_paper
# ----------------------------------------------------------------------------------------------
def test_compare_with_paper_hand_computed():
    ours = pd.DataFrame({"method": ["Quintuplet", "Triplet+resample+cost", "Softmax"],
                         "remove_0": [78.0, 75.0, 70.5], "remove_20": [70.0, 66.0, 60.0]})
    paper = pd.DataFrame({"method": ["Triplet+resample+cost", "Quintuplet", "Quintuplet+resample+cost"],
                          "remove_0": [76.12, 77.62, 77.64], "remove_20": [67.18, 72.26, 75.58]})
    got = compare_with_paper(ours, paper, on="method", columns=["remove_0", "remove_20"])
    nan = float("nan")
    expected = pd.DataFrame({
        "method": ["Quintuplet", "Triplet+resample+cost", "Softmax", "Quintuplet+resample+cost"],
        "remove_0 (ours)": [78.0, 75.0, 70.5, nan],
        "remove_0 (paper)": [77.62, 76.12, nan, 77.64],
        "remove_0 diff": [78.0 - 77.62, 75.0 - 76.12, nan, nan],
        "remove_20 (ours)": [70.0, 66.0, 60.0, nan],
        "remove_20 (paper)": [72.26, 67.18, nan, 75.58],
        "remove_20 diff": [70.0 - 72.26, 66.0 - 67.18, nan, nan],
    })
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_compare_with_paper_labels_multikey_and_mapping():
    ours = pd.DataFrame({"loss": ["Softmax", "Triplet"], "scheme": ["plain", "plain"], "acc": [70.0, 71.0]})
    paper = pd.DataFrame({"loss": ["Triplet", "Softmax"], "scheme": ["plain", "plain"],
                          "attribute_mean_balanced_accuracy": [71.29, 68.07]})
    got = compare_with_paper(ours, paper, on=["loss", "scheme"],
                             columns={"acc": "attribute_mean_balanced_accuracy"},
                             ours_label="this run", paper_label="LMLE")
    assert list(got.columns) == ["loss", "scheme", "acc (this run)", "acc (LMLE)", "acc diff"]
    assert got["acc diff"].tolist() == pytest.approx([70.0 - 68.07, 71.0 - 71.29])
    with pytest.raises(KeyError):
        compare_with_paper(ours, paper, on="loss", columns=["nope"])


# ----------------------------------------------------------------------------------------------
# Atomic writes, sanitizing, provenance
# ----------------------------------------------------------------------------------------------
def test_atomic_write_failure_leaves_original_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"x": np.float64(1.5), "n": np.int64(3), "bad": float("nan"), "p": Path("rel")})
    assert json.loads(target.read_text()) == {"x": 1.5, "n": 3, "bad": None, "p": "rel"}

    def boom(p):
        p.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        reporting.atomic_write(target, boom)
    assert json.loads(target.read_text())["x"] == 1.5
    assert temp_files(tmp_path) == []
    write_text_atomic(tmp_path / "sub" / "b.txt", "hello")
    assert (tmp_path / "sub" / "b.txt").read_text() == "hello"
    assert temp_files(tmp_path) == []


def test_sanitize_text(tmp_path):
    root = str(tmp_path / "datasets")
    text = (f"missing {root}/CelebA/Anno/list_attr_celeba.txt; run python -m x --root {root}; "
            f"see /opt/some/where/file.py and {reporting.REPO_ROOT}/lmle_core/x.py; "
            "keep https://example.org/a/b, figures/x.png, 3/4 and N/A")
    out = sanitize_text(text, {root: "<data_root>"})
    assert "<data_root>/CelebA/Anno/list_attr_celeba.txt" in out
    assert "--root <data_root>" in out
    assert "<path>/file.py" in out and "<repo>/lmle_core/x.py" in out
    assert "https://example.org/a/b" in out and "figures/x.png" in out and "3/4" in out
    assert str(tmp_path) not in out and "/opt/" not in out


def test_hardware_summary_keys():
    hw = hardware_summary()
    for key in ("cpu", "logical_cores", "ram_gb", "torch", "cuda_gpus", "faiss", "python"):
        assert key in hw
    assert isinstance(hw["cuda_gpus"], list)
    json.dumps(hw)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit(tmp_path):
    assert git_commit(tmp_path) == "unknown"  # not a repository
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True, env=env)  # noqa: E731
    run("init", "-q")
    assert git_commit(tmp_path) == "unknown"  # no commit yet
    (tmp_path / "f.txt").write_text("1")
    run("add", "f.txt")
    run("commit", "-q", "-m", "x")
    h = git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{4,}", h)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "new.md").write_text("runs write here")
    assert git_commit(tmp_path) == h  # results/ does not make the tree dirty
    (tmp_path / "f.txt").write_text("2")
    assert git_commit(tmp_path) == h + "+dirty"


# ----------------------------------------------------------------------------------------------
# StudyReport
# ----------------------------------------------------------------------------------------------
def test_study_report_writes_everything(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = tmp_path / "quick" / "mnist"
    rep = StudyReport(d, title="MNIST imbalance control")
    assert rep.profile == "quick"
    assert (d / "metrics.json").is_file()  # saved from the start

    df = pd.DataFrame({"method": ["Quintuplet"], "acc": [77.6213]})
    rep.table("table5", df, caption="Table 5 vs paper", float_format=".1f")
    assert (d / "tables" / "table5.csv").read_text() == "method,acc\nQuintuplet,77.6213\n"
    assert cells((d / "tables" / "table5.md").read_text())[2] == ["Quintuplet", "77.6"]
    m = json.loads((d / "metrics.json").read_text())
    assert m["tables"][0]["caption"] == "Table 5 vs paper" and m["tables"][0]["csv"] == "tables/table5.csv"

    rep.table("table5", df.assign(acc=[1.0]), caption="replaced")  # same name replaces
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    rep.figure("curve", fig, caption="a line")
    assert not plt.fignum_exists(fig.number)  # closed
    png = (d / "figures" / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    rep.data_used("CelebA (subset present)", {"train": 12000, "val": np.int64(4535), "test": 4640}, note="downscaled")
    rep.note("Prior features from a softmax network (DeepID2 unavailable).")
    rep.metric("mean_balanced_accuracy", np.float32(0.8125))
    rep.metric("per_class", np.array([1, 2]))
    rep.timing("train", 12.5)
    rep.skip("edge rows: BSDS500 missing")
    path = rep.save()
    m = json.loads(path.read_text())
    assert [t["caption"] for t in m["tables"]] == ["replaced"]
    assert m["figures"] == [{"name": "curve", "caption": "a line", "path": "figures/curve.png"}]
    assert m["data_used"][0]["counts"] == {"train": 12000, "val": 4535, "test": 4640}
    assert m["metrics"] == {"mean_balanced_accuracy": 0.8125, "per_class": [1, 2]}
    assert m["timings"] == {"train": 12.5}
    assert m["skipped"] == ["edge rows: BSDS500 missing"]
    assert m["profile"] == "quick" and m["title"] == "MNIST imbalance control"
    assert "hardware" in m and "git_commit" in m
    assert temp_files(tmp_path) == []
    with pytest.raises(ValueError):
        rep.table("../escape", df)


# ----------------------------------------------------------------------------------------------
# build_report on a synthetic results folder
# ----------------------------------------------------------------------------------------------
def test_build_report_synthetic(tmp_path):
    root = tmp_path / "results" / "tiny"
    studies = [
        {"name": "a", "notebook": "a.ipynb", "title": "MNIST imbalance control", "paper_item": "LMLE Table 5"},
        {"name": "b", "notebook": "b.ipynb", "title": "Edge detection", "paper_item": "LMLE Table 3"},
        {"name": "c", "notebook": "c.ipynb", "title": "40 face attributes", "paper_item": "LMLE Table 2"},
        {"name": "d", "notebook": "d.ipynb", "title": "kNN speed", "paper_item": "LMLE Sec. 4"},
    ]
    rep = StudyReport(root / "a", title="MNIST")
    rep.table("t", pd.DataFrame({"k": ["x"], "v": [1.25]}), caption="cap of t")
    rep.data_used("MNIST", {"train": 1000, "test": 500})
    rep.note(f"read from {tmp_path}/data/MNIST")
    write_json_atomic(root / "a" / "run.json", {"status": "ok", "wall_s": 3.2, "error": None,
                                                "finished": "2026-11-20T10:11:12+00:00"})
    # b: failed in this run, earlier results kept; c: skipped, nothing earlier; d: not in this run
    write_json_atomic(root / "b" / "run.json", {"status": "ok", "wall_s": 7.0, "finished": "2026-10-01T08:00:00+00:00"})
    write_json_atomic(root / "b" / "metrics.json", {"title": "edges", "notes": ["the earlier edge note"]})
    write_json_atomic(root / "run.json", {"finished": "2026-11-20T10:30:00+00:00", "studies": {
        "a": {"status": "ok", "wall_s": 3.2, "partial": ["CelebA part skipped: missing <data_root>/CelebA/Eval\nmore"]},
        "b": {"status": "failed", "wall_s": 1.0, "error": "ValueError: boom\nraise ValueError('boom')"},
        "c": {"status": "skipped", "wall_s": 0.0, "error": None, "reason": "required data not available: celeba",
              "download_commands": ["python -m lmle_core.data.download celeba --root <data_root>"]}},
        "data_root": {"source": "--data-root", "exists": False, "datasets": []}})
    rep.skip("CelebA part skipped: missing <data_root>/CelebA/Eval\nGet it with: python -m x")
    out = build_report(root, studies, "tiny", data_root_given=f"{tmp_path}/no/such/dir")
    text = out.read_text()
    assert out == root / "REPORT.md"
    summary = {cells(line)[0][0]: cells(line)[0][1:] for line in text.split("## Summary")[1].split("\n## ")[0].splitlines()
               if line.startswith("| [")}
    assert summary["[MNIST imbalance control](#mnist-imbalance-control)"] == [
        "LMLE Table 5", "ok, CelebA part skipped: missing <data_root>/CelebA/Eval more", "2026-11-20 10:11", "3.2 s"]
    assert summary["[Edge detection](#edge-detection)"] == ["LMLE Table 3", "failed", "2026-10-01 08:00", "7.0 s"]
    assert summary["[40 face attributes](#40-face-attributes)"] == ["LMLE Table 2", "skipped", "none", "n/a"]
    assert summary["[kNN speed](#knn-speed)"] == ["LMLE Sec. 4", "not run", "none", "n/a"]
    for title in ("MNIST imbalance control", "Edge detection", "40 face attributes", "kNN speed"):
        assert f"\n## {title}\n" in text
    assert text.index("## MNIST imbalance control") < text.index("## Edge detection") < text.index("## kNN speed")
    assert "**Table t.** cap of t" in text and cells([l for l in text.splitlines() if l.startswith("| x ")][0]) \
        == [["x", "1.25"]]
    assert re.search(r"\| MNIST +\| train 1,000, test 500 +\|", text)
    edges = text.split("## Edge detection")[1].split("\n## ")[0]
    assert "ValueError: boom" in edges and "the earlier edge note" in edges
    assert "last good ones, from the run of 2026-10-01 08:00" in edges
    assert "python -m lmle_core.data.download celeba --root <data_root>" in text
    assert "No earlier results of this study exist" in text.split("## 40 face attributes")[1]
    assert "Not run this time; no results yet" in text.split("## kNN speed")[1]
    # a multi-line skip message stays inside its blockquote
    assert "> Part of this study was skipped: CelebA part skipped: missing <data_root>/CelebA/Eval\n> Get it with" in text
    assert "- Data root: `<path>/dir` (--data-root) **does not exist**" in text
    assert str(tmp_path) not in text and not ABS_PATH.search(text)
    assert temp_files(tmp_path) == []


def test_build_report_empty(tmp_path):
    out = build_report(tmp_path / "tiny", [], "tiny")
    assert "No studies are defined yet" in out.read_text()


def _two_studies(root: Path, cli_a: dict, cli_b: dict, run_cli: dict, a_status: str = "ok") -> str:
    studies = [{"name": "a", "notebook": "a.ipynb", "title": "A"}, {"name": "b", "notebook": "b.ipynb", "title": "B"}]
    for name, cli in (("a", cli_a), ("b", cli_b)):
        write_json_atomic(root / name / "run.json", {
            "status": "ok", "wall_s": 1.0, "finished": "2026-11-20T10:11:12+00:00", "profile": "tiny",
            "profile_file": "profiles/tiny.yaml", "parameters": {"seeds": [0, 1], **cli}, "command_line": cli})
    write_json_atomic(root / "run.json", {"finished": "2026-11-20T10:30:00+00:00", "parameters": run_cli,
                                          "studies": {"a": {"status": a_status, "wall_s": 2.0, "error": "interrupted by SIGTERM"}}})
    return build_report(root, studies, "tiny").read_text()


def test_report_header_keeps_only_the_parameters_common_to_every_section(tmp_path):
    """Issue 21: the header listed the last run's -y values above sections made with other values."""
    text = _two_studies(tmp_path / "x", {"seeds": [0, 1, 2, 3, 4]}, {}, {"seeds": [0, 1, 2, 3, 4]})
    header = text.split("## Summary")[0]
    assert "seeds" not in header
    a, b = text.split("\n## A\n")[1].split("\n## B\n")
    assert '- Made with profile `tiny` (`notebooks/profiles/tiny.yaml`); given on the command line: `{"seeds": [0, 1, 2, 3, 4]}`' in a
    assert "- Made with profile `tiny` (`notebooks/profiles/tiny.yaml`); nothing given on the command line" in b
    assert '- Parameters: `{"seeds": [0, 1]}`' in b
    same = _two_studies(tmp_path / "y", {"budget": {"knn_k": 3}}, {"budget": {"knn_k": 3}}, {"budget": {"knn_k": 3}})
    assert ('- Parameters given on the command line (the same for every section): `{"budget": {"knn_k": 3}}`'
            in same.split("## Summary")[0])


def test_report_says_interrupted_and_a_data_root_that_is_a_file(tmp_path):
    root = tmp_path / "tiny"
    text = _two_studies(root, {}, {}, {}, a_status="interrupted")
    a = text.split("\n## A\n")[1].split("\n## B\n")[0]
    assert "**interrupted**" in a and "Interrupted in this run (interrupted by SIGTERM)" in a
    assert "a skipped, failed or interrupted study never replaces its results" in a
    info = json.loads((root / "run.json").read_text())
    info["data_root"] = {"source": "--data-root", "exists": False, "is_file": True, "datasets": []}
    write_json_atomic(root / "run.json", info)
    text = build_report(root, [{"name": "a", "title": "A"}], "tiny", data_root_given="datasets.tar").read_text()
    assert "- Data root: `datasets.tar` (--data-root) **is a file, not a folder**" in text
