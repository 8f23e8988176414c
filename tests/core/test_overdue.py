"""Late reviews (core/overdue.py): a raised video not reviewed within its level's target is
audited and sent to subscribers as ``video.overdue`` once per raise, and nothing else is."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from core import overdue, webhooks
from core import review as review_rules
from core.config import Settings
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import review as review_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, ReviewPriority, VideoStatus, WebhookEvent, utcnow

SECRET = "a-shared-secret-of-some-length"


@pytest.fixture(autouse=True)
def subscriber(database: Database) -> None:
    """A platform subscribed to every event: each report is an event too (``_reported``)."""
    webhooks.add_subscriber(database, url="https://platform.example/hooks", secret=SECRET)


def _raised(
    db: Database,
    *,
    title: str,
    priority: ReviewPriority,
    at: datetime,
    status: str = VideoStatus.PREDICTED,
) -> int:
    with db.session() as session:
        video_id = videos_q.create_video(session, title=title, status=status).id
        review_rules.set_priority(
            session,
            video_id=video_id,
            user=None,
            priority=priority,
            reason=f"{title} report",
            now=at,
        )
    return video_id


def _reported(db: Database) -> dict[int, list[dict]]:
    """Per video, the lateness its audit entries and its events say, oldest first."""
    with db.session() as session:
        audits = audit_q.list_audit(session, action=AuditAction.REVIEW_OVERDUE, limit=1000)
        events = [
            d for d in webhooks_q.list_deliveries(session) if d.event == WebhookEvent.VIDEO_OVERDUE
        ]
    said: dict[int, list[dict]] = {}
    for entry in reversed(audits):
        said.setdefault(entry.video_id, []).append(json.loads(entry.detail_json))
    assert sorted(json.loads(d.payload_json)["video"]["overdue"]["due"] for d in events) == sorted(
        detail["due"] for details in said.values() for detail in details
    )
    return said


def test_a_raised_video_past_its_target_is_reported_once(database: Database):
    """Targets 30 min (urgent) and 240 min (high), their bounds included; reviewed, failed and
    normal videos never."""
    now = utcnow()

    def ago(minutes: int) -> datetime:
        return now - timedelta(minutes=minutes)

    late_urgent = _raised(database, title="a", priority=ReviewPriority.URGENT, at=ago(31))
    on_the_bound = _raised(database, title="b", priority=ReviewPriority.URGENT, at=ago(30))
    soon_urgent = _raised(database, title="c", priority=ReviewPriority.URGENT, at=ago(29))
    late_high = _raised(database, title="d", priority=ReviewPriority.HIGH, at=ago(241))
    soon_high = _raised(database, title="e", priority=ReviewPriority.HIGH, at=ago(200))
    _raised(
        database, title="f", priority=ReviewPriority.URGENT, at=ago(90), status=VideoStatus.REVIEWED
    )
    _raised(
        database, title="g", priority=ReviewPriority.URGENT, at=ago(90), status=VideoStatus.FAILED
    )
    with database.session() as session:
        videos_q.create_video(session, title="h", status=VideoStatus.PREDICTED)

    assert overdue.report_overdue(database, now=now) == 3
    said = _reported(database)
    assert set(said) == {late_urgent, on_the_bound, late_high}
    assert said[late_urgent] == [
        {
            "priority": "urgent",
            "reason": "a report",
            "raised_at": ago(31).isoformat(),
            "due": ago(1).isoformat(),
        }
    ]
    assert said[late_high][0]["due"] == ago(1).isoformat()
    with database.session() as session:
        [event] = [
            json.loads(d.payload_json)
            for d in webhooks_q.list_deliveries(session)
            if d.video_id == late_urgent
        ]
    assert event["event"] == "video.overdue"
    assert event["video"]["priority"] == "urgent" and event["video"]["status"] == "predicted"

    # an hour later the two then on time are late, and only they are reported
    assert overdue.report_overdue(database, now=now + timedelta(hours=1)) == 2
    later = _reported(database)
    assert set(later) == {*said, soon_urgent, soon_high}
    assert {video_id: later[video_id] for video_id in said} == said


def test_a_video_raised_again_is_reported_again_when_that_target_passes(database: Database):
    now = utcnow()
    video_id = _raised(
        database, title="a", priority=ReviewPriority.HIGH, at=now - timedelta(minutes=250)
    )
    assert overdue.report_overdue(database, now=now) == 1
    with database.session() as session:  # same level, new reason: keeps its time, not again
        review_rules.set_priority(
            session, video_id=video_id, user=None, priority=ReviewPriority.HIGH, reason="more"
        )
    assert overdue.report_overdue(database, now=now + timedelta(minutes=1)) == 0
    with database.session() as session:
        review_rules.set_priority(
            session,
            video_id=video_id,
            user=None,
            priority=ReviewPriority.URGENT,
            now=now + timedelta(minutes=2),
        )
    assert overdue.report_overdue(database, now=now + timedelta(minutes=31)) == 0
    assert overdue.report_overdue(database, now=now + timedelta(minutes=33)) == 1
    assert [d["priority"] for d in _reported(database)[video_id]] == ["high", "urgent"]


def test_the_targets_are_the_admin_s(database: Database):
    now = utcnow()
    _raised(database, title="a", priority=ReviewPriority.URGENT, at=now - timedelta(minutes=6))
    _raised(database, title="b", priority=ReviewPriority.HIGH, at=now - timedelta(minutes=6))
    assert overdue.report_overdue(database, now=now) == 0
    with database.session() as session:
        review_rules.set_review_targets(session, urgent_minutes=5, high_minutes=10, user=None)
    assert overdue.report_overdue(database, now=now) == 1


def test_reports_go_in_units_of_work_of_a_batch(database: Database, monkeypatch):
    monkeypatch.setattr(overdue, "BATCH", 2)
    now = utcnow()
    for n in range(5):
        _raised(
            database, title=f"v{n}", priority=ReviewPriority.URGENT, at=now - timedelta(hours=1)
        )
    assert overdue.report_overdue(database, now=now) == 5
    with database.session() as session:
        assert (
            review_q.overdue_videos(
                session, targets={ReviewPriority.URGENT: 0.0}, now=now, limit=10
            )
            == []
        )


def test_the_server_thread_reports_at_each_check(database: Database, settings: Settings):
    video_id = _raised(
        database, title="a", priority=ReviewPriority.URGENT, at=utcnow() - timedelta(hours=1)
    )
    watcher = overdue.OverdueWatcher(database, settings=settings)
    assert watcher.interval_s() == overdue.CHECK_EVERY_S
    watcher.check()
    assert set(_reported(database)) == {video_id}
