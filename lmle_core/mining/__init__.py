"""Miners: which samples a loss compares.

- ``quintuplet``: the LMLE quintuplet table (Sec. 3.1), [anchor, p+, p-, p--, n] per anchor from a
  random candidate subset, by one of three readings of the member selection (``SELECTIONS``:
  the literal extremes, or members that keep Eq. 1's order, ``ordered``), and the nearest
  other-class candidate (the triplet baseline's table);
- ``triplet``: FaceNet's semi-hard negatives inside a batch;
- ``crl``: CRL's batch-wise minority profiling and class- / instance-level hard mining;
- ``miners``: the miner objects the methods combine with their losses (table and batch miners).
"""
from .miners import (BudgetChoice, MiningContext, NearestNegativeMiner, QuintupletMiner, SemiHardMiner,
                     TableMiner)
from .quintuplet import (ANCHOR, NEGATIVE, P_MINUS, P_MINUS2, P_PLUS, SELECTIONS, build_quintuplets,
                         nearest_other_class, quintuplet_term_mask, select_candidates)
from .triplet import semihard_triplets

__all__ = ["ANCHOR", "BudgetChoice", "MiningContext", "NEGATIVE", "NearestNegativeMiner", "P_MINUS", "P_MINUS2",
           "P_PLUS", "QuintupletMiner", "SELECTIONS", "SemiHardMiner", "TableMiner", "build_quintuplets",
           "nearest_other_class", "quintuplet_term_mask", "select_candidates", "semihard_triplets"]
