"""Miners: which samples a loss compares.

- ``quintuplet``: the LMLE quintuplet table (Sec. 3.1), [anchor, p+, p-, p--, n] per anchor from a
  random candidate subset, and the nearest other-class candidate (the triplet baseline's table).
"""
from .quintuplet import (ANCHOR, NEGATIVE, P_MINUS, P_MINUS2, P_PLUS, build_quintuplets, nearest_other_class,
                         select_candidates)

__all__ = ["ANCHOR", "NEGATIVE", "P_MINUS", "P_MINUS2", "P_PLUS", "build_quintuplets", "nearest_other_class",
           "select_candidates"]
