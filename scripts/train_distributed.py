#!/usr/bin/env python
"""Train an attribute study's methods on several GPUs (torchrun), into the run cache.

    torchrun --standalone --nproc_per_node 8 scripts/train_distributed.py --study celeba_attributes \\
        --profile full --data-root /path/to/datasets
    ./run_all.sh --profile full --data-root /path/to/datasets     # then: the notebooks find them trained

Every process builds the same data and plans and takes its share of every batch; gradients are
averaged across processes (``lmle_core.distributed``). Process 0 stores each trained method in the
run cache (``$LMLE_CACHE_DIR/runs``) under the same key a notebook computes (data, method, budget,
code), so the study's notebook, run afterwards by run_all.sh with the same profile, takes them from
the cache instead of training on one device. CPU works too (gloo), e.g. a smoke run:

    python -m torch.distributed.run --standalone --nproc_per_node 2 scripts/train_distributed.py \\
        --study celeba_attributes --profile tiny --data-root DIR
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lmle_core import distributed, experiments, runcache, tasks  # noqa: E402
from lmle_core.study import config  # noqa: E402

STUDY_METHODS = {  # what each attribute study trains (the notebooks' parameters name them)
    "celeba_attributes": "methods", "crl": "methods", "ablation": None, "celeba_end_to_end": "methods",
}


def study_parameters(study: str, profile: str) -> dict:
    """The notebook's parameters for ``profile``: its parameters cell's defaults, then the profile's values."""
    nb_dir = REPO / "notebooks"
    declared = config.notebook_parameters(nb_dir / f"{study}.ipynb")
    studies = config.load_studies(nb_dir)
    prof = config.load_profile(nb_dir, profile, [s["name"] for s in studies])
    params = {name: d.default for name, d in declared.items()}
    params.update(prof["parameters"])
    params.update(prof["notebooks"].get(study, {}))
    return params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="celeba_attributes", choices=sorted(STUDY_METHODS))
    ap.add_argument("--profile", default="full")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--methods", default="", help="comma-separated; default: the study's own list")
    args = ap.parse_args(argv)
    use_cuda = torch.cuda.is_available()
    if "RANK" in os.environ:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, size = distributed.world()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    p = study_parameters(args.study, args.profile)
    data_root = args.data_root or os.environ.get("LMLE_DATA_ROOT") or str(REPO / "data")
    celeba = tasks.CelebATasks(data_root, max_per_split=p.get("max_per_split") or None, device=device,
                               progress=distributed.is_main())
    data = celeba.attributes()
    budget = experiments.Budget.from_dict(p["budget"])
    if args.methods:
        methods = args.methods.split(",")
    elif STUDY_METHODS[args.study]:
        methods = p[STUDY_METHODS[args.study]]
    else:  # the ablation: every loss x scheme
        methods = [loss + scheme for loss in p["losses"] for scheme in p["schemes"]]
    cache = runcache.RunCache(write=distributed.is_main())
    for name in methods:
        t = time.perf_counter()
        b, _ = experiments.tuned_budget(name, data, budget, p.get("margin_scales") or [],
                                           p.get("margin_search_attributes") or None, distributed.is_main(), cache)
        r = experiments.run_method(name, data, b, progress=distributed.is_main(), cache=cache)
        if dist.is_initialized():
            dist.barrier()  # process 0 has stored it before anyone looks it up again
        if distributed.is_main():
            print(f"{name:28s} {100 * r.balanced_accuracy:.2f}% mean balanced accuracy "
                  f"({time.perf_counter() - t:.0f} s, {size} process{'es' if size > 1 else ''})", flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
