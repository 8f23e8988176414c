"""Why the audit feed holds PostgreSQL's newest entries back: an entry whose transaction commits
after a later id's would be skipped by a cursor that moved past it; read after the delay, both
come, in id order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from core import audit_feed
from core.config import Settings
from db.queries import audit as audit_q
from db.tables import AuditLog, utcnow


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_an_entry_committed_late_is_not_skipped(database, settings: Settings):
    def ids(page: audit_feed.FeedPage) -> list[int]:
        return [entry.id for entry in page.entries]

    with database.engine.connect() as late:  # takes its id first, commits last
        late.execute(insert(AuditLog).values(action="login_failed", username="late"))
        with database.session() as session:
            early = audit_q.add_audit(session, action="login_failed", username="early").id
        settings.audit_feed_delay_s = 0
        undelayed = audit_feed.read_page(database, settings=settings)
        assert [e.account for e in undelayed.entries] == ["early"]  # a cursor would pass "late"
        settings.audit_feed_delay_s = 30
        assert ids(audit_feed.read_page(database, settings=settings)) == []
        late.commit()
    later = audit_feed.read_page(database, settings=settings, now=utcnow() + timedelta(seconds=31))
    assert [e.account for e in later.entries] == ["late", "early"]
    assert ids(later) == sorted(ids(later)) and later.next_after == early
    missed = audit_feed.read_page(
        database, settings=settings, after=undelayed.next_after, now=utcnow() + timedelta(hours=1)
    )
    assert missed.entries == []  # what the undelayed cursor reads next: "late" lost for good
