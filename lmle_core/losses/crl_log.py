"""CRL's per-attribute training log (issue 19): what the CRL term does to each head while it trains.

``record_crl_steps(every)`` is a context manager: while it is open, the CRL objective of binary
attributes (``methods.softmax.CRLTerm.binary``) hands every ``every``-th training batch to
:func:`~lmle_core.losses.crl_diagnostics.crl_step_log` (detached float64 copies: the training step
is untouched) and the log keeps, per attribute, the sums of the minority count in the batch, the
share of active triplets (pairs), the logits' mean and spread, and the gradients on the head's bias
(CRL term, cross-entropy, and the objective alpha * CRL + (1 - alpha) * CE). ``CRLTrainingLog.table``
gives their means over the logged batches. ``lmle_core.attributes.runs`` records every CRL run.
"""
from __future__ import annotations

import contextlib
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from .crl_diagnostics import crl_step_log

__all__ = ["CRLTrainingLog", "LOGGED", "active_log", "record_crl_steps"]

LOGGED = ("minority_count", "active_share", "logit_mean", "logit_std", "crl_bias_grad", "ce_bias_grad",
          "objective_bias_grad", "crl_batch_push")
_ACTIVE: List["CRLTrainingLog"] = []


class CRLTrainingLog:
    """Per-attribute sums over the logged batches (NaN entries, e.g. no minority in a batch, skipped)."""

    def __init__(self, every: int = 10):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every, self.calls, self.batches = every, 0, 0
        self.sums: Optional[dict] = None
        self.counts: Optional[dict] = None

    def observe(self, logits, labels, alpha, embeddings, **crl) -> None:
        """Called by the CRL objective with each training batch; logs every ``every``-th one."""
        self.calls += 1
        if (self.calls - 1) % self.every:
            return
        log = crl_step_log(logits, labels, alpha=alpha, embeddings=embeddings, **crl)
        if self.sums is None:
            n = len(log.minority_count)
            self.sums = {k: np.zeros(n) for k in LOGGED}
            self.counts = {k: np.zeros(n) for k in LOGGED}
        for k in LOGGED:
            v = np.asarray(getattr(log, k), float)
            if k != "minority_count":
                v = np.where(log.minority_class >= 0, v, np.nan)   # no minority: nothing to average
            ok = np.isfinite(v)
            self.sums[k][ok] += v[ok]
            self.counts[k][ok] += 1
        self.batches += 1

    def table(self, names: Optional[Sequence[str]] = None) -> pd.DataFrame:
        """One row per attribute: the means over the logged batches, and how many were logged."""
        if self.sums is None:
            return pd.DataFrame(columns=["attribute", *LOGGED, "logged batches"])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {k: self.sums[k] / self.counts[k] for k in LOGGED}
        n = len(means["minority_count"])
        names = list(names) if names is not None else [str(a) for a in range(n)]
        return pd.DataFrame({"attribute": names, **means, "logged batches": self.batches})


def active_log() -> Optional[CRLTrainingLog]:
    """The innermost open log, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def record_crl_steps(every: int = 10):
    """Open a :class:`CRLTrainingLog` for the CRL training that runs inside the block."""
    log = CRLTrainingLog(every)
    _ACTIVE.append(log)
    try:
        yield log
    finally:
        _ACTIVE.remove(log)
