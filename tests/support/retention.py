"""A video whose media the retention setting has deleted, as the server's hourly pass leaves it
(core/retention.py)."""

from __future__ import annotations

from datetime import timedelta

from core import retention
from core.config import Settings
from db.engine import Database
from db.tables import Video, VideoStatus, utcnow


def expire_media_of(db: Database, settings: Settings, video_id: int) -> None:
    """Mark ``video_id`` reviewed two days ago, then let a one-day retention delete its media."""
    with db.session() as session:
        video = session.get(Video, video_id)
        video.status, video.reviewed_at = VideoStatus.REVIEWED, utcnow() - timedelta(days=2)
        session.add(video)
    one_day = settings.model_copy(update={"media_retention_days": 1})
    assert retention.expire_media(db, settings=one_day).videos == 1
