"""Fuzz: every parser, fed random mutations of its fixtures, never raises, and one bad line costs only itself.

For a fixture home of every agent, one unit is mutated: a line of a JSONL log,
or a whole JSON document (a Gemini or Qwen session, an OpenCode message file).
The mutations are the damage logs really meet: a truncation, a splice of two
lines, a value of another type, a huge or negative number, deep nesting.
Then, with the same parsers and the store's writer (validation and best-copy
rule included, no database needed):

* no exception escapes a parser or the writer;
* a damaged unit costs no more than a missing one: every request and prompt
  that is still there, with the same tokens, when the unit is removed, is
  still there with the same tokens when it is damaged instead (apart from
  the records the damaged unit itself now gives). That is "every other line
  is still stored, its totals unchanged", where the format makes other lines
  depend on one by design: Codex counts a call as a change of a running
  total (the next change absorbs a lost one), a Claude Code slash command's
  prompt is confirmed by the answer after it, a file's first line says what
  the file is.

Hypothesis drives it, derandomized (the same examples on every run) and
bounded to keep the suite's time modest.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import BadLine, Prompt, Request
from analyzer.ingest.discovery import discover
from analyzer.ingest.ingester import keeps_state
from analyzer.ingest.reading import split_lines
from analyzer.registry.parsers import get_parsers
from analyzer.store.writer import RecordWriter

from .conftest import FIXTURES


def fixture_homes() -> list[Path]:
    """A fixture home of every case of every registered agent that has JSON or JSONL logs."""
    from analyzer.registry.parsers import agents

    homes = []
    for agent in sorted(set(agents()) & {p.name for p in FIXTURES.iterdir()}):
        for case in sorted((FIXTURES / agent).iterdir()):
            home = case / "home"
            if home.is_dir() and any(p.suffix in (".jsonl", ".json") for p in home.rglob("*") if p.is_file()):
                homes.append(home)
    return homes


HOMES = fixture_homes()

# Parsers that landed while this test was written, and the damage it found in them: strict, so a
# fix turns the mark into a failure to be removed. Each is one parser's own reading to make per record.
_CLINE = (
    "a timestamp out of range in ui_messages.json raises ValueError out of parse_file: the whole task"
    " is lost, not one message"
)
KNOWN_DAMAGE = {
    "amp/rewritten": "a value of another type raises TypeError (unhashable list) out of parse_file",
    "cline/deleted-api-reqs": _CLINE,
    "cline/flavours": _CLINE,
    "cline/rewritten": _CLINE,
    "kilo-code/extension-and-cli": _CLINE,
    "roo-code/cache-semantics": _CLINE,
    "roo-code/subtask-and-limit": _CLINE,
    "iflow-cli/print-mode": "a value of another type in one line loses another line's request",
}


def _case(home: Path) -> str:
    return f"{home.parent.parent.name}/{home.parent.name}"


CASES = [
    pytest.param(h, id=_case(h), marks=pytest.mark.xfail(strict=True, reason=KNOWN_DAMAGE[_case(h)]))
    if _case(h) in KNOWN_DAMAGE
    else pytest.param(h, id=_case(h))
    for h in HOMES
]


@dataclass
class Parsed:
    requests: dict = field(default_factory=dict)  # key -> token columns of the best copy
    prompts: set = field(default_factory=set)
    origin: dict = field(default_factory=dict)  # (relative path, line index or None) -> keys it gave
    usage_lines: dict = field(default_factory=dict)  # relative path -> line indexes that gave a request


def analyse(home: Path) -> Parsed:
    """Every record of a home, through the parsers and the writer as an ingest would (no store)."""
    parsers = list(get_parsers().values())
    found = discover(parsers, {"HOME": str(home)}).found
    writer = RecordWriter(None, source_id=1, machine="m", keep_text=False)
    out = Parsed()
    for item in sorted(found, key=lambda f: str(f.path)):
        rel = str(item.path.relative_to(home))
        ctx = SourceContext(path=item.path, root=item.root)
        if getattr(item.parser, "mode", "lines") == "file":
            args = (item.path, ctx, {}) if keeps_state(item.parser) else (item.path, ctx)
            pairs = [(None, r) for r in item.parser.parse_file(*args)]  # raises: the test fails
        else:
            data = item.path.read_bytes()
            end = data.rfind(b"\n")
            lines = split_lines(data, end, 0) if end != -1 else []
            index = {offset: i for i, (offset, _) in enumerate(lines)}
            current = {"i": None}

            def tracked(lines=lines, index=index, current=current):
                for offset, raw in lines:
                    current["i"] = index[offset]
                    yield offset, raw

            pairs = []
            for record in item.parser.parse(tracked(), {}, ctx):  # raises: the test fails
                pairs.append((current["i"], record))
        for i, record in pairs:
            writer.add(record, 0)  # raises: the test fails
            assert not (isinstance(record, BadLine) and record.kind == "parser_error"), record
            key = getattr(record, "key", None)
            if isinstance(record, (Request, Prompt)):
                out.origin.setdefault((rel, i), set()).add(key)
            if isinstance(record, Request) and i is not None:
                out.usage_lines.setdefault(rel, set()).add(i)
    for row in writer.requests.values():
        out.requests[row[0]] = (row[7], row[8], row[9], row[12], row[13])  # the token columns
    out.prompts = {row[0] for row in writer.prompts}
    return out


@cache
def original(home: Path) -> Parsed:
    return analyse(home)


@cache
def units(home: Path) -> list[tuple[str, int | None]]:
    """What may be mutated: (file, line index) of JSONL logs, (file, None) for whole JSON documents."""
    parsers = list(get_parsers().values())
    out = []
    for item in discover(parsers, {"HOME": str(home)}).found:
        rel = str(item.path.relative_to(home))
        if item.path.suffix not in (".jsonl", ".json"):
            continue
        if getattr(item.parser, "mode", "lines") == "file":
            out.append((rel, None))
        else:
            count = item.path.read_bytes().count(b"\n")
            out.extend((rel, i) for i in range(count))
    return sorted(out, key=lambda u: (u[0], -1 if u[1] is None else u[1]))


# --- mutations -------------------------------------------------------------------------------------

KINDS = ("truncate", "splice", "type_swap", "huge", "negative", "deep")
HUGE = (1e30, 2.0e19, 2**70, 1e308, 10**12, 1.5)
OTHER_TYPES = ("text", None, True, [], {}, [1, 2], {"x": 1}, 3.5, -1)


def leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))
    else:
        yield path, value


def replace_at(value, path, new):
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: replace_at(value[head], tuple(rest), new)}
    copy = list(value)
    copy[head] = replace_at(copy[head], tuple(rest), new)
    return copy


DEEP = "__deeply_nested__"


def mutate(raw: bytes, kind: str, data: st.DataObject, other: bytes) -> bytes:
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)), label="cut")]
    if kind == "splice":
        a = data.draw(st.integers(0, len(raw)), label="at")
        b = data.draw(st.integers(0, len(other)), label="from")
        return raw[:a] + other[b:]
    try:
        obj = json.loads(raw)
    except ValueError:
        return raw[: len(raw) // 2]
    found = list(leaves(obj))
    if kind == "huge" or kind == "negative":
        numbers = [(p, v) for p, v in found if isinstance(v, (int, float)) and not isinstance(v, bool)]
        found = numbers or found
    if not found:
        return raw
    path, value = found[data.draw(st.integers(0, len(found) - 1), label="leaf")]
    if kind == "type_swap":
        new = data.draw(st.sampled_from(OTHER_TYPES), label="type")
    elif kind == "huge":
        new = data.draw(st.sampled_from(HUGE), label="huge")
    elif kind == "negative":
        new = -abs(value) - 1 if isinstance(value, (int, float)) and not isinstance(value, bool) else -5
    else:
        new = DEEP
    text = json.dumps(replace_at(obj, path, new), separators=(",", ":")) if path else json.dumps(new)
    if new == DEEP:  # written as text: json.dumps itself cannot nest this deep
        depth = data.draw(st.sampled_from((300, 2000, 100_000)), label="depth")
        text = text.replace(f'"{DEEP}"', "[" * depth + "1" + "]" * depth)
    return text.encode()


def apply(home: Path, unit: tuple[str, int | None], kind: str | None, data: st.DataObject | None) -> None:
    """Mutate ``unit`` in place; ``kind=None`` removes it (a blank line, or no file)."""
    rel, index = unit
    path = home / rel
    content = path.read_bytes()
    if index is None:
        if kind is None:
            path.unlink()
        else:
            path.write_bytes(mutate(content, kind, data, content))
        return
    lines = content.split(b"\n")
    if kind is None:
        lines[index] = b""
    else:
        other = lines[data.draw(st.integers(0, len(lines) - 1), label="other line")]
        lines[index] = mutate(lines[index], kind, data, other).replace(b"\n", b" ")
    path.write_bytes(b"\n".join(lines))


def analyse_changed(home: Path, unit: tuple[str, int | None], kind: str | None, data) -> Parsed:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "home"
        shutil.copytree(home, copy, symlinks=True)
        apply(copy, unit, kind, data)
        return analyse(copy)


@cache
def without(home: Path, unit: tuple[str, int | None]) -> Parsed:
    return analyse_changed(home, unit, None, None)


# --- the property ----------------------------------------------------------------------------------


@pytest.mark.parametrize("home", CASES)
@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_damaged_unit_costs_no_more_than_a_missing_one(home, data):
    before = original(home)
    unit = data.draw(st.sampled_from(units(home)), label="unit")
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    missing = without(home, unit)
    after = analyse_changed(home, unit, kind, data)  # raises if a parser or the writer does
    own = set().union(
        *(keys for (rel, i), keys in after.origin.items() if (rel, i) == unit or rel == unit[0] and unit[1] is None)
    )
    for key, tokens in before.requests.items():
        if missing.requests.get(key) != tokens or key in own:
            continue  # depends on the unit by design, or the damaged unit gives it now
        assert key in after.requests, f"request {key} of an untouched line was lost"
        assert after.requests[key] == tokens, f"request {key} of an untouched line changed"
    for key in before.prompts & missing.prompts:
        assert key in after.prompts, f"prompt {key} of an untouched line was lost"
