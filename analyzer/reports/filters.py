"""Which rows a report looks at: agents, accounts, machines, a time range, and the zone days are counted in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from analyzer.contract.timeutil import UTC


@dataclass
class Filters:
    """Agents, accounts and machines (none: all), a ``[since, until)`` range of stored instants, and ``--tz``.

    A machine is named by its name, its id or the start of its id (``analyzer db status`` lists them).
    """

    agents: tuple[str, ...] = ()
    since: str | None = None  # stored instant, inclusive
    until: str | None = None  # stored instant, exclusive
    tz: tzinfo = field(default=UTC)
    accounts: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()

    def where(self, column: str = "ts", agent_column: str = "agent") -> tuple[str, list]:
        """A ``where`` clause and its parameters; the account and machine columns are named like the
        agent's (``r.agent``: ``r.account``, ``r.machine_id``)."""
        prefix = agent_column[: -len("agent")] if agent_column.endswith("agent") else ""
        clauses, params = [], []
        if self.agents:
            clauses.append(f"{agent_column} in ({', '.join('?' * len(self.agents))})")
            params.extend(self.agents)
        if self.accounts:
            clauses.append(f"{prefix}account in ({', '.join('?' * len(self.accounts))})")
            params.extend(self.accounts)
        if self.machines:
            clauses.append(f"{prefix}machine_id in ({machines_sql(len(self.machines))})")
            for name in self.machines:
                params.extend([name] * 4)
        if self.since:
            clauses.append(f"{column} >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{column} < ?")
            params.append(self.until)
        return (" where " + " and ".join(clauses)) if clauses else "", params


def machines_sql(n: int) -> str:
    """A subquery of the machine ids ``n`` names name (each name is four parameters: name, id, prefix)."""
    one = "name = ? or machine_id = ? or (length(?) >= 4 and machine_id like ? || '%')"
    return "select machine_id from machines where " + " or ".join(f"({one})" for _ in range(n))
