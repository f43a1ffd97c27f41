"""Training: ONE loop for single-label data and attribute data (``loop.train``), the single-label model
adapter (``models.ImageModel``), whole-split inference (``inference``) and the run's bookkeeping (``state``)."""
from .inference import (autocast, batched_eval, deterministic_algorithms, embed, layout, logits, predict_softmax,
                        progress_bar)
from .loop import TrainTask, train
from .models import ImageModel
from .state import RoundLog, RunState, TrainResult

__all__ = ["ImageModel", "RoundLog", "RunState", "TrainResult", "TrainTask", "autocast", "batched_eval",
           "deterministic_algorithms", "embed", "layout", "logits", "predict_softmax", "progress_bar", "train"]
