"""The interval: every slope the readings allow, given how they are rounded.

A reading shown as a whole percent stands for anything within half a point of
it (or a point below, if the vendor floors). So within a group two readings
bound the slope: ``|dp - beta * dx| <= step``, where ``step`` is the rounding
step. Readings of anchored instances also bound it one by one, because their
true level at the window's start is zero: ``|p - beta * x| <= step``. The
slopes that satisfy every bound form an interval; long spans bound it
tightly, which is why long spans are worth more than many short ones.

Real data breaks a bound now and then (usage on another device too small to
see, a call logged a second after the reading that counted it). The interval
is therefore computed with every bound loosened by ``slack``: the least
loosening that makes the bounds agree, plus half a rounding step; and lower
bounds across idle time are loosened by what idle spells were seen to hide.
"""

from __future__ import annotations

MAX_POINTS = 48  # per group; more add little and cost pairs


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    points = sorted(points)
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def constraints(groups: dict, step: float, allowance: float = 0.0) -> tuple[list, list, float]:
    """Lower bounds ``(a, m, d)`` meaning ``beta >= (a - m*eps)/d``, upper ones ``beta <= (a + m*eps)/d``,
    and the least slack that pairs with no usage between them demand.

    Points are ``(x, percent, gaps)``, ``gaps`` counting the idle spells in
    the reading's chain so far. Usage the logs miss can only hide in idle
    time, where it makes readings rise more than local usage explains: a lower
    bound on the slope across ``g`` idle spells is loosened by ``g *
    allowance`` (what each spell may hide unseen). Upper bounds cannot be
    fooled that way.
    """
    lower, upper = [], []
    need = 0.0
    for key, points in groups.items():
        pts = _thin(points)
        if key[0] == "A":
            for x, y, g in pts:
                if x > 0:
                    lower.append((y - step - g * allowance, 1.0, x))
                    upper.append((y + step, 1.0, x))
                else:
                    need = max(need, abs(y) - step)
        for a in range(len(pts)):
            xa, ya, ga = pts[a]
            for b in range(a + 1, len(pts)):
                xb, yb, gb = pts[b]
                dx, dy = xb - xa, yb - ya
                hidden = (gb - ga) * allowance
                if dx > 0:
                    lower.append((dy - step - hidden, 2.0, dx))
                    upper.append((dy + step, 2.0, dx))
                else:
                    need = max(need, (abs(dy) - step - hidden) / 2)
    return lower, upper, need


def _bounds(lower, upper, eps: float) -> tuple[float, float]:
    lo = max(((a - m * eps) / d for a, m, d in lower), default=0.0)
    hi = min(((a + m * eps) / d for a, m, d in upper), default=float("inf"))
    return max(lo, 0.0), hi


def slope_interval(groups: dict, step: float, estimate: float, allowance: float = 0.0) -> tuple[float, float, float]:
    """(low, high, slack) for the slope; the interval always holds ``estimate``."""
    lower, upper, need = constraints(groups, step, allowance)
    if not lower and not upper:
        return 0.0, float("inf"), 0.0
    lo_eps, hi_eps = need, max(need, 1.0) * 2 + 100 * step
    while _bounds(lower, upper, hi_eps)[0] > _bounds(lower, upper, hi_eps)[1]:
        hi_eps *= 2
    if _bounds(lower, upper, lo_eps)[0] > _bounds(lower, upper, lo_eps)[1]:
        for _ in range(50):
            mid = (lo_eps + hi_eps) / 2
            lo, hi = _bounds(lower, upper, mid)
            if lo <= hi:
                hi_eps = mid
            else:
                lo_eps = mid
        slack = hi_eps
    else:
        slack = lo_eps
    lo, hi = _bounds(lower, upper, slack + step / 2)
    return min(lo, estimate), max(hi, estimate), slack
