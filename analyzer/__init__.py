"""Coding-plan analyser: agent session logs in, what your plan really counts out.

The package is grouped into rooms the data passes through, each a subpackage.
Lowest first; rooms on one bullet are one layer:

* ``contract``: what every room shares: the records parsers yield, the parser
  protocol, the hook specifications, time helpers; ``api`` is the one place
  plugins import it from; ``sample`` is the bundled sample logs (data).
* ``registry``: the plugin manager (built-in plugins and entry points).
* ``parsers`` (the repository's ``parsers/``: one parser plugin per agent) and
  ``store`` (the SQLite store: schema, views, how records are written).
* ``pricing``: prices of models and the stored cost of every request, and
  ``accounts``: which account (subscription or wallet) paid for each request,
  from the user's ``accounts.toml``, the provider and the model.
* ``ingest`` (log files in, rows out), ``sync`` (other machines' rows in,
  through a synced folder), and what the store says: ``reports`` (per day,
  session, prompt; the usage profile), ``windows`` (plan windows and where each
  stands now), ``plans`` (the catalogue, and every plan replayed).
* ``inference``: what a plan really counts and how much fits (``infer-limit``).
* ``simulate`` (made-up agent logs of a known plan, to test inference) and
  ``daemon`` (``analyzer watch`` and its login service).
* ``commands`` (the command line) and ``plugins`` (the repository's ``plugins/``:
  Datasette, Claude Code, vendors' quota endpoints).
* ``cli`` and ``__main__``: the ``analyzer`` command group and its entry point.

A module imports only from its own room, its layer and the layers above it
(``tests/test_layering.py`` checks it, and that nothing imports in a cycle).
"""

__version__ = "0.1.0"
