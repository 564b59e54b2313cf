"""Sahara wire formats and state machines, sans-I/O (bytes in, events and bytes out).

Imports only the standard library and construct; see protocols/ruff.toml.
"""
