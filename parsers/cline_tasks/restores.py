"""Usage of requests that a checkpoint restore removed: counted once, never twice.

Restoring a task to a checkpoint cuts ``ui_messages.json`` back to the message
restored to and appends one record of the cut requests' summed usage: Cline's
``say:"deleted_api_reqs"`` (``integrations/checkpoints``), Roo's and Kilo's
``say:"api_req_deleted"`` (``core/checkpoints``), right after that message. Its
text has the shape of ``api_req_started``.

The requests it sums may already be in the store, read before the restore,
or never have been seen. So the parser keeps, per file, a small state of what
it has counted: every request (by ``ts``) with its four classes, and every
aggregate with the range it covered and what it added. An aggregate adds its
*residual*: its total less the requests (and, for Cline, the earlier
aggregates) that were seen inside its range and are gone from the file. The
range runs from the message before the aggregate to the aggregate itself.

* Cline sums earlier ``deleted_api_reqs`` into a later one (``getApiMetrics``
  counts them); Roo's ``consolidateTokenUsage`` does not, so for Roo and Kilo
  an aggregate covers requests only.
* Seen requests inside an earlier aggregate's range were already cut by it
  and are not counted against a later one.
* A residual, once worked out, is kept in the state and never recomputed, so
  re-reading the file gives the same rows. The state lives with the rows in
  the store: a new store starts with neither, and counts each aggregate whole.

A residual stands for one or more requests whose number is not recorded; it
is stored as one request (``raw_usage.aggregate``).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.parsers.cline_tasks.usage import Tokens


@dataclass(frozen=True)
class Aggregate:
    """One restore record in the current file."""

    ts: int
    low: int  # ts of the message just before it: the restore point
    total: Tokens


def residual(state: dict, agg: Aggregate, present: set[int], nested: bool) -> Tokens:
    """What ``agg`` adds beyond what earlier reads counted; remembered in ``state``."""
    frozen = state.setdefault("aggregates", {})
    known = frozen.get(str(agg.ts))
    if known is not None:
        return Tokens.of(known["residual"])
    seen = state.get("requests", {})
    inside = lambda ts: agg.low < ts < agg.ts and ts not in present  # noqa: E731
    earlier = [(int(ts), a) for ts, a in frozen.items() if inside(int(ts))]
    covered_by_earlier = lambda ts: any(a["low"] < ts < ets for ets, a in earlier)  # noqa: E731
    counted = Tokens()
    for ts_text, values in seen.items():
        ts = int(ts_text)
        if inside(ts) and not covered_by_earlier(ts):
            counted = counted.plus(Tokens.of(values))
    if nested:
        for _, a in earlier:
            counted = counted.plus(Tokens.of(a["total"]))
    added = agg.total.minus(counted)
    frozen[str(agg.ts)] = {"low": agg.low, "total": agg.total.as_list(), "residual": added.as_list()}
    return added


def remember(state: dict, ts: int, tokens: Tokens) -> None:
    """Note a request's usage (the largest seen for its ``ts``)."""
    seen = state.setdefault("requests", {})
    old = seen.get(str(ts))
    if old is None or sum(tokens.as_list()) >= sum(old):
        seen[str(ts)] = tokens.as_list()
