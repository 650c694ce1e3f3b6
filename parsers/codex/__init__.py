"""Codex CLI: rollouts (``rollout``), their compressed and archived copies (``archive``),
rate limits and refusals (``limits``), and where a fork's replay of its parent ends (``replay``)."""

from analyzer.parsers.codex.archive import CodexArchiveParser
from analyzer.parsers.codex.rollout import AGENT, CodexParser, codex_roots

from analyzer.api import hookimpl

__all__ = ["AGENT", "CodexArchiveParser", "CodexParser", "codex_roots"]


@hookimpl
def register_parsers(register):
    "Codex rollouts, plain and compressed."
    parser = CodexParser()
    register(parser)
    register(CodexArchiveParser(parser))
