"""What the plans catalogue states for a plan's window, if the catalogue is installed.

The catalogue (``analyzer/data/plans.json``) is data kept by another part of
the project; this module only reads it, defensively: a missing file, an
unknown shape or a plan it does not list all mean "no stated figure known".
A stated figure is shown labelled as stated, never as inferred.
"""

from __future__ import annotations

import json
from importlib import resources

VENDORS = {
    "claude-code": ("anthropic", "claude"),
    "codex": ("openai", "codex", "chatgpt"),
    "kimi-code": ("moonshot", "kimi"),
    "gemini-cli": ("google", "gemini"),
    "qwen-code": ("alibaba", "aliyun", "qwen", "bailian"),
}


def _catalogue() -> list[dict]:
    try:
        text = resources.files("analyzer").joinpath("data/plans.json").read_text()
        data = json.loads(text)
    except (FileNotFoundError, OSError, ValueError, ModuleNotFoundError):
        return []
    if isinstance(data, dict):
        data = data.get("plans", [])
    return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else []


def _names(entry: dict) -> set[str]:
    out = set()
    for key in ("id", "name", "plan", "key", "slug", "tier"):
        value = entry.get(key)
        if isinstance(value, str):
            out.add(value.lower())
    return out


def _windows(entry: dict) -> list[dict]:
    for key in ("windows", "limits"):
        value = entry.get(key)
        if isinstance(value, list):
            return [w for w in value if isinstance(w, dict)]
    return []


def _minutes(window: dict) -> int | None:
    for key in ("window_minutes", "minutes"):
        if isinstance(window.get(key), (int, float)):
            return int(window[key])
    hours = window.get("hours")
    if isinstance(hours, (int, float)):
        return int(hours * 60)
    name = str(window.get("window") or window.get("name") or "").lower()
    return {"5h": 300, "five_hour": 300, "weekly": 10080, "7d": 10080, "week": 10080, "daily": 1440,
            "monthly": 43200, "month": 43200}.get(name)  # fmt: skip


def stated_limit(agent: str, plan: str | None, minutes: int) -> dict | None:
    """``{limit, unit, plan, date, source}`` the catalogue states for this window, or None."""
    if not plan:
        return None
    wanted = plan.lower()
    vendor_words = VENDORS.get(agent, ())
    for entry in _catalogue():
        names = _names(entry)
        vendor = str(entry.get("vendor") or entry.get("provider") or "").lower()
        named = wanted in names or any(n.endswith(" " + wanted) or n.endswith("-" + wanted) for n in names)
        if not named or (vendor and vendor_words and not any(v in vendor for v in vendor_words) and wanted not in names):
            continue
        for window in _windows(entry):
            if _minutes(window) != minutes:
                continue
            limit = window.get("limit", window.get("stated_limit"))
            if not isinstance(limit, (int, float)):
                continue
            return {
                "limit": float(limit),
                "unit": window.get("unit") or entry.get("unit"),
                "plan": entry.get("name") or plan,
                "date": window.get("date") or entry.get("date") or entry.get("as_of"),
                "source": window.get("source") or entry.get("source"),
            }
    return None
