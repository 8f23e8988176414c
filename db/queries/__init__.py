"""Query functions: keyword-only, each taking an open ``Session`` (one unit of work).

Modules: ``taxonomy``, ``videos`` (with transcripts, keyframes), ``labels`` (imported and human
labels), ``audit``, ``embeddings``, ``model_versions`` (model versions, predictions), ``users``
(users, sign-in sessions, login attempts), ``jobs``, ``backup`` (whole tables out and in). The
dashboard adds ``review`` (queue, claims), ``analytics``, ``quality`` (overlap answers) and
``lead_review``. The rules that decide what to read and write, and who may, live in ``core``
(``core.review``, ``core.quality``, ``core.lead_review``); db/ imports nothing from core but its
settings and errors. Callers never build SQL themselves and catch the errors defined here.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from db.engine import DatabaseError


class NotFoundError(DatabaseError):
    """A row named by id does not exist."""


class DuplicateError(DatabaseError):
    """A row with that unique key already exists."""


class StaleVersionError(DatabaseError):
    """The video changed since the caller read it (someone else saved first); nothing was
    written."""


class UnknownNodeError(DatabaseError):
    """Tag ids that are not in the stored taxonomy."""


class TaxonomyInUseError(DatabaseError):
    """Replacing the taxonomy would orphan labels that use removed tags."""


class Actor(Protocol):
    """Who performs an action: a ``User`` row or ``core.auth.CurrentUser`` both fit."""

    @property
    def id(self) -> int | None: ...

    @property
    def username(self) -> str: ...


def dump_json(value: Any) -> str:
    """Portable JSON text for the ``*_json`` columns."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


__all__ = [
    "Actor",
    "DatabaseError",
    "DuplicateError",
    "NotFoundError",
    "StaleVersionError",
    "TaxonomyInUseError",
    "UnknownNodeError",
    "dump_json",
]
