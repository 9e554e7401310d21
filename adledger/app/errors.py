"""Errors the command line prints as one line, without a traceback."""

from __future__ import annotations


class ConfigError(RuntimeError):
    """A setting is missing or points nowhere, or a command cannot do what was asked."""
