#!/usr/bin/env python
"""Benchmark of the LMLE core at the paper's CelebA scale (issue: LMLE core acceptance).

160,000 x 64 L2-normalised features in 800 clusters (a synthetic mixture on the
hypersphere; a binary, CelebA-like 78/22 class split), then:
  - cluster_per_class seconds (cluster size 200 -> 800 clusters),
  - build_quintuplets seconds (50% candidate subset),
  - LargeMarginKNN over the 800 centroids vs InstanceKNN over the 160,000
    samples for 20,000 queries: queries/s each and the ratio (k = 20).
Prints one JSON object (and writes it with --out). Run: python scripts/bench_core.py
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from lmle_core import search
from lmle_core.clustering import cluster_per_class
from lmle_core.knn import InstanceKNN, LargeMarginKNN
from lmle_core.mining import build_quintuplets
from lmle_core.study.provenance import hardware_summary


def synthetic_features(n, d, n_centers, positive_rate, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_centers, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    n_pos_centers = max(1, int(round(positive_rate * n_centers)))
    labels_of_center = (np.arange(n_centers) < n_pos_centers).astype(np.int64)
    which = np.where(rng.random(n) < positive_rate, rng.integers(0, n_pos_centers, n),
                     rng.integers(n_pos_centers, n_centers, n))
    x = centers[which] + 0.15 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels_of_center[which]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=160_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--cluster-size", type=int, default=200)
    ap.add_argument("--positive-rate", type=float, default=0.22)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    dev = torch.device(args.device)
    x, y = synthetic_features(args.n + args.queries, args.d, args.n // args.cluster_size, args.positive_rate, 0)
    train_x, train_y, queries = x[:args.n], y[:args.n], x[args.n:]
    feats = torch.from_numpy(train_x).to(dev)
    res = {"n": args.n, "d": args.d, "queries": args.queries, "k": args.k,
           "classes": {int(c): int(n) for c, n in zip(*np.unique(train_y, return_counts=True))},
           "search_backend": search.backend_for(dev), "device": str(dev),
           "torch_threads": torch.get_num_threads(), "hardware": hardware_summary()}
    clusters, res["cluster_per_class_s"] = timed(lambda: cluster_per_class(feats, train_y, args.cluster_size))
    res["n_clusters"] = clusters.n_clusters
    _, res["build_quintuplets_s"] = timed(lambda: build_quintuplets(feats, train_y, clusters.assignments, 0.5))
    lm = LargeMarginKNN(k=args.k, device=dev).fit(clusters.centroids, clusters.centroid_labels)
    inst = InstanceKNN(k=args.k, device=dev).fit(train_x, train_y)
    q = torch.from_numpy(queries).to(dev)
    lm.predict(q[:100]), inst.predict(q[:100])  # warm-up
    pred_lm, t_lm = timed(lambda: lm.predict(q))
    pred_in, t_in = timed(lambda: inst.predict(q))
    res["large_margin_knn_queries_per_s"] = args.queries / t_lm
    res["instance_knn_queries_per_s"] = args.queries / t_in
    res["speedup_cluster_vs_instance"] = t_in / t_lm
    truth = y[args.n:]
    from lmle_core.metrics import balanced_accuracy
    res["balanced_accuracy"] = {"large_margin_knn": balanced_accuracy(truth, pred_lm),
                                "instance_knn": balanced_accuracy(truth, pred_in)}
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
