"""Where plan windows lie: the one rule, in Python. Instants are epoch milliseconds.

A window instance is **anchored** when the vendor said when it resets (a quota
reading's ``resets_at``, a limit hit's reset time): it is ``[reset - length,
reset)``. When the vendor moved a reset, two anchored instances overlap; the
later one then starts where the earlier one ends (``cut``).

Every instant outside the anchored instances falls in an **estimated** window,
opened by the first instant that needs one:

* it starts at that instant floored to the hour (as Claude's 5-hour windows are
  observed to open), or, for a weekly window of an agent that has anchored
  weekly instances, at the 7-day slot extrapolated from the nearest vendor reset
  (weekly windows are periodic: Claude and Codex report a fixed instant every
  7 days; on a tie the earlier reset is taken);
* never before the previous estimated window or anchored instance ended;
* it lasts ``length``, cut short where the next anchored instance starts;
* the next estimated window is opened by the first instant at or after its end.
  (So no two instants of one 5-hour window are more than 5 hours apart: the
  "5-hour gap" rule never needs saying.)

``Sweep`` applies the rule to instants in time order; ``window_starts`` is the
same rule for the common case of no anchored instance, as a tight loop (the
plan replay runs it over every request). This module imports nothing, so the
statusline can afford it. The second implementation of the rule is SQL, for
Datasette (``analyzer.store.views.windows``); ``tests/test_window_rule.py``
holds the two equal over every fixture.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

MINUTE = 60_000
HOUR = 3_600_000
FIVE_HOURS = 300  # window lengths, in minutes
WEEK = 10080


class Window:
    """``[start, end)`` in epoch ms. ``anchor`` is the anchored instance's index (None: estimated);
    ``reference`` the vendor reset a weekly slot was extrapolated from (None: floored to the hour)."""

    __slots__ = ("start", "end", "anchor", "reference")

    def __init__(self, start: int, end: int, anchor: int | None = None, reference: int | None = None):
        self.start, self.end, self.anchor, self.reference = start, end, anchor, reference

    @property
    def kind(self) -> str:
        return "estimated" if self.anchor is None else "anchored"

    def __repr__(self) -> str:
        return f"Window({self.start}, {self.end}, anchor={self.anchor}, reference={self.reference})"


def cut(instances: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Anchored instances in time order, each starting no earlier than the one before ended
    (the vendor moved a reset); an instance left empty by that is dropped."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(instances, key=lambda span: span[1]):
        if out and start < out[-1][1]:
            start = out[-1][1]
        if start < end:
            out.append((start, end))
    return out


class Sweep:
    """Assigns instants, in time order, to the windows of one length.

    ``anchored`` are ``cut`` instances. ``windows`` holds the anchored
    instances (in their order) and then each estimated window as it opens.
    """

    def __init__(self, minutes: int, anchored: Sequence[tuple[int, int]] = ()):
        self.minutes = minutes
        self.length = minutes * MINUTE
        self.anchored = list(anchored)
        self.starts = [start for start, _ in self.anchored]
        self.ends = [end for _, end in self.anchored]
        self.windows = [Window(start, end, i) for i, (start, end) in enumerate(self.anchored)]
        self.current: Window | None = None  # the open estimated window

    def assign(self, t: int) -> Window:
        """The window ``t`` falls in, opening an estimated one when it falls in none yet."""
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return self.windows[i]
        current = self.current
        if current is not None and current.start <= t < current.end:
            return current
        start, reference = self._opening(t)
        if current is not None and start < current.end <= t:
            start = current.end
        if i >= 0 and start < self.ends[i]:
            start = self.ends[i]  # never inside the anchored instance before
        end = start + self.length
        if i + 1 < len(self.starts) and end > self.starts[i + 1]:
            end = self.starts[i + 1]
        window = Window(start, end, None, reference)
        self.windows.append(window)
        self.current = window
        return window

    def _opening(self, t: int) -> tuple[int, int | None]:
        """Where an estimated window opened by ``t`` starts before clamping, and its reference reset."""
        if self.minutes == WEEK and self.ends:
            j = bisect_right(self.ends, t)  # the nearest reset at or before t is ends[j - 1]
            if j == 0 or (j < len(self.ends) and self.ends[j] - t < t - self.ends[j - 1]):
                reference = self.ends[j]
            else:
                reference = self.ends[j - 1]
            return reference + (t - reference) // self.length * self.length, reference
        return t - t % HOUR, None


def window_starts(times: Sequence[int], minutes: int) -> list[int]:
    """With no anchored instance: the index in ``times`` (sorted) at which each window opens,
    then ``len(times)``. The rule of ``Sweep``, unrolled for speed."""
    length = minutes * MINUTE
    bounds: list[int] = []
    end = None
    for i, t in enumerate(times):
        if end is None or t >= end:
            end = t - t % HOUR + length
            bounds.append(i)
    bounds.append(len(times))
    return bounds


def estimated_at(t: int, minutes: int) -> Window:
    """The estimated window ``t`` opens when nothing (no anchored instance, no earlier window
    still open) constrains it: the statusline walks windows with this, by index seeks."""
    start = t - t % HOUR
    return Window(start, start + minutes * MINUTE)
