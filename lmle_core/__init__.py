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

import os as _os

# OpenMP threads that spin while they wait (libgomp's default) starve every other process on a
# shared 2-core machine: one tiny Table 5 run took 49 s instead of 7.5 s at a load of 9, and a
# 120-point faiss k-means 0.35 s instead of 0.7 ms. Sleeping waits change no result, only time.
# Set before torch / faiss load libgomp (kernels started by the runner inherit it); a value
# already in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
