"""Webhooks: events queued with their cause, signed POSTs to a loopback receiver, retries with
backoff, giving up, and the background sender (DuckDB and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from core import review as review_rules
from core import webhooks
from core.config import Settings
from db.engine import Database
from db.queries import DuplicateError
from db.queries import model_versions as models_q
from db.queries import retrain_policy as retrain_policy_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import (
    AuditAction,
    DeliveryStatus,
    ModelStatus,
    ReviewPriority,
    WebhookEvent,
    utcnow,
)
from tests.support.webhooks import Receiver

SECRET = "a-shared-secret-of-some-length"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver([500])  # the first delivery fails once
    yield server
    server.close()


@pytest.fixture
def fast(settings: Settings) -> Settings:
    settings.webhook_backoff_s = 0.2
    settings.webhook_max_attempts = 3
    settings.webhook_timeout_s = 2.0
    settings.webhook_poll_s = 0.05
    return settings


class Moderator:
    id = None
    username = "ext"


def _reviewed_video(db: Database) -> int:
    with db.session() as session:
        video_id = videos_q.create_video(session, title="derby", external_id="p-9").id
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[], user=Moderator()
        )
    return video_id


def test_signed_delivery_is_retried_after_a_failure(database, fast, receiver):
    sub = webhooks.add_subscriber(database, url=receiver.url, secret=SECRET)
    video_id = _reviewed_video(database)  # the review save queues video.reviewed
    with httpx.Client() as client:
        before = utcnow()
        assert webhooks.deliver_due(database, settings=fast, client=client) == 1
        after = utcnow()
        with database.session() as session:
            [pending] = webhooks_q.list_deliveries(session, subscriber_id=sub.id)
        assert pending.status == DeliveryStatus.PENDING and pending.last_error == "HTTP 500"
        backoff = timedelta(seconds=fast.webhook_backoff_s)  # first retry: the base delay
        assert before + backoff <= pending.next_attempt_at <= after + backoff
        time.sleep(max(0.0, (pending.next_attempt_at - utcnow()).total_seconds()) + 0.05)
        assert webhooks.deliver_due(database, settings=fast, client=client) == 1
    with database.session() as session:
        [done] = webhooks_q.list_deliveries(session, subscriber_id=sub.id)
    assert done.status == DeliveryStatus.DELIVERED and done.attempts == 2
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        assert headers["X-Tagger-Event"] == "video.reviewed"
        assert headers["X-Tagger-Delivery"] == str(done.id)
        assert webhooks.verify(
            SECRET, headers["X-Tagger-Timestamp"], body, headers["X-Tagger-Signature"]
        )
        assert not webhooks.verify(
            "wrong", headers["X-Tagger-Timestamp"], body, headers["X-Tagger-Signature"]
        )
        payload = json.loads(body)
        assert payload["event"] == "video.reviewed"
        assert payload["video"]["id"] == video_id and payload["video"]["external_id"] == "p-9"
        assert payload["video"]["status"] == "reviewed"
        assert payload["video"]["priority"] == "normal"


def test_a_video_event_says_how_soon_the_video_is_reviewed(database):
    """An urgent ``video.predicted`` (a priority rule matched) lets the platform act before a
    moderator has looked."""
    webhooks.add_subscriber(database, url="https://platform.example/hooks", secret=SECRET)
    with database.session() as session:
        video_id = videos_q.create_video(session, title="clip").id
        review_rules.set_priority(
            session, video_id=video_id, user=None, priority=ReviewPriority.URGENT
        )
        webhooks_q.enqueue_video_event(
            session, event=WebhookEvent.VIDEO_PREDICTED, video_id=video_id
        )
        [delivery] = webhooks_q.list_deliveries(session)
    assert json.loads(delivery.payload_json)["video"]["priority"] == "urgent"


def test_delivery_gives_up_after_the_last_attempt(database, fast):
    dead = Receiver([500, 502, 503])
    try:
        webhooks.add_subscriber(database, url=dead.url, secret=SECRET)
        _reviewed_video(database)
        with httpx.Client() as client:
            for _ in range(3):
                webhooks.deliver_due(database, settings=fast, client=client)
                time.sleep(0.85)  # past the longest backoff (0.2 * 2**1)
    finally:
        dead.close()
    with database.session() as session:
        [log] = webhooks_q.list_deliveries(session)
    assert log.status == DeliveryStatus.FAILED and log.attempts == 3
    assert log.last_status_code == 503


def test_unreachable_subscriber_is_logged_not_raised(database, fast):
    webhooks.add_subscriber(database, url="http://127.0.0.1:9/closed", secret=SECRET)
    _reviewed_video(database)
    with httpx.Client() as client:
        webhooks.deliver_due(database, settings=fast, client=client)
    with database.session() as session:
        [log] = webhooks_q.list_deliveries(session)
    assert log.status == DeliveryStatus.PENDING and "ConnectError" in log.last_error


def test_event_filter_and_removed_subscribers(database, fast):
    only_failed = webhooks.add_subscriber(
        database, url="http://127.0.0.1:9/a", secret=SECRET, events=[WebhookEvent.VIDEO_FAILED]
    )
    every = webhooks.add_subscriber(database, url="http://127.0.0.1:9/b", secret=SECRET)
    webhooks.remove_subscriber(database, subscriber_id=every.id)
    _reviewed_video(database)
    with database.session() as session:
        assert webhooks_q.list_deliveries(session) == []
        assert webhooks_q.list_subscribers(session, active_only=True) == [only_failed]


def _ready_version(session, micro_auprc: float) -> int:
    version = models_q.create_model_version(session, encoder_id="lite", encoder_version="1")
    models_q.finish_model_version(
        session,
        model_version_id=version.id,
        status=ModelStatus.READY,
        metrics={"micro_auprc": micro_auprc},
        n_train=40,
    )
    return version.id


def test_a_model_going_live_or_held_back_is_an_event(database, fast):
    """Platforms learn that tags may change (a version went live) and admins that a retrain
    waits for them, in the transaction that did it; subscribers may filter on either."""
    webhooks.add_subscriber(
        database,
        url="http://127.0.0.1:9/models",
        secret=SECRET,
        events=[WebhookEvent.MODEL_ACTIVATED, WebhookEvent.MODEL_HELD_BACK],
    )
    with database.session() as session:
        first, second, third = (_ready_version(session, a) for a in (0.5, 0.6, 0.55))
        models_q.set_active_model(session, model_version_id=first)
        models_q.set_active_model(session, model_version_id=second)
        models_q.set_active_model(
            session, model_version_id=first, action=AuditAction.MODEL_ROLLED_BACK
        )
        retrain_policy_q.hold_back(session, model_version_id=third, reason="waits: gain -0.01")
    with database.session() as session:
        log = list(reversed(webhooks_q.list_deliveries(session)))
    assert [d.event for d in log] == ["model.activated"] * 3 + ["model.held_back"]
    models = [json.loads(d.payload_json)["model"] for d in log]
    assert [(m["id"], m.get("previous"), m.get("how")) for m in models[:3]] == [
        (first, None, "promoted"),
        (second, first, "promoted"),
        (first, second, "rolled_back"),
    ]
    assert models[1]["micro_auprc"] == 0.6 and models[1]["is_active"] and models[1]["n_train"] == 40
    assert models[3] == {
        "id": third,
        "status": "ready",
        "is_active": False,
        "n_train": 40,
        "micro_auprc": 0.55,
        "reason": "waits: gain -0.01",
    }
    assert all(d.video_id is None for d in log)


def test_subscriber_validation(database):
    with pytest.raises(webhooks.WebhookError, match="http"):
        webhooks.add_subscriber(database, url="ftp://example.org/x", secret=SECRET)
    with pytest.raises(webhooks.WebhookError, match="secret"):
        webhooks.add_subscriber(database, url="http://example.org/x", secret="short")
    webhooks.add_subscriber(database, url="http://example.org/x", secret=SECRET)
    with pytest.raises(DuplicateError):
        webhooks.add_subscriber(database, url="http://example.org/x", secret=SECRET)


def test_background_sender_delivers_without_blocking_the_caller(database, fast):
    server = Receiver([])
    sender = webhooks.WebhookSender(database, settings=fast).start()
    try:
        webhooks.add_subscriber(database, url=server.url, secret=SECRET)
        started = time.monotonic()
        _reviewed_video(database)
        assert time.monotonic() - started < 5  # the save only wrote an outbox row
        deadline = time.monotonic() + 20
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sender.stop()
        server.close()
    assert len(server.requests) == 1


def test_an_idle_sender_opens_duckdb_only_after_a_write_or_a_due_retry(database, fast, monkeypatch):
    """On DuckDB the sender's rounds stop while nothing is written (PostgreSQL: one every
    interval, a query is cheap there), yet an event another process queued is sent, and a failed
    delivery is retried when due with nothing else written."""
    rounds: list[float] = []
    deliver = webhooks.deliver_due

    def counted(*args, **kwargs) -> int:
        rounds.append(time.monotonic())
        return deliver(*args, **kwargs)

    def rounds_in(seconds: float) -> int:
        start = time.monotonic()
        time.sleep(seconds)
        return sum(start <= t for t in rounds)

    monkeypatch.setattr(webhooks, "deliver_due", counted)
    server = Receiver([500])  # the first attempt fails: retried after 0.2 s
    webhooks.add_subscriber(database, url=server.url, secret=SECRET)
    sender = webhooks.WebhookSender(database, settings=fast).start()
    other_process = Database(database.url)
    try:
        idle_before = rounds_in(1.5)
        _reviewed_video(other_process)
        deadline = time.monotonic() + 20
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        idle_after = rounds_in(1.5)
    finally:
        sender.stop()
        server.close()
        other_process.dispose()
    assert len(server.requests) == 2  # the failed attempt and its retry
    if database.is_duckdb:
        assert idle_before <= 1 and idle_after <= 2  # the last attempt's own write: one more
    else:
        assert min(idle_before, idle_after) >= 2
