#!/usr/bin/env python
"""LMLE Table 5's 40 % column at the paper's budget, with its budget curve and controls (a GPU job).

Two steps, so that the device time can be split into short calls and nothing finished is lost:

    python scripts/mnist_paper_budget.py run --data-root DIR --jobs-dir JOBS --jobs Softmax,Quintuplet+resample+cost
    python scripts/mnist_paper_budget.py report --jobs-dir JOBS [JOBS2 ...] --out results/full/mnist_paper_budget

``run`` trains each job and writes ``JOBS/<job>.json`` the moment it finishes (a timed-out call keeps
the jobs done); ``report`` turns the job files into a StudyReport (tables beside the paper's numbers,
the curve, the hardware each job ran on).

The paper's protocol: MNIST-rot-back-image (official .amat, else regenerated from MNIST + 20 BSDS500
train images), all 12,000 train+valid originals, 40 % removed (Gaussian-like profile), 10 % of the rest
held out for validation, the rest augmented x10 (clean: the digit first, then a fresh background), the
softmax prior of 2,000 iterations, then 4 rounds x 5,000 iterations, cluster size 200, k = 20, a 50 %
candidate subset, no quintuplet member from the anchor's own digit, the semi-hard triplet baseline; the
margin scale of each embedding method searched on validation with one round of ``--search-iters``
iterations. All 4 rounds are run (the curve needs them); the table gives the test accuracy of the
validation-best round and of the round the paper's early stopping (patience 1) would have kept.

Jobs: a method name of ``lmle_core.experiments`` or a control of Quintuplet+resample+cost:
``control:keep-clusters`` (round 1's clusters and quintuplets for every round) and ``control:lr-decay``
(learning rate x0.1 after round 1), both for ``--control-rounds`` rounds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER_BUDGET = {"prior_iters": 2000, "iters_per_round": 5000, "max_rounds": 4, "patience": 4, "cluster_size": 200,
                "knn_k": 20, "lr": 0.003, "subset_fraction": 0.5, "exclude_own_copies": True,
                "triplet_mining": "semi-hard"}
CONTROLS = {"control:keep-clusters": {"recluster": False}, "control:lr-decay": {"lr_decay": 0.1}}
FULL_METHOD = "Quintuplet+resample+cost"


def _run(args) -> int:
    import yaml

    from lmle_core import experiments, search, tasks
    from lmle_core.study.provenance import hardware_summary

    dev = search.default_device(args.device)
    budget = experiments.Budget.from_dict({**PAPER_BUDGET, **(yaml.safe_load(args.budget) or {})})
    out = Path(args.jobs_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = tasks.prepare_mnist_rot_back(args.data_root, removal_percent=args.removal, n_train=args.n_train or None,
                                        n_test=args.n_test or None, augment_factor=args.augment, seed=0, device=dev,
                                        progress=False, augmentation=args.augmentation, mirror=not args.no_mirror)
    data_s = time.perf_counter() - t0
    rounds_iters = [budget.iters_per_round * (r + 1) for r in range(budget.max_rounds)]
    curve_iters = sorted({i for i in args.curve if i < rounds_iters[-1]} | set(rounds_iters))
    searched = {}
    for job in args.jobs:
        method = FULL_METHOD if job in CONTROLS else job
        t = time.perf_counter()
        if method not in searched and (experiments.get_method(method).head == "classifier" or args.scale):
            searched[method] = (args.scale or budget.margin_scale, [])
        if method not in searched:
            search_budget = dataclasses.replace(budget, iters_per_round=args.search_iters, max_rounds=1)
            best, table, _ = experiments.search_margin(method, data, search_budget, args.scales, progress=False)
            searched[method] = (best, table.to_dict("records"))
        scale, search_rows = searched[method]
        run_budget = dataclasses.replace(budget, margin_scale=scale)
        if job in CONTROLS:
            run_budget = dataclasses.replace(run_budget, max_rounds=args.control_rounds, **CONTROLS[job])
        r = experiments.run_method(method, data, run_budget, progress=False,
                                   curve_iters=[i for i in curve_iters if i <= run_budget.iters_per_round *
                                                run_budget.max_rounds])
        record = {"job": job + args.tag, "method": method, "margin_scale": scale, "margin_search": search_rows,
                  "search_iters": args.search_iters, "balanced_accuracy": 100 * r.balanced_accuracy,
                  "val_balanced_accuracy": 100 * r.val_balanced_accuracy, "iterations": r.iterations,
                  "history": r.history, "curve": r.curve, "train_seconds": r.train_seconds,
                  "prior_seconds": r.prior_seconds, "images_per_second": r.images_per_second,
                  "job_seconds": time.perf_counter() - t, "data_seconds": data_s, "classifier": r.classifier,
                  "budget": dataclasses.asdict(run_budget), "data": {**data.counts(), **data.description},
                  "hardware": hardware_summary(), "device": str(dev)}
        (out / (re.sub(r"[^A-Za-z0-9_-]+", "_", job + args.tag).strip("_") + ".json")).write_text(json.dumps(record, indent=1, default=float))
        print(f"{job:28s} scale {scale:g}: {record['balanced_accuracy']:.2f}% ({r.iterations} it, "
              f"{record['job_seconds']:.0f} s)", flush=True)
    return 0


def paper_stop(record: dict) -> dict:
    """The round the paper's early stopping (patience 1) keeps: the last one before validation first
    fails to improve; its test accuracy from the curve (evaluated at every round's end)."""
    vals = [h["val_balanced_accuracy"] for h in record["history"]]
    keep = 0
    for i in range(1, len(vals)):
        if vals[i] <= vals[keep]:
            break
        keep = i
    at = sum(h["iterations"] for h in record["history"][:keep + 1])
    test = {c["iteration"]: c["test_balanced_accuracy"] for c in record["curve"]}
    return {"round": keep + 1, "iterations": at, "test": 100 * test.get(at, float("nan"))}


def _report(args) -> int:
    import pandas as pd

    from lmle_core.study import StudyReport, paper_table, plots

    records = [json.loads(p.read_text()) for d in args.jobs_dir for p in sorted(Path(d).glob("*.json"))]
    if not records:
        raise SystemExit(f"no job files in {args.jobs_dir}")
    report = StudyReport(args.out, title="LMLE Table 5, 40 % removed, at the paper's budget", profile="full")
    paper = paper_table("lmle_table5_mnist").set_index("method")["remove_40"]
    rows, curve, search, hw = [], [], [], {}
    for r in records:
        stop = paper_stop(r)
        rows.append({"job": r["job"], "margin scale": r["margin_scale"],
                     "test, validation-best round": r["balanced_accuracy"],
                     "test, paper's early stopping": stop["test"], "stopping round": stop["round"],
                     "paper": paper.get(r["job"], float("nan")), "iterations": r["iterations"],
                     "train seconds": r["train_seconds"], "images per second": r["images_per_second"],
                     "job seconds": r["job_seconds"], "device": ", ".join(r["hardware"].get("cuda_gpus") or [])
                     or r["hardware"].get("cpu", "?")})
        curve += [{"method": r["job"], "iteration": c["iteration"], "test_balanced_accuracy": 100 * c["test_balanced_accuracy"]}
                  for c in r["curve"]]
        curve += [{"method": r["job"], "iteration": sum(h["iterations"] for h in r["history"][:i + 1]),
                   "validation_balanced_accuracy": 100 * h["val_balanced_accuracy"]} for i, h in enumerate(r["history"])]
        if r["job"] not in CONTROLS and r["margin_search"]:
            search += [{**s, "search iterations": r["search_iters"]} for s in r["margin_search"]]
        hw = r["hardware"]
    table = pd.DataFrame(rows)
    table["diff (validation-best - paper)"] = table["test, validation-best round"] - table["paper"]
    report.table("table5_paper_budget", table, float_format=".2f",
                 caption="Mean per-class accuracy (%) at 40 % removal at the paper's budget beside LMLE Table 5: the "
                         "validation-best of 4 rounds x 5,000 iterations, and the round the paper's early stopping "
                         "(patience 1) keeps; controls of Quintuplet+resample+cost below the methods.")
    c = pd.DataFrame(curve)
    report.table("budget_curve", c.groupby(["method", "iteration"], sort=False).first().reset_index(), float_format=".2f",
                 caption="Test (and, at round ends, validation) balanced accuracy (%) along each run.")
    tests = c.dropna(subset=["test_balanced_accuracy"])
    report.figure("budget_curve", plots.semilogx(
        {m: (g.iteration.tolist(), g.test_balanced_accuracy.tolist()) for m, g in tests.groupby("method", sort=False)},
        "iterations after the prior", "test balanced accuracy (%)", "40 % removed, the paper's budget"),
        caption="Test balanced accuracy along each run (round ends at 5,000, 10,000, 15,000, 20,000 iterations).")
    if search:
        report.table("margin_search", pd.DataFrame(search), float_format=".2f",
                     caption="Margin search: one round per scale; the validation best (`chosen`) trains the full run.")
    report.data_used("MNIST-rot-back-image, 40 % removed", {k: records[0]["data"][k] for k in ("train", "val", "test")},
                     note=f"{records[0]['data']['source']}; {records[0]['data']['originals']}; augmented "
                          f"{records[0]['data']['augmentation']}")
    report.timing("device seconds, all jobs", float(sum(r["job_seconds"] for r in records)))
    report.metric("hardware_of_jobs", hw)
    report.note("Run by scripts/mnist_paper_budget.py on " + (", ".join(hw.get("cuda_gpus") or []) or hw.get("cpu", "?"))
                + "; the jobs' budgets, histories and curves are in the job files it read.")
    report.save()
    # the numbers were measured where the jobs ran, not where this report is assembled: say so in the
    # "hardware" readers take from metrics.json (the Table 5 notebook names it beside these tables)
    metrics = json.loads(report.metrics_path.read_text())
    metrics["report_built_on"], metrics["hardware"] = metrics.get("hardware"), hw
    report.metrics_path.write_text(json.dumps(metrics, indent=2, default=str))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)
    run = sub.add_parser("run", help="train jobs, one JSON file each")
    run.add_argument("--data-root", required=True)
    run.add_argument("--jobs-dir", required=True)
    run.add_argument("--jobs", type=lambda s: s.split(","), required=True)
    run.add_argument("--removal", type=float, default=40)
    run.add_argument("--n-test", type=int, default=10000, help="test digits (of 50,000); 0 = all")
    run.add_argument("--n-train", type=int, default=0, help="originals (of 12,000); 0 = all (smoke runs: fewer)")
    run.add_argument("--augment", type=int, default=10)
    run.add_argument("--device", default="auto")
    run.add_argument("--budget", default="", help="YAML overrides of the paper's budget (smoke runs)")
    run.add_argument("--scales", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 0.5, 0.25, 0.1])
    run.add_argument("--search-iters", type=int, default=2000)
    run.add_argument("--control-rounds", type=int, default=2)
    run.add_argument("--augmentation", default="clean", help="tasks.AUGMENTATIONS key")
    run.add_argument("--no-mirror", action="store_true", help="augment without mirroring")
    run.add_argument("--scale", type=float, default=0.0, help="a fixed margin scale (no search)")
    run.add_argument("--tag", default="", help="appended to the job names (variants of one method)")
    run.add_argument("--curve", type=lambda s: [int(x) for x in s.split(",")], default=[500, 2000])
    rep = sub.add_parser("report", help="the StudyReport of the job files")
    rep.add_argument("--jobs-dir", nargs="+", required=True)
    rep.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    return _run(args) if args.step == "run" else _report(args)


if __name__ == "__main__":
    sys.exit(main())
