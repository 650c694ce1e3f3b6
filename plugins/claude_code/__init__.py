"""Claude Code integration: the status line, the hooks that trigger an ingest, the plugin files.

This package is also a Claude Code plugin folder (``.claude-plugin/plugin.json``,
``hooks/hooks.json``, ``commands/``). Its ``__init__`` imports nothing, so the
status line's fast path stays fast.
"""
