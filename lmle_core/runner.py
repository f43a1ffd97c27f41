"""Moved to :mod:`lmle_core.study.runner` (``python -m lmle_core.runner`` keeps working)."""
import sys

from lmle_core.study.runner import *  # noqa: F401,F403
from lmle_core.study.runner import main

if __name__ == "__main__":
    sys.exit(main())
