"""Media retention: a reviewed video's media file is deleted once ``media_retention_days`` have
passed since its review, so that a team on real uploads (hundreds of MB each) does not fill its
disk (``/api/v1/ready`` answers 503 below ``TAGGER_MIN_FREE_DISK_MB``).

What the model and the moderators read stays: keyframe thumbnails, transcript, on-screen text,
vectors (retraining reads only these), labels and predictions. What it costs: the video cannot
be watched again (a lead's rejection or a second review goes on its keyframes and transcript)
nor encoded by a new encoder, until its bytes are ingested or uploaded again, which brings the
file back (``core.ingest.batch``). A file that another video still keeps (a copy of the same bytes)
stays until that one's media expires too; a file outside the media folder (a dataset import's
own folder) is never deleted. With ``ray_data_uri`` on object storage, the copy there goes too.

The dashboard server expires media once an hour, the first time a minute after it starts
(:class:`RetentionWatcher`); ``tagger expire-media`` does the same from a timer where the server
does not run. Each video's deletion is audited (``media_deleted``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.background import PeriodicCheck
from core.config import Settings
from core.removal import delete_path, delete_ray_copy, own_media_path
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.tables import AuditAction, utcnow

logger = logging.getLogger(__name__)

BATCH = 500  # videos per unit of work
# why a video whose media expired cannot be decoded again (ingest, retranscribe, detect-language)
MEDIA_DELETED = "its media file was deleted after its review (TAGGER_MEDIA_RETENTION_DAYS)"
CHECK_EVERY_S = 3600.0
# the first pass a minute after the server starts: a server restarted more often than hourly
# (deployments, a crash loop) would otherwise never delete anything
FIRST_CHECK_AFTER_S = 60.0


@dataclass(frozen=True)
class Expired:
    """What one pass deleted; ``files_left``: files it could not delete, in words (their videos
    are marked all the same, and the reason is logged)."""

    videos: int = 0
    files_deleted: int = 0
    bytes_freed: int = 0
    files_left: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the terminal and the log."""
        line = (
            f"media of {self.videos} reviewed videos expired: {self.files_deleted} files deleted,"
            f" {self.bytes_freed / 2**20:,.1f} MiB freed"
        )
        if self.files_left:
            line += f"; could not delete: {'; '.join(self.files_left)}"
        return line


def expire_media(db: Database, *, settings: Settings, now: datetime | None = None) -> Expired:
    """Delete the media of every video reviewed more than ``media_retention_days`` ago (module
    docstring); nothing when the setting is 0."""
    if settings.media_retention_days <= 0:
        return Expired()
    now = now or utcnow()
    reviewed_before = now - timedelta(days=settings.media_retention_days)
    videos = deleted = freed = 0
    left: list[str] = []
    while True:
        with db.session() as session:
            expiring = videos_q.media_to_expire(
                session, reviewed_before=reviewed_before, limit=BATCH
            )
            if not expiring:
                break
            videos_q.mark_media_deleted(session, video_ids=[v.id for v in expiring], at=now)
            audit_q.add_video_audits(
                session,
                action=AuditAction.MEDIA_DELETED,
                details={v.id: {"retention_days": settings.media_retention_days} for v in expiring},
                at=now,
            )
            kept = videos_q.media_kept_for(
                session, content_hashes=[v.content_hash for v in expiring if v.content_hash]
            )
            doomed = {
                path
                for v in expiring
                if v.stored_path
                and (path := own_media_path(v.stored_path, settings)) is not None
                and v.content_hash not in kept
            }
        videos += len(expiring)
        for path in sorted(doomed):  # after the commit: a file is never gone while it is kept
            if not path.exists():
                continue
            size = path.stat().st_size
            problem = delete_path(path)
            if problem is not None:
                left.append(problem)
                continue
            deleted += 1
            freed += size
            if settings.ray_data_uri is not None:
                left += delete_ray_copy(settings, path.relative_to(settings.data_dir.resolve()))
    return Expired(videos, deleted, freed, left)


class RetentionWatcher(PeriodicCheck):
    """Every hour, :func:`expire_media`, the first a minute after the start (the server runs it
    when ``media_retention_days`` > 0)."""

    name = "media-retention"

    def interval_s(self) -> float:
        return CHECK_EVERY_S

    def first_wait_s(self) -> float:
        return FIRST_CHECK_AFTER_S

    def check(self) -> None:
        expired = expire_media(self.db, settings=self.settings)
        if expired.videos:
            logger.info("%s", expired.describe())
