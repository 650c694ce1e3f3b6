"""Integrations with other programs: Datasette, Claude Code, vendor quota endpoints."""
