"""The plugin API: everything a third-party plugin (or a built-in parser) is written against.

Import from here and nowhere else inside ``analyzer``; the modules behind
these names may move, these names will not::

    from analyzer.api import hookimpl, JsonlParser, Request, Prompt, utc_iso

* ``hookimpl``: the marker for hook implementations (the hooks and what
  each is for are in the README's "Plugin hooks" section); ``WatchTask``,
  what ``register_watch_tasks`` registers;
* the records a parser yields: ``Request``, ``Prompt``, ``LimitHit``,
  ``QuotaReading``, ``Session``, ``BadLine`` (``Record`` is their union);
* the parser protocol (``Parser``), the JSONL base class (``JsonlParser``),
  what a parser may know of its file (``SourceContext``) and helpers for
  ``roots`` and ``recognise``: ``home_from``, ``env_paths``,
  ``first_json_line``, ``first_objects``;
* lines of a type the parser does not know: ``unknown_line`` (an ``ignored``
  line when it carries no usage, an ``unknown_type`` error when it might);
* time: ``utc_iso`` (any instant to the stored form), ``parse_iso``,
  ``format_utc``, ``from_epoch``; ``reset_after`` reads reset times written
  as words ("resets 6pm (Europe/Berlin)"), ``zone`` finds a time zone by name;
* refusals: ``read_refusal`` reads a vendor's refusal from whatever an agent
  logged (vendor, kind, window, reset instant) as a ``Refusal``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# Each name, and the module it lives in. They are imported on first use, so that a plugin (or a
# built-in command) that only needs ``hookimpl`` does not pay for the records and the parser base.
_WHERE = {
    "hookimpl": "analyzer.contract.hookspecs",
    "JsonlParser": "analyzer.contract.parsing",
    "Line": "analyzer.contract.parsing",
    "Parser": "analyzer.contract.parsing",
    "SourceContext": "analyzer.contract.parsing",
    "env_paths": "analyzer.contract.parsing",
    "first_json_line": "analyzer.contract.parsing",
    "first_objects": "analyzer.contract.parsing",
    "home_from": "analyzer.contract.parsing",
    "loads_lenient": "analyzer.contract.parsing",
    "TRIGGERS": "analyzer.contract.records",
    "BadLine": "analyzer.contract.records",
    "LimitHit": "analyzer.contract.records",
    "Prompt": "analyzer.contract.records",
    "QuotaReading": "analyzer.contract.records",
    "Record": "analyzer.contract.records",
    "Request": "analyzer.contract.records",
    "Session": "analyzer.contract.records",
    "Trigger": "analyzer.contract.records",
    "Refusal": "analyzer.contract.refusals",
    "read_refusal": "analyzer.contract.refusals",
    "reset_after": "analyzer.contract.resets",
    "zone": "analyzer.contract.resets",
    "WatchTask": "analyzer.contract.tasks",
    "unknown_line": "analyzer.contract.unknown_lines",
    "BadValue": "analyzer.contract.validation",
    "token_count": "analyzer.contract.validation",
    "format_utc": "analyzer.contract.timeutil",
    "from_epoch": "analyzer.contract.timeutil",
    "parse_iso": "analyzer.contract.timeutil",
    "utc_iso": "analyzer.contract.timeutil",
}

__all__ = [
    "BadLine",
    "BadValue",
    "JsonlParser",
    "LimitHit",
    "Line",
    "Parser",
    "Prompt",
    "QuotaReading",
    "Record",
    "Refusal",
    "Request",
    "Session",
    "SourceContext",
    "TRIGGERS",
    "Trigger",
    "WatchTask",
    "env_paths",
    "first_json_line",
    "first_objects",
    "format_utc",
    "from_epoch",
    "home_from",
    "hookimpl",
    "loads_lenient",
    "parse_iso",
    "read_refusal",
    "reset_after",
    "unknown_line",
    "token_count",
    "utc_iso",
    "zone",
]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'analyzer.api' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and editors see
    from analyzer.contract.hookspecs import hookimpl
    from analyzer.contract.parsing import (
        JsonlParser,
        Line,
        Parser,
        SourceContext,
        env_paths,
        first_json_line,
        first_objects,
        home_from,
        loads_lenient,
    )
    from analyzer.contract.records import (
        TRIGGERS,
        BadLine,
        LimitHit,
        Prompt,
        QuotaReading,
        Record,
        Request,
        Session,
        Trigger,
    )
    from analyzer.contract.refusals import Refusal, read_refusal
    from analyzer.contract.resets import reset_after, zone
    from analyzer.contract.tasks import WatchTask
    from analyzer.contract.timeutil import format_utc, from_epoch, parse_iso, utc_iso
    from analyzer.contract.unknown_lines import unknown_line
    from analyzer.contract.validation import BadValue, token_count
