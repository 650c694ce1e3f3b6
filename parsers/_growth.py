"""Running totals turned into rows: each read stores the growth since the last one.

Some agents keep only a cumulative total per session, rewritten in place
(Factory Droid's ``tokenUsage``, Goose's ``accumulated_*`` columns). A parser
that reads such a total keeps, in its source's state, the total it has already
stored (``state["t"]``, one number per token class) and stores only the
difference. The rules, the same for every such agent:

* the stored total is a high-water mark per class: growth is ``max(0, now -
  stored)`` and the mark becomes ``max(stored, now)``. So re-reading an
  unchanged total adds nothing, a file rewritten with a larger total adds only
  the difference, and a smaller total (an older copy put back) adds nothing
  until the total passes the old mark again;
* the first read of a session starts from a baseline: zero, or the part of the
  total the session inherited (Droid's compaction successor starts with its
  parent's total);
* growth is shared out over the model calls the transcript shows since the
  last growth (``share``: an integer split, the remainder on the last call),
  so request counts follow the calls while the token totals stay exact. The
  split between calls of one read is an estimate; the sum is not.

The state lives with the source (one file), so a copy of a session under
another path starts again from its baseline: that case is documented by each
parser that uses this.
"""

from __future__ import annotations

from collections.abc import Sequence


def take_growth(state: dict, now: Sequence[int], baseline: Sequence[int] | None = None) -> list[int]:
    """The growth of ``now`` over the stored mark, and the new mark written to ``state["t"]``."""
    seen = state.get("t")
    if not isinstance(seen, list) or len(seen) != len(now):
        seen = list(baseline) if baseline is not None else [0] * len(now)
    growth = [max(0, int(a) - int(b)) for a, b in zip(now, seen)]
    state["t"] = [max(int(a), int(b)) for a, b in zip(now, seen)]
    return growth


def share(growth: Sequence[int], n: int) -> list[list[int]]:
    """``growth`` split over ``n`` calls: equal integer parts, the remainder on the last."""
    if n <= 0:
        return []
    parts = [[g // n for g in growth] for _ in range(n)]
    parts[-1] = [g - (g // n) * (n - 1) for g in growth]
    return parts
