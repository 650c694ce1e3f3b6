"""What the plans catalogue states for a plan's window: shown when there is too little evidence.

The catalogue (``analyzer.plans``: bundled ``plans/plans.json`` plus the user's
own file) is another part of the project; it is read defensively: a missing
module, a malformed user file or a plan it does not list all mean "no stated
figure known". A plan is found by its id (``codex-plus``), its name, or the
plan type the vendor's readings report (``plus``) among the plans made for the
agent. The figure shown is labelled with its basis (stated by the vendor,
measured by the community, ...), never as inferred.
"""

from __future__ import annotations

BASIS_ORDER = ("stated", "community", "derived", "blog")


def _catalogue() -> list:
    try:
        from analyzer.plans.catalogue import load_catalogue

        return load_catalogue()
    except Exception:  # no catalogue, or the user's plans file is malformed: nothing stated is known
        return []


def find_plan(agent: str, plan: str) -> object | None:
    wanted = plan.lower().replace(" ", "-")
    plans = _catalogue()
    for p in plans:
        if p.id.lower() == wanted or p.name.lower().replace(" ", "-") == wanted:
            return p
    for p in plans:
        if agent in p.agents and (p.id.lower().endswith("-" + wanted) or p.name.lower().endswith(" " + plan.lower())):
            return p
    return None


def stated_limit(agent: str, plan: str | None, minutes: int) -> dict | None:
    """``{limit, unit, basis, plan, date, source}`` the catalogue gives for this window, or None."""
    if not plan:
        return None
    found = find_plan(agent, plan)
    if found is None:
        return None
    limits = [
        lim for lim in found.limits if lim.window_minutes == minutes and lim.limit is not None and lim.unit != "percent"
    ]
    if not limits:
        return None
    rank = {b: i for i, b in enumerate(BASIS_ORDER)}
    best = min(limits, key=lambda lim: (not lim.primary, rank.get(lim.basis, len(rank))))
    return {
        "limit": float(best.limit),
        "unit": best.unit,
        "basis": best.basis,
        "plan": found.id,
        "date": best.as_of or found.as_of,
        "source": best.source or found.source,
    }
