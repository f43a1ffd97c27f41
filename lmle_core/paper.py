"""Moved to :mod:`lmle_core.study.paper`; this name keeps working."""
from lmle_core.study.paper import *  # noqa: F401,F403
from lmle_core.study.paper import __all__  # noqa: F401
