"""Reliability fixtures: a fresh database with a small taxonomy and accounts, the hostile media
corpus (:mod:`tests.support.hostile_media`). What the suite tried is counted in the ``tally``
fixture (:mod:`tests.support.tally`) and printed once for the whole run, xdist workers included:
``pytest tests/reliability -m "slow or not slow"`` shows the figures of the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
import torch

from core import auth
from core.config import Settings
from core.taxonomy import Taxonomy, from_paths, save_to_db
from db.engine import Database
from tests.support import hostile_media
from tests.support.templates import DuckdbTemplates, duckdb_path

PASSWORD = "correct horse battery staple"
LEAVES = (("Sports", "Soccer"), ("Sports", "Tennis"), ("Music", "Rock"), ("Music", "Jazz"))


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The machine is shared: one intra-op thread keeps training and encoding predictable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def db(settings: Settings, duckdb_templates: DuckdbTemplates) -> Iterator[Database]:
    duckdb_templates.copy_to(duckdb_path(settings.resolved_database_url))
    database = Database(settings.resolved_database_url, lock_timeout_s=settings.db_lock_timeout_s)
    yield database
    database.dispose()


@pytest.fixture
def taxonomy(db: Database) -> Taxonomy:
    tree = from_paths([[p[0]] for p in LEAVES] + [list(p) for p in LEAVES])
    with db.session() as session:
        save_to_db(session, tree)
    return tree


@pytest.fixture
def accounts(db: Database) -> dict[str, auth.CurrentUser]:
    """``mod`` and ``mod2`` (moderators) and ``boss`` (admin), all with PASSWORD."""
    return {
        name: auth.create_user(db, username=name, password=PASSWORD, role=role)
        for name, role in (("mod", "moderator"), ("mod2", "moderator"), ("boss", "admin"))
    }


@pytest.fixture(scope="session")
def hostile() -> ModuleType:
    """:mod:`tests.support.hostile_media`, the hostile media corpus."""
    return hostile_media
