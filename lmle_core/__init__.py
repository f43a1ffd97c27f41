"""lmle_core: the thin core of the LMLE-kNN / CRL reproducibility study.

Small modules, one concept each, in layers (lowest first; a layer imports only its own and lower ones,
checked with no import circle and no private name across modules by ``tests/test_import_layering.py``):

- L0 foundations: ``checks``, ``data`` (readers, caches, the data root), ``runcache``, ``search`` (nearest /
  farthest neighbours and k-means: faiss or torch, CPU or GPU), ``sampling``, ``nets``, ``imageset``,
  ``metrics``, ``distributed``
- L1 ``clustering`` (per-class k-means), ``knn`` (large-margin cluster kNN), ``mining`` (quintuplets, CRL hard
  mining, the miner objects)
- L2 ``losses``, ``classifiers`` (decision rules as estimators), ``diagnostics`` (collapse diagnostics)
- L3 ``methods`` (registry, objectives, budget and presets)
- L4 ``training`` (the one loop)
- L5 ``tasks`` (prepared datasets), ``attributes`` (multi-label runs), ``edges`` (the BSDS500 patch task)
- L6 ``experiments`` (``run_method``, ``tuned_budget``)
- L7 ``study``: the batch-run machinery (papermill runner, reports, provenance, the papers' numbers, shared
  plots, the notebooks' setup); nothing below imports it.
"""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin while they wait (libgomp's default) starve every other process on a
# shared 2-core machine: one tiny Table 5 run took 49 s instead of 7.5 s at a load of 9, and a
# 120-point faiss k-means 0.35 s instead of 0.7 ms. Sleeping waits change no result, only time.
# Set before torch / faiss load libgomp (kernels started by the runner inherit it); a value
# already in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
