"""Moved to :mod:`lmle_core.study.reporting`; this name keeps working."""
from lmle_core.study.reporting import *  # noqa: F401,F403
from lmle_core.study.reporting import __all__  # noqa: F401
