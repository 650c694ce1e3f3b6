"""Built-in log parsers, one module per agent; each registers like a third-party plugin."""
