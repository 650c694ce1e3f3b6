"""Coding-plan analyser: agent session logs in, what your plan really counts out.

Plugins import ``hookimpl`` from here and the records from ``analyzer.records``.
``hookimpl`` is resolved lazily, so that importing the package (as the
statusline's fast path does) does not import pluggy.
"""

__all__ = ["hookimpl"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "hookimpl":
        from analyzer.contract.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
