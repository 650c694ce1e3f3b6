"""Accounts: which subscription (or wallet) paid for each request, limit hit and reading.

``analyzer.contract.vendors`` is the data (hosts, provider names, model
families, catalogue plans; in the contract because a refusal's reader needs
it too), ``rules`` reads the user's ``accounts.toml``, and ``decide`` (``attribute``) is
the pure decision, most specific first: a rule of the user's, the provider the
agent recorded, the model's family, the quota reading's own identity.
``book`` applies it to the rows of a store (the writer attributes each request
as it writes it), ``store`` keeps stored rows' accounts current (new rows,
rows merged from another machine, every row when ``accounts.toml`` changed),
and ``listing`` is what ``analyzer accounts`` shows.

The names below are imported on first use: a report's start-up only pays for
``store``'s cheap check that nothing changed.
"""

from __future__ import annotations

import importlib

# Raised when the vendors table or the decision changes: every stored row is then attributed again.
ATTRIBUTION_VERSION = "1"

_EXPORTS = {
    "Account": "rules",
    "AccountsFileError": "rules",
    "Rule": "rules",
    "Rules": "rules",
    "load_rules": "rules",
    "parse_rules": "rules",
    "Attribution": "decide",
    "QuotaIdentity": "decide",
    "attribute": "decide",
}

__all__ = ["ATTRIBUTION_VERSION", *sorted(_EXPORTS)]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
