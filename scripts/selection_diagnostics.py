#!/usr/bin/env python
"""Issue 18: the three quintuplet member selections measured on a softmax prior, before any training.

    python scripts/selection_diagnostics.py --data-root DIR [--out DIR] [--n-train 2000] [--removal 40] ...

Prepares MNIST-rot-back-image (official .amat, else regenerated), trains the shared softmax prior
(``experiments.softmax_prior``), embeds the training images, clusters each class, and for every
selection (hardest, order-consistent, semi-hard) mines the quintuplet table and reports with
``diagnostics.collapse_report``: the share of quintuplets whose Eq. 1 order is reversed at mining time
(per term, any), the masked terms, hub concentration, the hinge at the prior beside its value at an
embedding collapsed to one point, for each margin reading (chord bounds on squared distances, as the
study runs; chord bounds on Euclidean distances), and the mining seconds. Prints a Markdown table and,
with ``--out``, writes it as CSV and Markdown beside a JSON of the setup.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SELECTIONS = ("hardest", "order-consistent", "semi-hard")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="folder for selection_diagnostics.{csv,md,json}")
    p.add_argument("--n-train", type=int, default=2000, help="train+valid originals (stratified subset)")
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--removal", type=float, default=40.0)
    p.add_argument("--augment", type=int, default=2)
    p.add_argument("--prior-iters", type=int, default=300)
    p.add_argument("--cluster-size", type=int, default=50)
    p.add_argument("--subset-fraction", type=float, default=0.5)
    p.add_argument("--margin-scale", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import numpy as np
    import pandas as pd
    import torch

    from lmle_core import clustering, diagnostics, experiments, losses, mining, tasks, training
    from lmle_core.study.provenance import hardware_summary

    torch.manual_seed(args.seed)
    data = tasks.prepare_mnist_rot_back(args.data_root, removal_percent=args.removal, n_train=args.n_train,
                                        n_test=args.n_test, augment_factor=args.augment, seed=args.seed,
                                        progress=False, augmentation="clean")
    budget = experiments.Budget(prior_iters=args.prior_iters, cluster_size=args.cluster_size,
                                subset_fraction=args.subset_fraction, margin_scale=args.margin_scale, seed=args.seed)
    net, prior_s = experiments.softmax_prior(data, budget, progress=False)
    feats = training.embed(net, data.train).cpu().numpy()
    val_feats = training.embed(net, data.val).cpu().numpy()
    labels = data.train.labels.astype(np.int64)
    clusters = clustering.cluster_per_class(feats, labels, args.cluster_size, seed=args.seed)
    sizes = np.bincount(labels)
    rows = []
    for bounds_name, distance in (("chord bounds, squared D", "squared"), ("chord bounds, Euclidean D", "euclidean")):
        bounds = losses.margin_upper_bounds(sizes, args.cluster_size)
        margins = bounds.scaled(args.margin_scale, labels)
        for selection in SELECTIONS:
            t = time.perf_counter()
            table = mining.build_quintuplets(feats, labels, clusters.assignments, args.subset_fraction,
                                             seed=args.seed, groups=data.train_groups, selection=selection,
                                             margins=margins, distance=distance)
            mining_s = time.perf_counter() - t
            rep = diagnostics.collapse_report(feats, labels, table, margins, distance=distance,
                                              balance_classes=True, eval_embeddings=val_feats,
                                              eval_labels=data.val.labels, seed=args.seed)
            rows.append({"margins": bounds_name, "selection": selection, "mining_seconds": mining_s, **rep})
    df = pd.DataFrame(rows)
    setup = {"data": data.description, "train_images": len(labels), "val_images": len(data.val.labels),
             "class_sizes": sizes.tolist(), "clusters": int(clusters.n_clusters), "prior_iters": args.prior_iters,
             "prior_seconds": prior_s, "cluster_size": args.cluster_size, "subset_fraction": args.subset_fraction,
             "margin_scale": args.margin_scale, "groups": "no member from the anchor's own source digit",
             "hardware": hardware_summary()}
    cols = ["margins", "selection", "reversed_g1", "reversed_g2", "reversed_g3", "reversed_any", "masked_g1",
            "masked_g2", "masked_g3", "hub_p--", "hub_n", "loss", "collapsed_loss", "within_class_distance",
            "between_class_distance", "probe_balanced_accuracy", "collapsed", "mining_seconds"]
    text = df[cols].to_markdown(index=False, floatfmt=".3f")
    print(json.dumps(setup, indent=1, default=str))
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "selection_diagnostics.csv", index=False)
        (out / "selection_diagnostics.md").write_text(text + "\n")
        (out / "selection_diagnostics.json").write_text(json.dumps(setup, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
