"""The BSDS500 edge task (LMLE Sec. 5): patches, prior channel features, dense maps, label transfer.

- ``task``: :func:`prepare_bsds_edges` (45x45 patches, 150 edge classes + non-edge, prior features;
  RGB patches for the paper's CNN or channel descriptors for the CPU profiles' MLP);
- ``patchset``: patches cut on demand from padded images;
- ``features``: the hand-crafted channel features (Table 1's prior features, the MLP's descriptors);
- ``descriptor_net``: the descriptor MLP of the CPU profiles (``FeatureSet``, the ``edge-descriptor`` net);
- ``maps``: dense embeddings of whole images, label transfer from the nearest clusters, NMS;
- ``classic``: training-free detectors (Canny, gradient magnitude + NMS), the floor of Table 3;
- ``diagnostics``: oracle transfers, prior-feature transfer, map orientation.

The benchmark itself (ODS, OIS, AP) is :func:`lmle_core.metrics.evaluate_boundaries`.
"""
from .descriptor_net import FeatureSet
from .maps import (DenseEmbedder, LabelTransfer, dense_embeddings, dense_outputs, edge_maps, finish_maps, fold_patches,
                   transfer_for, transfer_maps)
from .patchset import PatchSet, gather_patches
from .task import EdgeTask, prepare_bsds_edges

__all__ = ["DenseEmbedder", "EdgeTask", "FeatureSet", "LabelTransfer", "PatchSet", "dense_embeddings", "dense_outputs",
           "edge_maps", "finish_maps", "fold_patches", "gather_patches", "prepare_bsds_edges", "transfer_for",
           "transfer_maps"]
