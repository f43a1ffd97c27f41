#!/usr/bin/env python
"""Benchmark of the BSDS500 boundary evaluator (lmle_core.metrics.boundaries): seconds per image before and after.

On the same images (the official gPb-owt-ucm maps of BSDS500/reference/ucm2_test, 99 thresholds):

- before: the plain loop of pyEdgeEval's ``evaluate_boundaries_threshold_multiple_gts``: every
  threshold thinned and matched against every annotator, one image after another, one process
  (``image_counts(..., dedupe=False)``: the same calls, with the matcher seeded);
- after: ``evaluate_boundaries`` (identical thresholded maps thinned once, identical thinned maps
  matched once, empty maps not matched) with 1 worker, then with ``--workers`` processes.

Checks that every count is identical, and prints one JSON object (also written with --out).
Run: LMLE_DATA_ROOT=/path/to/datasets python scripts/bench_boundaries.py [--images 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from lmle_core.metrics.boundaries import evaluate_boundaries, image_counts
from lmle_core.data.bsds_reference import load_ucm2_reference
from lmle_core.study.provenance import hardware_summary


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None, help="default: $LMLE_DATA_ROOT, else ./data")
    ap.add_argument("--images", type=int, default=3, help="ucm2 maps to evaluate (the first n of 25)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--thresholds", type=int, default=99)
    ap.add_argument("--skip-before", action="store_true", help="only time the current evaluator")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    ref = load_ucm2_reference(args.data_root, max_images=args.images)
    ids = list(ref.predictions)
    n = len(ids)
    out = {"images": ids, "thresholds": args.thresholds, "hardware": hardware_summary()}
    distinct = {i: len({(ref.predictions[i] >= t).sum() for t in np.linspace(0.01, 0.99, args.thresholds)})
                for i in ids}
    out["distinct_thresholded_maps_per_image"] = distinct
    if not args.skip_before:
        t = time.perf_counter()
        before = {i: image_counts(ref.predictions[i], ref.ground_truth[i], args.thresholds, dedupe=False) for i in ids}
        out["before_seconds_per_image_1_process"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    one = evaluate_boundaries(ref.predictions, ref.ground_truth, thresholds=args.thresholds, workers=1)
    out["after_seconds_per_image_1_worker"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    many = evaluate_boundaries(ref.predictions, ref.ground_truth, thresholds=args.thresholds, workers=args.workers)
    out[f"after_seconds_per_image_{args.workers}_workers"] = (time.perf_counter() - t) / n
    same = all(np.array_equal(one.counts[i], many.counts[i]) for i in ids)
    if not args.skip_before:
        same = same and all(np.array_equal(before[i], one.counts[i]) for i in ids)
    out["identical_counts"] = bool(same)
    out["ods_ois_ap"] = [one.ods, one.ois, one.ap]
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if not same:
        raise SystemExit("counts differ between the runs")


if __name__ == "__main__":
    main()
