"""The BSDS500 edge task (LMLE Sec. 5): patches, prior channel features, dense maps, label transfer.

- ``task``: :func:`prepare_bsds_edges` (45x45 patches, 150 edge classes + non-edge, prior features);
- ``patchset``: patches cut on demand from padded images;
- ``features``: the hand-crafted prior channel features (Table 1);
- ``maps``: dense embeddings of whole images, label transfer from the nearest clusters, NMS.

The benchmark itself (ODS, OIS, AP) is :func:`lmle_core.metrics.evaluate_boundaries`.
"""
from .maps import DenseEmbedder, LabelTransfer, dense_embeddings, edge_maps, fold_patches, transfer_for
from .patchset import PatchSet, gather_patches
from .task import EdgeTask, prepare_bsds_edges

__all__ = ["DenseEmbedder", "EdgeTask", "LabelTransfer", "PatchSet", "dense_embeddings", "edge_maps",
           "fold_patches", "gather_patches", "prepare_bsds_edges", "transfer_for"]
