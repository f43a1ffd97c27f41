#!/usr/bin/env python
"""The benchmark table of the LMLE core on the current device (a script, not a timed test).

    python scripts/bench.py [--device auto|cpu|cuda] [--csv results/benchmarks.csv] [--quick]

Prints, for the device it runs on:

- training images/s of the face (DeepID2-like, 55x47x3), patch (DeepContour-like, 45x45x3) and
  MNIST (28x28) networks: forward + backward + SGD step on batches of 200 images (40 quintuplets),
  bf16 autocast and channels-last on CUDA, as ``training.train`` runs them;
- feature extraction ms per image of the face network (eval, batches of 2,048);
- at the paper's CelebA scale (160,000 x 64 L2-normalised features, a 78/22 binary split,
  cluster size 200 -> 800 clusters): per-class k-means seconds, quintuplet table seconds (50 %
  candidates), and queries/s of the large-margin cluster kNN (Eq. 3 over the 800 centroids) vs the
  instance-wise kNN over the 160,000 samples, k = 20, same exact search both sides, and their ratio;
- peak memory (CUDA: max allocated; CPU: the process's max RSS).

Every number is appended to ``--csv`` (one row per metric: date, git commit, device, metric,
value); ``--markdown`` prints the latest value of every metric per device from that CSV (the
README's table). ``--quick`` shrinks everything for a smoke run.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmle_core import nets, search  # noqa: E402
from lmle_core.clustering import cluster_per_class  # noqa: E402
from lmle_core.knn import InstanceKNN, LargeMarginKNN  # noqa: E402
from lmle_core.mining import build_quintuplets  # noqa: E402
from lmle_core.training import autocast, layout  # noqa: E402

NETS = {"face": (3, 55, 47), "patch": (3, 45, 45), "mnist": (1, 28, 28)}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev):
    sync(dev)
    t = time.perf_counter()
    out = fn()
    sync(dev)
    return out, time.perf_counter() - t


def training_images_per_second(name: str, dev: torch.device, steps: int, batch: int = 200) -> float:
    torch.manual_seed(0)
    net = nets.build_net(name, 64, n_classes=10).to(dev)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = layout(torch.randn(batch, *NETS[name], device=dev))
    y = torch.randint(0, 10, (batch,), device=dev)

    def step():
        with autocast(dev):
            loss = torch.nn.functional.cross_entropy(net.logits(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    _, seconds = timed(lambda: [step() for _ in range(steps)], dev)
    return steps * batch / seconds


@torch.no_grad()
def feature_ms_per_image(dev: torch.device, n: int) -> float:
    net = nets.build_net("face", 64).to(dev).eval()
    x = layout(torch.randn(min(n, 2048), *NETS["face"], device=dev))
    with autocast(dev):
        net(x)
        _, seconds = timed(lambda: [net(x) for _ in range(max(1, n // len(x)))], dev)
    return 1000 * seconds / (len(x) * max(1, n // len(x)))


def synthetic_features(n, d, n_centers, positive_rate, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_centers, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    n_pos = max(1, int(round(positive_rate * n_centers)))
    labels_of_center = (np.arange(n_centers) < n_pos).astype(np.int64)
    which = np.where(rng.random(n) < positive_rate, rng.integers(0, n_pos, n), rng.integers(n_pos, n_centers, n))
    x = centers[which] + 0.15 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels_of_center[which]


def core_at_celeba_scale(dev: torch.device, n: int, queries: int, res: dict) -> None:
    x, y = synthetic_features(n + queries, 64, n // 200, 0.22, 0)
    feats, labels = torch.from_numpy(x[:n]).to(dev), y[:n]
    cl, res["kmeans_seconds"] = timed(lambda: cluster_per_class(feats, labels, 200), dev)
    res["n_clusters"] = cl.n_clusters
    _, res["quintuplet_table_seconds"] = timed(lambda: build_quintuplets(feats, labels, cl.assignments, 0.5), dev)
    q = torch.from_numpy(x[n:]).to(dev)
    lm = LargeMarginKNN(k=20, device=dev).fit(cl.centroids, cl.centroid_labels)
    inst = InstanceKNN(k=20, device=dev).fit(feats, labels)
    lm.predict(q[:100]), inst.predict(q[:100])  # warm-up
    _, t_lm = timed(lambda: lm.predict(q), dev)
    _, t_in = timed(lambda: inst.predict(q), dev)
    res["cluster_knn_queries_per_second"] = queries / t_lm
    res["instance_knn_queries_per_second"] = queries / t_in
    res["knn_speedup_cluster_vs_instance"] = t_in / t_lm


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    from lmle_core.study.provenance import hardware_summary

    hw = hardware_summary()
    return f"{hw['cpu']} ({hw['logical_cores']} cores)"


def git_commit() -> str:
    from lmle_core.study.provenance import git_commit as commit

    return commit()


def append_csv(path: Path, device: str, commit: str, res: dict) -> None:
    new = not path.is_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "commit", "device", "metric", "value"])
        for k, v in res.items():
            if isinstance(v, (int, float)):
                w.writerow([date, commit, device, k, f"{v:.6g}"])


def markdown(path: Path) -> str:
    """The latest value of every metric per device, as a Markdown table."""
    import pandas as pd

    df = pd.read_csv(path).drop_duplicates(["device", "metric"], keep="last")
    wide = df.pivot(index="metric", columns="device", values="value")
    return wide.to_markdown()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--csv", default=None, help="append every number to this CSV")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--markdown", default=None, metavar="CSV", help="print the latest table per device of CSV and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(Path(args.markdown)))
        return 0
    dev = search.default_device(args.device)
    steps, n, queries = (5, 8_000, 1_000) if args.quick else (50 if dev.type == "cpu" else 300, 160_000, 20_000)
    res: dict = {"torch_threads": torch.get_num_threads()}
    for name in NETS:
        res[f"train_images_per_second_{name}_net"] = training_images_per_second(name, dev, steps)
        print(f"{name} net: {res[f'train_images_per_second_{name}_net']:,.0f} training images/s", flush=True)
    res["feature_extraction_ms_per_image_face_net"] = feature_ms_per_image(dev, 4096 if not args.quick else 512)
    core_at_celeba_scale(dev, n, queries, res)
    if dev.type == "cuda":
        res["peak_memory_gb"] = torch.cuda.max_memory_allocated(dev) / 1e9
    else:
        res["peak_memory_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    name, commit = device_name(dev), git_commit()
    print(json.dumps({"device": name, "commit": commit, **res}, indent=2))
    if args.csv:
        append_csv(Path(args.csv), name, commit, res)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "commit": commit, **res}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
