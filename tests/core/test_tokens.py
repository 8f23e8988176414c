"""A token's last use is recorded at its first use and then at most every USE_RECORDED_EVERY
(DuckDB and PostgreSQL): checking it again within that time writes nothing."""

from __future__ import annotations

from datetime import timedelta

from core import tokens
from db.queries import tokens as tokens_q
from db.queries import users as users_q
from db.tables import ApiToken


def _last_used(database, token_id: int):
    with database.session() as session:
        return session.get(ApiToken, token_id).last_used_at


def test_last_use_is_recorded_at_most_every_few_minutes(database) -> None:
    with database.session() as session:
        users_q.create_user(session, username="ops", password_hash="x", role="moderator")
    issued = tokens.create_token(database, name="prometheus", username="ops", scope="read")
    first = tokens.resolve_token(database, issued.secret, cache_s=0)
    recorded = _last_used(database, first.token_id)
    assert recorded is not None
    files = database.file_state()
    for _ in range(3):  # a scraper's next checks: read, not written
        assert tokens.resolve_token(database, issued.secret, cache_s=0) == first
    assert database.file_state() == files  # None == None on PostgreSQL
    assert _last_used(database, first.token_id) == recorded
    with database.session() as session:
        tokens_q.touch_token(
            session, token_id=first.token_id, at=recorded - tokens.USE_RECORDED_EVERY
        )
    tokens.resolve_token(database, issued.secret, cache_s=0)
    assert _last_used(database, first.token_id) - recorded < timedelta(minutes=1)
    assert _last_used(database, first.token_id) >= recorded
