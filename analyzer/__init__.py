"""Coding-plan analyser: agent session logs in, what your plan really counts out.

Plugins import ``hookimpl`` from here and the records from ``analyzer.records``.
"""

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
