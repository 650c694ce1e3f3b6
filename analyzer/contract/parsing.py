"""The parser protocol: how bytes on disk become records.

A parser reads; it never touches the database, the clock or the network. The
ingester owns files, offsets and transactions and hands a parser either

* ``mode = "lines"``: the complete new lines of an append-only JSONL file, each
  with its byte offset, plus a small JSON-serialisable ``state`` dict that the
  ingester stores next to the offset (so a restart mid-file parses the rest as
  if it never stopped). On a rewritten or truncated file the ingester starts
  again from offset 0 with an empty state; or
* ``mode = "file"``: a path to read whole (JSON documents, SQLite stores),
  re-read whenever its size or modification time changes. A file parser that
  sets ``keeps_state = True`` is called as ``parse_file(path, ctx, state)``
  and gets the state it left on its previous read of that file (a
  JSON-serialisable dict it updates in place, stored with that read's rows in
  one transaction): what an agent that keeps only cumulative totals needs
  (Factory Droid, Goose), or one that rewrites a file whole and drops entries
  from it (Cline's checkpoint restores).

Either way the parser yields records (``analyzer.contract.records``). A line it cannot
use becomes a ``BadLine``; it never raises for bad input. ``JsonlParser`` does
the JSON decoding and per-line error capture for JSONL formats, so a subclass
only writes ``handle``.

What a crash or another tool can leave around intact JSON is read, not dropped
(``loads_lenient``, tried only when a line does not decode as it is): a UTF-8
byte-order mark at the start of a file, a run of NUL bytes before a line (a
file extended by a crash, then written after), and bytes that are not UTF-8
inside string values (read as U+FFFD). The JSON itself must be whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from analyzer.contract.records import BadLine, Record
from analyzer.contract.validation import BadValue

Line = tuple[int, bytes]


@dataclass(frozen=True)
class SourceContext:
    """What a parser may know about the file it is reading."""

    path: Path
    root: Path | None = None


@runtime_checkable
class Parser(Protocol):
    """A reader of one agent's logs."""

    name: str  # unique parser name, e.g. "claude-code"
    agent: str  # agent name records carry, e.g. "claude-code"
    mode: Literal["lines", "file"]

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        """Default folders holding this agent's logs (they may not exist)."""
        ...

    def candidate(self, path: Path) -> bool:
        """Cheap path-only test: could this file be one of ours?"""
        ...

    def recognise(self, path: Path, head: bytes) -> bool:
        """Content test on the first bytes of a candidate file."""
        ...


def home_from(env: Mapping[str, str]) -> Path:
    """The home folder the agents use, from ``HOME`` (``USERPROFILE`` on Windows)."""
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def env_paths(env: Mapping[str, str], name: str) -> list[Path]:
    """A path variable that may hold several comma- or os.pathsep-separated paths."""
    value = env.get(name, "").strip()
    if not value:
        return []
    parts = [p.strip() for chunk in value.split(",") for p in chunk.split(os.pathsep)]
    return [Path(p).expanduser() for p in parts if p]


BOM = b"\xef\xbb\xbf"


