"""Readers of the vendors' quota endpoints, one module per vendor, each a plugin."""
