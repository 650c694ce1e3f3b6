"""Codex rollouts compressed with zstd: ``rollout-*.jsonl.zst``.

Codex can compress rollouts once they are a week old (a feature off by
default). They are never appended to, so they are read whole, with the
``zstandard`` package, by the same line parser as plain rollouts: the keys
are the same, so a compressed copy beside its plain file counts once. An
installation that lacks the package (it is a dependency) skips them with one
warning and does not mark them read, so installing it later picks them up. A truncated file is read as far as it
goes and reported as damaged, never taken for a shorter one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from analyzer.parsers.codex.rollout import AGENT, CodexParser, codex_roots

from analyzer.api import BadLine, Record, SourceContext


class CodexArchiveParser:
    """``rollout-*.jsonl.zst``, read whole by the plain rollouts' line parser."""

    name = "codex-zst"
    agent = AGENT
    env_vars = ("CODEX_HOME",)
    mode = "file"

    def __init__(self, lines: CodexParser | None = None):
        self.lines = lines or CodexParser()

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return codex_roots(env)

    def candidate(self, path: Path) -> bool:
        if not path.name.endswith(".jsonl.zst"):
            return False
        if _zstandard() is None:
            _warn_missing_zstandard()
            return False
        return True

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.startswith(b"\x28\xb5\x2f\xfd")  # the zstd frame magic

    def parse_file(self, path: Path, ctx: SourceContext) -> Iterator[Record]:
        zstandard = _zstandard()
        if zstandard is None:
            yield BadLine(0, "unrecognised_file", MISSING_ZSTANDARD)
            return
        state: dict = {}
        try:
            for offset, line in _zstd_lines(zstandard, path):
                yield from self.lines.parse([(offset, line)], state, ctx)
        except _Damaged as exc:
            yield BadLine(exc.offset, "corrupt", f"the compressed file is damaged: {exc}")


class _Damaged(Exception):
    def __init__(self, offset: int, reason: str):
        super().__init__(reason)
        self.offset = offset


def _zstd_lines(zstandard, path: Path, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """The lines of a zstd file, with their offsets in the decompressed text.

    A truncated file must not pass for a shorter one: its last frame has to end.
    """
    position = 0
    pending = b""
    ended = False
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            while block:
                try:
                    pending += decompressor.decompress(block)
                except zstandard.ZstdError as exc:
                    raise _Damaged(position, str(exc)) from exc
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield position, line.rstrip(b"\r")
                    position += len(line) + 1
                ended = decompressor.eof
                block = decompressor.unused_data if ended else b""
                if ended:
                    decompressor = zstandard.ZstdDecompressor().decompressobj()
    if not ended:
        raise _Damaged(position, "it ends in the middle of a frame")
    if pending.strip():
        yield position, pending.rstrip(b"\r")


MISSING_ZSTANDARD = (
    "Codex .jsonl.zst rollouts were skipped: reading them needs the 'zstandard' package, which this "
    "installation lacks (pip install zstandard, or reinstall coding-plan-analyzer); they will be read on "
    "the next ingest once it is installed"
)
_warned = False


def _zstandard():
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def _warn_missing_zstandard() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(MISSING_ZSTANDARD, stacklevel=2)
