"""The base class of expected failures, and the few generic ones that have no better home.

Every error type a user can cause (bad input, a missing file, a busy database, an unknown tag,
a missing model, a permission) derives from :class:`TaggerError`. Entry points (the CLI, the
background jobs, the dashboard's actions) catch it once and show its message as is, in one line;
anything else is a bug and keeps its traceback. This module imports nothing, so every layer
(db/ included) can use it.
"""

from __future__ import annotations


class TaggerError(Exception):
    """An expected, user-facing failure; its message is shown as is, without a traceback."""


class ConfigurationError(TaggerError, ValueError):
    """A setting names something that cannot be used (an unknown backend, a missing checkpoint)."""


class MissingFileError(TaggerError, FileNotFoundError):
    """A file or folder the user named (or configured) does not exist."""
