"""lmle_core: the thin core of the LMLE-kNN / CRL reproducibility study.

Small modules, one concept each, layered top to bottom:

- ``experiments`` (method registry, ``run_method``), ``tasks`` (prepared datasets)
- ``training`` (softmax / triplet / quintuplet rounds)
- ``mining`` (quintuplets), ``clustering`` (per-class k-means), ``knn`` (large-margin cluster kNN),
  ``diagnostics`` (collapse diagnostics of an embedding run: pure functions, no training)
- ``search`` (nearest / farthest neighbours and k-means: faiss or torch, CPU or GPU)
- ground floor: ``losses``, ``sampling``, ``nets``, ``imageset``, ``metrics``, ``data`` (readers)

The batch-run machinery (papermill runner, reports, provenance, the papers' numbers, shared
plots) is the separate package ``lmle_core.study``; nothing above imports it. The old names
(The old top-level names reporting, paper, plots and runner are gone: use lmle_core.study.)
"""

__version__ = "0.1.0"
