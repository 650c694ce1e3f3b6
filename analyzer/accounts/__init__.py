"""Accounts: which subscription (or wallet) paid for each request, limit hit and reading.

``analyzer.contract.vendors`` is the data (hosts, provider names, model
families, catalogue plans; in the contract because a refusal's reader needs
it too), ``rules`` reads the user's ``accounts.toml``, and ``attribute`` is
the pure decision, most specific first: a rule of the user's, the provider the
agent recorded, the model's family, the quota reading's own identity.
"""

from .attribute import Attribution, QuotaIdentity, attribute
from .rules import Account, AccountsFileError, Rule, Rules, load_rules, parse_rules

__all__ = [
    "Account",
    "AccountsFileError",
    "Attribution",
    "QuotaIdentity",
    "Rule",
    "Rules",
    "attribute",
    "load_rules",
    "parse_rules",
]
