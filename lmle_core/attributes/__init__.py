"""The CelebA attribute task family: A binary attributes, one embedding head (and sigmoid classifier) each
on shared features, trained by the one training loop (``model``: the heads, the feature sources and the
attribute model; ``runs``: the prior, ``run_attributes``, the margin search)."""
from .model import (AttributeModel, CachedFeatures, TrunkFeatures, attribute_embeddings, attribute_logits)
from .runs import AttributeResult, attribute_prior, margin_search, run_attributes

__all__ = ["AttributeModel", "AttributeResult", "CachedFeatures", "TrunkFeatures", "attribute_embeddings",
           "attribute_logits", "attribute_prior", "margin_search", "run_attributes"]
