"""Printing report rows: aligned tables for people, JSON and CSV for programs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import click
import orjson


def emit_json(rows) -> None:
    click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def emit_csv(rows: list[dict], columns: Sequence[str] | None = None) -> None:
    if not rows:
        return
    columns = list(columns or rows[0].keys())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _csv_value(row.get(k))) for k in columns})
    click.echo(buf.getvalue(), nl=False)


def _csv_value(value):
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return value


def tokens(n: int | float | None) -> str:
    if n is None:
        return "-"
    return f"{int(n):,}"


def short_tokens(n: int | float | None) -> str:
    """1234567 -> 1.23M; for narrow columns."""
    if n is None:
        return "-"
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{int(n)}"


def money(row: dict, key: str = "cost_usd") -> str:
    value = row.get(key)
    if value is not None:
        return f"${value:,.2f}"
    known = row.get(f"{key}_known")
    if known:
        return f">=${known:,.2f}?"
    return "?"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def table(rows: list[list[str]], headers: list[str], *, align: str | None = None) -> str:
    """Plain aligned table; ``align`` is one character per column: l or r."""
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def number(value, digits: int = 1) -> str:
    """A number with thousands separators, ``n/a`` when unknown."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def usd(value) -> str:
    return "?" if value is None else f"${value:,.2f}"


def cny(value) -> str:
    return "?" if value is None else f"¥{value:,.2f}"


WINDOW_NAMES = {300: "5h", 1440: "day", 10080: "week", 43200: "month"}


def window_name(minutes: int | None) -> str:
    """A plan window's name, the same in every command: 5h, day, week, month (else minutes)."""
    if minutes is None:
        return "?"
    return WINDOW_NAMES.get(minutes, f"{minutes}m")
