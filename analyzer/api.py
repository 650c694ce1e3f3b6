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
* time: ``utc_iso`` (any instant to the stored form), ``parse_iso``,
  ``format_utc``, ``from_epoch``; ``reset_after`` reads reset times written
  as words ("resets 6pm (Europe/Berlin)"), ``zone`` finds a time zone by name;
* refusals: ``read_refusal`` reads a vendor's refusal from whatever an agent
  logged (vendor, kind, window, reset instant) as a ``Refusal``.
"""

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

__all__ = [
    "TRIGGERS",
    "BadLine",
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
    "Trigger",
    "WatchTask",
    "env_paths",
    "first_json_line",
    "first_objects",
    "format_utc",
    "from_epoch",
    "home_from",
    "hookimpl",
    "parse_iso",
    "read_refusal",
    "reset_after",
    "utc_iso",
    "zone",
]
