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
