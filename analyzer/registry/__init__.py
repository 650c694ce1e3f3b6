"""The plugin manager: which plugins there are, and what they registered.

* ``builtins``: the built-in plugins (parsers are found in ``analyzer.parsers``,
  the rest are one table), each with the hooks it implements;
* ``entry_points``: third-party plugins, from installed distributions'
  ``analyzer`` entry points;
* ``manager``: the pluggy manager; loads plugins per hook, calls ``register_*``
  hooks, keeps the plugins that failed (a broken plugin never stops the tool);
* ``parsers``: the registered parsers by name, and the agent names they read.
"""
