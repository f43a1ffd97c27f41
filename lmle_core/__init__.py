"""lmle_core: the thin core of the LMLE-kNN / CRL reproducibility study.

Small modules, one concept each (see ../DESIGN notes in README.md):
data readers, nets, losses, sampling, search (nearest neighbours and k-means),
clustering, mining (quintuplets), knn (large-margin cluster kNN), training,
experiments (method registry), metrics, paper numbers, reporting.
"""

__version__ = "0.1.0"
