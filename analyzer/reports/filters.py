"""Which rows a report looks at: agents, a time range, and the zone days are counted in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from analyzer.contract.timeutil import UTC


@dataclass
class Filters:
    """Agents (none: all), a ``[since, until)`` range of stored instants, and ``--tz``."""

    agents: tuple[str, ...] = ()
    since: str | None = None  # stored instant, inclusive
    until: str | None = None  # stored instant, exclusive
    tz: tzinfo = field(default=UTC)

    def where(self, column: str = "ts", agent_column: str = "agent") -> tuple[str, list]:
        clauses, params = [], []
        if self.agents:
            clauses.append(f"{agent_column} in ({', '.join('?' * len(self.agents))})")
            params.extend(self.agents)
        if self.since:
            clauses.append(f"{column} >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{column} < ?")
            params.append(self.until)
        return (" where " + " and ".join(clauses)) if clauses else "", params
