"""Attribution against a store: the rules in force, a cache, and the ``attributions`` rows.

``attribute`` decides for one row and reads nothing; an ``AccountBook`` applies
it to rows of the store (``analyzer.store.writer`` calls ``request`` for every
request it writes, ``analyzer.accounts.store`` every method for rows stored
earlier). It keeps:

* the rules of ``accounts.toml`` and the instants where one of them starts or
  ends: between two such instants, attribution depends only on the row's
  other fields, so it is computed once per distinct (agent, provider, model,
  machine, project, period) and cached;
* the ``attributions`` table: one row per distinct (account, plan, rule, note),
  referred to by each attributed row's ``attribution`` column;
* the machines' names, so that a rule may name a machine by its name or id.

A limit hit often carries no provider and no model (Claude Code's refusals
name neither): it takes those of its session's calls (the latest at or before
it, else the first after it; the provider and project only from a call of its
own model), and, when still none is known, the vendor its refusal's words name. A quota reading is
attributed by its own source (``decide.reading_attribution``).

``digest`` identifies what attribution depends on besides the rows (the file's
text, the zone naive dates are read in, and ``analyzer.accounts.ATTRIBUTION_VERSION``,
raised when the vendors table or the decision changes): rows attributed under
another digest are attributed again.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from analyzer.accounts import ATTRIBUTION_VERSION
from analyzer.accounts.decide import Attribution, attribute, reading_attribution
from analyzer.accounts.rules import Rules, load_rules

if TYPE_CHECKING:
    from analyzer.store.database import Store


def current_rules() -> Rules:
    """The user's ``accounts.toml`` (naive dates in the local zone); raises ``AccountsFileError``."""
    from analyzer.contract.timeutil import resolve_tz

    return load_rules(tz=resolve_tz(None))


def digest(rules: Rules) -> str:
    """What stored attributions depend on besides the rows themselves."""
    from analyzer.contract.timeutil import resolve_tz

    return f"{ATTRIBUTION_VERSION}:{rules.digest or '-'}:{resolve_tz(None)}"


def _key(a: Attribution) -> str:
    return "\x1f".join(v or "" for v in (a.account, a.plan, a.rule, a.note))


class AccountBook:
    """Attributes rows of one store under one set of rules."""

    def __init__(self, db: Store, rules: Rules):
        self.conn = db.conn
        self.rules = rules
        self.bounds = sorted({t for r in rules.rules for t in (r.since, r.until) if t})
        self.uses_project = any(r.project for r in rules.rules)
        self.uses_machine = any(r.machine for r in rules.rules)
        self.names = {mid: (mid, name) if name else (mid,) for mid, name in self._machines()}
        self._ids: dict[str, int] = {}
        self._requests: dict[tuple, tuple[str | None, int]] = {}
        self._readings: dict[tuple, tuple[str | None, int]] = {}

    @classmethod
    def open(cls, db: Store) -> AccountBook | None:
        """A book under the user's rules; None when ``accounts.toml`` cannot be used (rows then wait)."""
        from analyzer.accounts.rules import AccountsFileError

        try:
            return cls(db, current_rules())
        except AccountsFileError:
            return None

    @property
    def digest(self) -> str:
        return digest(self.rules)

    def _machines(self) -> list[tuple[str, str | None]]:
        try:
            return self.conn.execute("select machine_id, name from machines").fetchall()
        except Exception:  # a store before the machines table: ids only
            return []

    def _period(self, ts: str | None) -> int:
        return bisect_right(self.bounds, ts) if self.bounds and ts else 0

    def machine(self, machine_id: str | None) -> tuple[str, ...] | None:
        """The names a rule may use for a machine: its id, and its name when known."""
        if machine_id is None:
            return None
        return self.names.get(machine_id) or (machine_id,)

    def forget(self) -> None:
        """Drop the cached ``attributions`` ids (rows no longer referred to were deleted)."""
        self._ids.clear()
        self._requests.clear()
        self._readings.clear()

    def store(self, found: Attribution) -> tuple[str | None, int]:
        """(account, attribution id), adding the ``attributions`` row the first time."""
        key = _key(found)
        known = self._ids.get(key)
        if known is None:
            conn = self.conn
            conn.execute(
                "insert into attributions (key, account, plan, rule, note) values (?, ?, ?, ?, ?)"
                " on conflict(key) do nothing",
                [key, found.account, found.plan, found.rule, found.note],
            )
            known = self._ids[key] = conn.execute("select id from attributions where key = ?", [key]).fetchone()[0]
        return found.account, known

    def request(
        self,
        agent: str,
        provider: str | None,
        model: str | None,
        machine: str | None,
        project: str | None,
        ts: str,
    ) -> tuple[str | None, int]:
        """(account, attribution id) of one request."""
        key = (
            agent,
            provider,
            model,
            machine if self.uses_machine else None,
            project if self.uses_project else None,
            self._period(ts),
        )
        found = self._requests.get(key)
        if found is None:
            decided = attribute(
                agent=agent,
                provider=provider,
                model=model,
                machine=self.machine(machine),
                project=project,
                ts=ts,
                rules=self.rules,
            )
            found = self._requests[key] = self.store(decided)
        return found

    def hit(
        self,
        agent: str,
        session_id: str | None,
        ts: str,
        model: str | None,
        message: str | None,
        machine: str | None,
        provider: str | None = None,
    ) -> tuple[str | None, int]:
        """(account, attribution id) of one limit hit, from its own fields, its session's calls, its words."""
        project = None
        if session_id is not None and (provider is None or model is None):
            context = self._session_call(agent, session_id, ts)
            if context is not None and (model is None or model == context[1]):
                provider, project = provider or context[0], context[2]
                model = model or context[1]
        if provider is None and model is None and message:
            from analyzer.contract.refusals import read_refusal

            refused = read_refusal(message, at=ts)
            provider = refused.vendor if refused is not None else None
        decided = attribute(
            agent=agent,
            provider=provider,
            model=model,
            machine=self.machine(machine),
            project=project,
            ts=ts,
            rules=self.rules,
        )
        return self.store(decided)

    def _session_call(self, agent: str, session_id: str, ts: str) -> tuple | None:
        """(provider, model, project) of the session's latest call at or before ``ts``, else its first."""
        conn = self.conn
        where = "from requests where agent = ? and session_id = ?"
        return (
            conn.execute(
                f"select provider, model, project {where} and ts <= ? order by ts desc limit 1",
                [agent, session_id, ts],
            ).fetchone()
            or conn.execute(
                f"select provider, model, project {where} order by ts limit 1", [agent, session_id]
            ).fetchone()
        )

    def reading(
        self,
        agent: str,
        source: str | None,
        plan_type: str | None,
        named: str | None,
        machine: str | None,
        ts: str,
    ) -> tuple[str | None, int]:
        """(account, attribution id) of one quota reading."""
        key = (agent, source, plan_type, named, machine if self.uses_machine else None, self._period(ts))
        found = self._readings.get(key)
        if found is None:
            decided = reading_attribution(
                agent=agent,
                source=source,
                plan_type=plan_type,
                named=named,
                machine=self.machine(machine),
                ts=ts,
                rules=self.rules,
            )
            found = self._readings[key] = self.store(decided)
        return found
