"""The papers' own numbers, kept as data (``lmle_core/study/paper_results/*.csv``).

from lmle_core.study.paper import paper_table, PAPER_TABLES
>>> paper_table("lmle_table5_mnist")            # LMLE Table 5 as a DataFrame

Tables (see ``paper_results/README.md`` for their provenance):

- ``lmle_table2_celeba``: LMLE Table 2, balanced accuracy (%) per CelebA attribute.
- ``lmle_table3_bsds``: LMLE Table 3, BSDS500 ODS / OIS / AP.
- ``lmle_table4_ablation``: LMLE Table 4 (attributes and edges) + Sec. 5.2 instance-wise kNN.
- ``lmle_table5_mnist``: LMLE Table 5, MNIST-rot-back-image mean per-class accuracy (%).
- ``crl_table_celeba_xdomain``: the CRL comparison on CelebA (mean balanced accuracy).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["PAPER_TABLES", "paper_table", "paper_table_path"]

_DIR = Path(__file__).resolve().parent / "paper_results"

#: Names accepted by :func:`paper_table` (file names without ``.csv``).
PAPER_TABLES: tuple[str, ...] = tuple(sorted(p.stem for p in _DIR.glob("*.csv")))


def paper_table_path(name: str) -> Path:
    """The CSV file of table ``name`` (``KeyError`` listing the available names if unknown)."""
    stem = name[:-4] if name.endswith(".csv") else name
    if stem not in PAPER_TABLES:
        raise KeyError(f"unknown paper table {name!r}; available: {', '.join(PAPER_TABLES)}")
    return _DIR / f"{stem}.csv"


def paper_table(name: str) -> pd.DataFrame:
    """The paper's table ``name`` as a DataFrame (a fresh copy on every call)."""
    return pd.read_csv(paper_table_path(name))
