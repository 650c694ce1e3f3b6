"""What the two Kimi parsers share: the agent name, a base class (roots and
side-file refresh), content helpers, and the small files the agents keep next
to their logs.

Both the legacy kimi-cli (``~/.kimi``) and the newer Kimi Code CLI
(``~/.kimi-code``) write the session logs as one ``wire.jsonl`` per agent, but
leave out what a report needs: the model name (the logs hold at most a
config alias) and the project folder (the session folders are named by a
hash). Those live in side files: ``config.toml`` (``default_model`` and
``[models."<alias>"].model``), ``kimi.json`` (work folders), ``state.json``,
``session_index.jsonl`` and ``workspaces.json``. ``SideFiles`` reads each one
once per change of its size or modification time, and never raises: a missing
or broken side file means "unknown", never a lost log line.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from analyzer.parsers._hosts import host_of

from analyzer.api import JsonlParser, Line, Record, SourceContext, env_paths, home_from, token_count

AGENT = "kimi-code"
FALLBACK_MODEL = "kimi-for-coding"
ENV_MODEL_ALIAS = "__kimi_env_model__"  # the alias Kimi Code uses when KIMI_MODEL_NAME is set


def tokens(value: Any, name: str = "token count") -> int:
    """A token count from a log field (absent: 0); one that cannot be a count raises ``BadValue``."""
    return token_count(value, name)


def as_int(value: Any) -> int:
    """A number from a log field (a status code, an attempt); anything that is not a number counts 0."""
    if isinstance(value, bool):
        return 0
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def parts_text(value: Any) -> str:
    """The text of a prompt: a string, or the text of a list of content parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return "\n".join(texts)
    return ""


def digest(text: str) -> str:
    """A short, stable fingerprint of a prompt's text, for keys."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def model_for(config: Any, alias: Any) -> str | None:
    """The provider model name behind a config alias (``kimi-code/kimi-for-coding``
    -> the ``model`` of its ``[models."<alias>"]`` table), else the alias
    without its ``kimi-code/`` platform prefix."""
    if not isinstance(alias, str) or not alias or alias == ENV_MODEL_ALIAS:
        return None
    models = config.get("models") if isinstance(config, dict) else None
    entry = models.get(alias) if isinstance(models, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("model"), str) and entry["model"]:
        return entry["model"]
    return alias.removeprefix("kimi-code/")


def provider_for(config: Any, alias: Any) -> str | None:
    """Where a config alias sends its requests: the host of its provider's ``base_url``
    (``[models."<alias>"].provider`` -> ``[providers."<name>"].base_url``), else the
    provider's name; an alias of the managed platform (``kimi-code/...``) with no
    config entry is ``managed:kimi-code``. Keys in the provider table are never read."""
    if not isinstance(alias, str) or not alias or alias == ENV_MODEL_ALIAS:
        return None
    models = config.get("models") if isinstance(config, dict) else None
    entry = models.get(alias) if isinstance(models, dict) else None
    name = entry.get("provider") if isinstance(entry, dict) else None
    if isinstance(name, str) and name:
        providers = config.get("providers") if isinstance(config, dict) else None
        provider = providers.get(name) if isinstance(providers, dict) else None
        host = host_of(provider.get("base_url")) if isinstance(provider, dict) else None
        return host or name
    return "managed:kimi-code" if alias.startswith("kimi-code/") else None


class SideFiles:
    """JSON, JSONL and TOML side files, parsed once per change and cached.

    A file is looked at (``stat``) at most once between two ``refresh()``
    calls, and so are the values derived from it; the parsers refresh once per
    chunk of lines, not once per line.
    """

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int] | None, Any]] = {}
        self._checked: set[Path] = set()
        self._derived: dict[Hashable, Any] = {}

    def refresh(self) -> None:
        """Look at every file again on its next use."""
        self._checked.clear()
        self._derived.clear()

    def derived(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A value computed from side files (a project, a model), kept until the next ``refresh()``."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def load(self, path: Path | None) -> Any:
        """The parsed file (``.toml``, ``.jsonl`` as a list, else JSON), or None."""
        if path is None:
            return None
        cached = self._cache.get(path)
        if cached is not None and path in self._checked:
            return cached[1]
        self._checked.add(path)
        try:
            st = path.stat()
        except OSError:
            self._cache[path] = (None, None)
            return None
        signature = (st.st_mtime_ns, st.st_size)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            data = _parse(path, path.read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            data = None
        self._cache[path] = (signature, data)
        return data


class KimiParser(JsonlParser):
    """What both Kimi parsers do alike: roots from a variable or a home folder,
    side files looked at again once per chunk."""

    agent = AGENT
    home_variable = ""  # e.g. KIMI_SHARE_DIR

    @property
    def env_vars(self) -> tuple[str, ...]:
        return (self.home_variable,) if self.home_variable else ()

    home_folder = ""  # e.g. .kimi

    def __init__(self) -> None:
        self.side = SideFiles()

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        homes = env_paths(env, self.home_variable) or [home_from(env) / self.home_folder]
        return [home / "sessions" for home in homes]

    def parse(self, lines: Iterable[Line], state: dict, ctx: SourceContext) -> Iterator[Record]:
        self.side.refresh()
        yield from super().parse(lines, state, ctx)


def _parse(path: Path, raw: bytes) -> Any:
    if path.suffix == ".toml":
        return tomllib.loads(raw.decode("utf-8"))
    if path.suffix == ".jsonl":
        rows = []
        for line in raw.splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a torn or corrupt index line: the others still count
        return rows
    return orjson.loads(raw)
