"""Webhook delivery: HMAC-SHA256 signed POSTs from the outbox, retried with exponential backoff.

Events are written to the ``webhook_delivery`` outbox by the unit of work that causes them (see
``db.queries.webhooks``), so neither a request nor an ingest ever waits for a subscriber. A
:class:`WebhookSender` thread in the server process polls the outbox, posts each due delivery
outside any database session, and records the attempt: 2xx is delivered; anything else (or no
answer) is retried after ``webhook_backoff_s * 2**(attempt-1)`` seconds, up to
``webhook_max_attempts`` attempts, then given up. Delivery is at least once: receivers dedupe on
the ``X-Tagger-Delivery`` header.

Receivers verify ``X-Tagger-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscriber's
secret of ``<X-Tagger-Timestamp>.<raw body>`` (:func:`signature`), and may refuse old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta

import httpx

from core.background import ServerThread
from core.config import Settings
from core.errors import TaggerError
from db.engine import Database, DatabaseError
from db.queries import audit as audit_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, DeliveryStatus, WebhookSubscriber, utcnow

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tagger-Signature"
TIMESTAMP_HEADER = "X-Tagger-Timestamp"
EVENT_HEADER = "X-Tagger-Event"
DELIVERY_HEADER = "X-Tagger-Delivery"
BATCH = 50
MIN_SECRET_LENGTH = 16


class WebhookError(TaggerError, ValueError):
    """A subscriber that cannot be added (not an http(s) URL, a short secret)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Tagger-Signature`` value of a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Constant-time check of a received signature (what a receiver does)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def deliver_due(db: Database, *, settings: Settings, client: httpx.Client) -> int:
    """Attempt every due delivery once; returns how many were attempted."""
    with db.session() as session:
        due = webhooks_q.due_deliveries(session, limit=BATCH)
    for delivery, subscriber in due:
        body = delivery.payload_json.encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(subscriber.secret, timestamp, body),
        }
        code: int | None = None
        error: str | None = None
        try:
            response = client.post(
                subscriber.url, content=body, headers=headers, timeout=settings.webhook_timeout_s
            )
            code = response.status_code
            if not response.is_success:
                error = f"HTTP {code}"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        attempt = delivery.attempts + 1
        if error is None:
            status, retry_at = DeliveryStatus.DELIVERED, None
        elif attempt >= settings.webhook_max_attempts:
            status, retry_at = DeliveryStatus.FAILED, None
        else:
            delay = settings.webhook_backoff_s * 2 ** (attempt - 1)
            status, retry_at = DeliveryStatus.PENDING, utcnow() + timedelta(seconds=delay)
        with db.session() as session:
            webhooks_q.record_attempt(
                session,
                delivery_id=delivery.id,
                status=status,
                status_code=code,
                error=error,
                next_attempt_at=retry_at,
            )
    return len(due)


class WebhookSender(ServerThread):
    """Runs :func:`deliver_due` every ``webhook_poll_s`` seconds (at once again after a full
    batch). On DuckDB a round is skipped while nothing was written to the database since a round
    found nothing due and no retry has come due: an idle server then does not open the database
    every second (~30 ms of CPU each time, 3 % of a core)."""

    name = "webhook-sender"

    def run(self) -> None:
        idle_files: tuple | None = None  # the database's files when a round last found nothing
        next_retry: datetime | None = None  # then, the earliest pending delivery's next attempt
        with httpx.Client(follow_redirects=False) as client:
            while not self.stopping.is_set():
                files = self.db.file_state()  # before the round: a later write shows as a change
                unchanged = files is not None and files == idle_files
                if unchanged and (next_retry is None or utcnow() < next_retry):
                    self.round_ended()
                    self.stopping.wait(self.settings.webhook_poll_s)
                    continue
                try:
                    sent = deliver_due(self.db, settings=self.settings, client=client)
                    if sent == 0 and files is not None:
                        with self.db.session() as session:
                            next_retry = webhooks_q.next_attempt_at(session)
                        idle_files = files
                except DatabaseError as e:  # busy or gone for a moment: the rows wait, try again
                    logger.warning("webhook sender: %s", e)
                    self.round_ended(str(e))
                    sent = 0
                else:
                    self.round_ended()
                if sent < BATCH:
                    self.stopping.wait(self.settings.webhook_poll_s)


def add_subscriber(
    db: Database, *, url: str, secret: str, events: list[str] | None = None
) -> WebhookSubscriber:
    """Add a subscriber (audited); raises :class:`WebhookError` for a URL that is not http(s)
    with a host, and ``db.queries.DuplicateError`` for a URL already subscribed."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise WebhookError(f"not a URL: {url!r} ({e})") from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WebhookError(f"webhook URL must be http(s)://host/..., got {url!r}")
    if len(secret) < MIN_SECRET_LENGTH:
        raise WebhookError(f"the signing secret needs at least {MIN_SECRET_LENGTH} characters")
    with db.session() as session:
        subscriber = webhooks_q.add_subscriber(session, url=url, secret=secret, events=events or [])
        audit_q.add_audit(
            session,
            action=AuditAction.WEBHOOK_ADDED,
            detail={"webhook": subscriber.id, "url": url, "events": subscriber.events},
        )
    return subscriber


def remove_subscriber(db: Database, *, subscriber_id: int) -> None:
    """Deactivate (audited); raises ``db.queries.NotFoundError`` for an unknown id."""
    with db.session() as session:
        subscriber = webhooks_q.deactivate_subscriber(session, subscriber_id=subscriber_id)
        audit_q.add_audit(
            session,
            action=AuditAction.WEBHOOK_REMOVED,
            detail={"webhook": subscriber_id, "url": subscriber.url},
        )
