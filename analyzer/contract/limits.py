"""Which limit hits say a plan window ran out: the only ones that anchor a window or bound a limit.

A refusal's ``limit_type`` (``LimitHit.limit_type``) is the window it names
(``five_hour``, ``weekly``, ``seven_day_opus``, ...), ``quota``, or one of the
kinds of ``analyzer.contract.refusals`` that are refusals but say nothing about
a plan window's size: a rate limit of requests per minute (its retry-after is
seconds away), too many requests at once, the vendor's capacity, an empty
wallet, a spend cap, fair-use throttling, an expired plan. A hit of one of those
kinds is listed (``report limits``) but is no evidence of where a window ends
or how much it holds. A hit with no type is taken as a plan window (the older
records of agents that only logged "usage limit reached").
"""

from __future__ import annotations

NOT_PLAN_WINDOW = ("rate_limit", "concurrency", "overloaded", "balance", "spend", "fair_use", "expired")


def is_plan_window(limit_type: str | None) -> bool:
    """Whether a hit of this type is a plan window running out."""
    return (limit_type or "") not in NOT_PLAN_WINDOW


def plan_window_sql(column: str = "limit_type") -> str:
    """``is_plan_window`` as a SQL condition on ``column``."""
    return f"coalesce({column}, '') not in ({', '.join(repr(k) for k in NOT_PLAN_WINDOW)})"
