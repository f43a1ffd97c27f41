"""The batch-run machinery of the study (papermill runner, reports, provenance, the papers' numbers).

Notebooks and ``run_all.sh`` use it; the science modules of ``lmle_core`` (losses, mining,
clustering, kNN, training, ...) import nothing from here, so a researcher who only wants those
never imports papermill.

- ``runner``: ``python -m lmle_core.study.runner`` (``run_all.sh``); ``config``: studies.yaml,
  profiles and parameter validation; ``results_store``: lock, staging folders, atomic swaps;
- ``reporting``: ``StudyReport`` (what a notebook records), ``compare_with_paper``;
  ``report_builder``: REPORT.md; ``markdown``: tables (tabulate); ``atomic_io``; ``provenance``
  (hardware, git, path scrubbing);
- ``paper``: the papers' own numbers (``paper_table``); ``plots``: the figures shared by the notebooks;
  ``interactive``: the data root and results folder of a notebook run by hand (``notebook_paths``).
"""

from lmle_core.study.interactive import notebook_paths
from lmle_core.study.paper import PAPER_TABLES, paper_table
from lmle_core.study.reporting import StudyReport, compare_with_paper

__all__ = ["StudyReport", "compare_with_paper", "paper_table", "PAPER_TABLES", "notebook_paths"]
