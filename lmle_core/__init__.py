"""lmle_core: the thin core of the LMLE-kNN / CRL reproducibility study.

Small modules, one concept each, layered top to bottom:

- ``experiments`` (method registry, ``run_method``), ``tasks`` (prepared datasets)
- ``training`` (softmax / triplet / quintuplet rounds)
- ``mining`` (quintuplets), ``clustering`` (per-class k-means), ``knn`` (large-margin cluster kNN)
- ``search`` (nearest / farthest neighbours and k-means: faiss or torch, CPU or GPU)
- ground floor: ``losses``, ``sampling``, ``nets``, ``imageset``, ``metrics``, ``data`` (readers),
  ``paper`` (the papers' numbers)
- results: ``reporting`` (StudyReport, compare_with_paper), ``report_builder`` (REPORT.md),
  ``markdown``, ``atomic_io``, ``provenance`` (hardware, git), ``plots``; ``runner`` drives papermill.
"""

__version__ = "0.1.0"
