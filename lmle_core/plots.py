"""Moved to :mod:`lmle_core.study.plots`; this name keeps working."""
from lmle_core.study.plots import *  # noqa: F401,F403
from lmle_core.study.plots import __all__  # noqa: F401