def loads_lenient(raw: bytes) -> Any:
    """``orjson.loads``, after taking off what is not JSON but leaves the JSON readable.

    Tried in this order: as it is; without a leading byte-order mark and NUL
    bytes (and whatever a NUL run follows: a torn line a crash left before it);
    with bytes that are not UTF-8 replaced by U+FFFD. Raises ``orjson.JSONDecodeError``
    (a ``ValueError``) when none of these decodes.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        first = exc
    cleaned = raw
    if cleaned.startswith(BOM):
        cleaned = cleaned[len(BOM) :]
    if b"\x00" in cleaned:
        cleaned = cleaned.rpartition(b"\x00")[2] if cleaned.strip(b"\x00 \t\r") else b""
    for attempt in (cleaned, cleaned.decode("utf-8", "replace").encode("utf-8")):
        if attempt is not raw and attempt.strip():
            try:
                return orjson.loads(attempt)
            except orjson.JSONDecodeError:
                continue
    raise first


def first_json_line(head: bytes) -> Any:
    """The first complete line of a file's head that is JSON, or None.

    A line that is not JSON is passed over like a blank one, so a damaged first
    line costs a file no more than a missing one: what the file is can still be
    told from the next."""
    for raw in head.split(b"\n")[:-1] if b"\n" in head else [head]:
        raw = raw.strip().strip(b"\x00")
        if not raw or raw == BOM:
            continue
        try:
            return loads_lenient(raw)
        except (orjson.JSONDecodeError, RecursionError):
            continue
    return None


def first_objects(head: bytes, limit: int = 5) -> list:
    """The JSON values of the first ``limit`` complete lines of a file's head (lines
    that do not decode are left out): what ``recognise`` usually looks at."""
    found = []
    for raw in head.split(b"\n")[:-1][:limit]:
        if not raw.strip().strip(b"\x00"):
            continue
        try:
            found.append(loads_lenient(raw))
        except (orjson.JSONDecodeError, RecursionError):
            continue
    return found


class JsonlParser:
    """Base for JSONL parsers: decodes each line and turns failures into ``BadLine``.

    Subclasses set ``name``/``agent`` and implement ``handle(obj, offset, state,
    ctx)``, yielding records for one decoded line. An exception inside
    ``handle`` is a bug or an unexpected shape: it is reported as a ``BadLine``
    for that line, and the rest of the file goes on.
    """

    mode: Literal["lines", "file"] = "lines"
    name = ""
    agent = ""

    def parse(self, lines: Iterable[Line], state: dict, ctx: SourceContext) -> Iterator[Record]:
        handle = self.handle
        loads = orjson.loads
        for offset, raw in lines:
            if not raw.strip(b" \t\r\n\x00"):
                continue
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                yield from self.recover(raw, offset, state, ctx, exc)
                continue
            if not isinstance(obj, dict):
                yield BadLine(offset, "bad_shape", f"expected a JSON object, got {type(obj).__name__}", _snippet(raw))
                continue
            try:
                yield from handle(obj, offset, state, ctx)
            except BadValue as exc:  # a count that cannot be one: the line, with the reason
                yield BadLine(offset, "bad_value", str(exc), _snippet(raw))
            except Exception as exc:  # never let one line stop the file
                yield BadLine(offset, "bad_shape", f"{type(exc).__name__}: {exc}", _snippet(raw))

    def recover(self, raw: bytes, offset: int, state: dict, ctx: SourceContext, exc: Exception) -> Iterator[Record]:
        """A line that is not JSON as it is. JSON behind a byte-order mark or NUL
        padding, or with bytes that are not UTF-8 inside its strings, is read
        (``loads_lenient``). Writers sometimes glue two records on one line;
        try each ``}{``-separated piece before giving up."""
        try:
            obj = loads_lenient(raw)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            try:
                yield from self.handle(obj, offset, state, ctx)
            except BadValue as err:
                yield BadLine(offset, "bad_value", str(err), _snippet(raw))
            except Exception as err:
                yield BadLine(offset, "bad_shape", f"{type(err).__name__}: {err}", _snippet(raw))
            return
        pieces = _split_glued(raw)
        if len(pieces) > 1:
            decoded = []
            for piece in pieces:
                try:
                    decoded.append(orjson.loads(piece))
                except orjson.JSONDecodeError:
                    decoded = []
                    break
            if decoded and all(isinstance(d, dict) for d in decoded):
                for obj in decoded:
                    try:
                        yield from self.handle(obj, offset, state, ctx)
                    except Exception as err:
                        yield BadLine(offset, "bad_shape", f"{type(err).__name__}: {err}", _snippet(raw))
                return
        yield BadLine(offset, "corrupt", f"not JSON: {exc}", _snippet(raw))

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterable[Record]:
        raise NotImplementedError


def _split_glued(raw: bytes) -> list[bytes]:
    pieces = []
    start = 0
    idx = raw.find(b"}{")
    while idx != -1:
        pieces.append(raw[start : idx + 1])
        start = idx + 1
        idx = raw.find(b"}{", start)
    pieces.append(raw[start:])
    return pieces


def _snippet(raw: bytes, limit: int = 160) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("…" if len(raw) > limit else "")
