"""What ``analyzer accounts`` shows: every account, what used it, and why its rows are its.

One entry per account (the accounts named in ``accounts.toml`` included, even
unused), with its requests, limit hits and quota readings, first and last use,
and breakdowns: per agent, model and machine (requests), per rule that
assigned rows to it, and the ambiguity notes attribution left (each with the
requests it concerns). Requests nobody could attribute are the account
``None``. Everything is read from the stored columns (``ensure_accounts``
first), so the listing agrees with every report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.accounts.store import ensure_accounts

if TYPE_CHECKING:
    from analyzer.store.database import Store


def _entry(account: str | None) -> dict:
    return {
        "account": account,
        "name": None,
        "vendor": None,
        "plan": None,
        "requests": 0,
        "limit_hits": 0,
        "quota_readings": 0,
        "first_use": None,
        "last_use": None,
        "agents": {},
        "models": {},
        "machines": {},
        "rules": {},
        "ambiguous": {},
    }


def _add(counts: dict, name, n: int) -> None:
    counts[name] = counts.get(name, 0) + n


def _span(entry: dict, first: str | None, last: str | None) -> None:
    if first and (entry["first_use"] is None or first < entry["first_use"]):
        entry["first_use"] = first
    if last and (entry["last_use"] is None or last > entry["last_use"]):
        entry["last_use"] = last


def list_accounts(db: Store) -> list[dict]:
    """Every account with its usage and how it was decided, most requests first."""
    from analyzer.accounts.book import current_rules
    from analyzer.contract import vendors

    rules = current_rules()
    ensure_accounts(db)
    names = dict(db.execute("select machine_id, coalesce(name, machine_id) from machines").fetchall())
    found: dict[str | None, dict] = {}

    def entry(account):
        if account not in found:
            found[account] = _entry(account)
        return found[account]

    for account, agent, model, machine, rule, note, plan, n, first, last in db.execute(
        "select r.account, r.agent, coalesce(r.model, '(no model)'), r.machine_id, a.rule, a.note, a.plan,"
        " count(*), min(r.ts), max(r.ts)"
        " from requests r left join attributions a on a.id = r.attribution"
        " group by r.account, r.agent, r.model, r.machine_id, r.attribution"
    ):
        e = entry(account)
        e["requests"] += n
        _span(e, first, last)
        _add(e["agents"], agent, n)
        _add(e["models"], model, n)
        _add(e["machines"], names.get(machine, machine or "(unknown)"), n)
        _add(e["rules"], rule or "not attributed yet", n)
        if note:
            _add(e["ambiguous"], note, n)
        e["plan"] = e["plan"] or plan
    for table, column, ts in (("limit_hits", "limit_hits", "ts"), ("quota_readings", "quota_readings", "observed_at")):
        for account, note, n, first, last in db.execute(
            f"select t.account, a.note, count(*), min(t.{ts}), max(t.{ts})"
            f" from {table} t left join attributions a on a.id = t.attribution group by t.account, t.attribution"
        ):
            e = entry(account)
            e[column] += n
            _span(e, first, last)
            if note:
                _add(e["ambiguous"], note, 0)
    for account in rules.accounts:
        entry(account)
    out = []
    for e in found.values():
        named = rules.accounts.get(e["account"] or "")
        vendor = vendors.get(e["account"])
        e["name"] = named.name if named and named.name else (vendor.name if vendor else None)
        e["vendor"] = vendor.id if vendor else None
        e["plan"] = e["plan"] or (named.plan if named else None)
        for key in ("agents", "models", "machines", "rules"):
            e[key] = [{"name": k, "requests": v} for k, v in sorted(e[key].items(), key=lambda kv: (-kv[1], kv[0]))]
        e["ambiguous"] = [
            {"note": k, "requests": v} for k, v in sorted(e["ambiguous"].items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        out.append(e)
    out.sort(key=lambda e: (e["account"] is None, -e["requests"], e["account"] or ""))
    return out


def plan_accounts(db: Store) -> dict[str, list[str]]:
    """Catalogue plan id -> your accounts that are on it or could be: the plan ``accounts.toml`` names for an
    account, and every plan sold by the vendor an account's calls went to (its provider, else its models)."""
    from analyzer.accounts.book import current_rules
    from analyzer.contract import vendors

    ensure_accounts(db)
    found: dict[str, set[str]] = {}
    rules = current_rules()
    for account, named in rules.accounts.items():
        if named.plan:
            found.setdefault(named.plan, set()).add(account)
    for account, plan in db.execute("select distinct account, plan from attributions where plan is not null"):
        if account:
            found.setdefault(plan, set()).add(account)
    for account, provider, model in db.execute(
        "select account, provider, model from requests where account is not null group by account, provider, model"
    ):
        vendor = vendors.get(account) or vendors.vendor_of_provider(provider)[0] or vendors.vendor_of_model(model)
        for plan in vendor.plans if vendor else ():
            found.setdefault(plan, set()).add(account)
    return {plan: sorted(accounts) for plan, accounts in found.items()}
