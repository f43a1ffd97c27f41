"""Miners: which samples a loss compares.

- ``quintuplet``: the LMLE quintuplet table (Sec. 3.1), [anchor, p+, p-, p--, n] per anchor from a
  random candidate subset, by one of three readings of the member selection (``SELECTIONS``:
  the literal extremes, or members that keep Eq. 1's order, ``ordered``), and the nearest
  other-class candidate (the triplet baseline's table).
"""
from .quintuplet import (ANCHOR, NEGATIVE, P_MINUS, P_MINUS2, P_PLUS, SELECTIONS, build_quintuplets,
                         nearest_other_class, select_candidates)

__all__ = ["ANCHOR", "NEGATIVE", "P_MINUS", "P_MINUS2", "P_PLUS", "SELECTIONS", "build_quintuplets",
           "nearest_other_class", "select_candidates"]
