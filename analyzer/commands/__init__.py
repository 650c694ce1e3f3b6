"""Built-in command plugins: each module implements ``register_commands``."""
