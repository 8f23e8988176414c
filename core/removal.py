"""Removing a video for good: a takedown, an upload its platform deleted, an erasure request.

Everything the product holds about the video goes in one unit of work: its row, labels,
predictions, vectors, transcript, on-screen text, keyframes, blind overlap answers and lead
verdicts (``db.queries.videos.delete_videos``). Then its media file and keyframe thumbnails are
deleted from the data dir, unless another video is a copy of the same bytes (ingest shares them
by content hash) or the file lies outside the media folder (a dataset import's own folder, which
the product never writes); with ``ray_data_uri`` on object storage, the media's copy there
too. The audit log keeps its history of the video and records the removal (who, why, the title
and external id); webhook subscribers hear ``video.removed``. Model versions trained with the
video stay as they are; the next retrain goes without it (its vectors are gone).

A video being processed is refused: its ingest writes its results when extraction ends. One
that is still ``new`` may go: ingest passes over a video removed before it was planned.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from core.config import Settings
from core.errors import TaggerError
from db.engine import Database
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, Video, VideoStatus, WebhookEvent

logger = logging.getLogger(__name__)
MAX_REASON = 500


class RemovalInputError(TaggerError, ValueError):
    """A removal without a reason, or with one too long to audit."""


class VideoBusyError(TaggerError):
    """The video is being processed: its ingest would write its results after the removal."""


@dataclass(frozen=True)
class Removed:
    """What a removal took away; ``files_left``: files it could not delete, with the reason
    (the video's rows are gone all the same)."""

    video_id: int
    title: str
    files_deleted: int
    files_kept: int  # shared with a copy of the same bytes, or outside the media folder
    files_left: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the terminal."""
        line = f"removed video {self.video_id} ({self.title!r}): {self.files_deleted} files deleted"
        if self.files_kept:
            line += (
                f", {self.files_kept} kept (another video uses them, or not in the media folder)"
            )
        if self.files_left:
            line += f"; could not delete: {'; '.join(self.files_left)}"
        return line


def remove_video(
    db: Database, *, settings: Settings, video_id: int, user: Actor | None, reason: str
) -> Removed:
    """Remove ``video_id`` and everything about it (module docstring); ``reason`` is audited.

    Raises :class:`db.queries.NotFoundError` for an unknown id, :class:`RemovalInputError` for
    an empty or overlong reason and :class:`VideoBusyError` for a video being processed.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise RemovalInputError("say why the video is removed (e.g. 'takedown request 1234')")
    if len(reason) > MAX_REASON:
        raise RemovalInputError(
            f"the reason is {len(reason)} characters long; at most {MAX_REASON}"
        )
    with db.session() as session:
        video = videos_q.get_video(session, video_id=video_id)
        if video.status == VideoStatus.PROCESSING:
            raise VideoBusyError(
                f"video {video_id} is being processed; remove it when its ingest has finished"
            )
        title = video.title
        files = _files_of(session, video, settings)
        webhooks_q.enqueue_video_event(session, event=WebhookEvent.VIDEO_REMOVED, video_id=video_id)
        audit_q.add_audit(
            session,
            action=AuditAction.VIDEO_REMOVED,
            user=user,
            video_id=video_id,
            detail={"reason": reason, "title": title, "external_id": video.external_id},
        )
        videos_q.delete_videos(session, video_ids=[video_id])
    left = [problem for path in files.doomed if (problem := delete_path(path)) is not None]
    deleted = len(files.doomed) - len(left)
    if files.media is not None and settings.ray_data_uri is not None:
        left += delete_ray_copy(settings, files.media.relative_to(settings.data_dir.resolve()))
    return Removed(video_id, title, deleted, files.kept, left)


@dataclass(frozen=True)
class _Files:
    """A video's files in the data dir that go with it, and how many stay."""

    media: Path | None  # its media file, when it goes
    thumbnails: Path | None  # its keyframe thumbnails' folder, when it goes
    kept: int  # a copy of the same bytes uses them, or the file is not the media folder's

    @property
    def doomed(self) -> list[Path]:
        return [path for path in (self.media, self.thumbnails) if path is not None]


def _files_of(session: Session, video: Video, settings: Settings) -> _Files:
    copy = (
        videos_q.find_video_by_hash(session, content_hash=video.content_hash, exclude_id=video.id)
        if video.content_hash
        else None
    )
    media = thumbnails = None
    kept = 0
    if video.stored_path:
        path = own_media_path(video.stored_path, settings)
        if copy is not None or path is None:
            kept += 1
        elif path.exists():
            media = path
    if video.content_hash:
        folder = (settings.thumbnails_dir / video.content_hash).resolve()
        if copy is not None:
            kept += folder.exists()
        elif folder.exists():
            thumbnails = folder
    return _Files(media, thumbnails, kept)


def own_media_path(stored_path: str, settings: Settings) -> Path | None:
    """A stored path's file in the media folder, or None for one outside it (a dataset import's
    own folder, which the product never writes, nor deletes)."""
    path = (settings.data_dir / stored_path).resolve()
    return path if path.is_relative_to(settings.media_dir.resolve()) else None


def delete_ray_copy(settings: Settings, relative: Path) -> list[str]:
    """Delete the copy Ray workers read of a media file (object storage only); what stopped
    it, in words."""
    from core.ingest.storage import StorageError, open_store  # PyAV: only when Ray is set up

    try:
        open_store(str(settings.ray_data_uri)).delete(relative)
    except StorageError as e:
        logger.warning("%s", e)
        return [str(e)]
    return []


def delete_path(path: Path) -> str | None:
    """Delete a file or folder; None, or what stopped it, in words (logged too)."""
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as e:
        logger.warning("%s not deleted: %s", path, e)
        return f"{path}: {e.strerror or e}"
    return None
