"""Media retention (core/retention.py): the media of videos reviewed longer ago than the setting
is deleted once, what the model and moderators read stays, a file a copy still keeps or one
outside the media folder is left alone, and each deletion is audited."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from core import retention
from core.background import Background
from core.config import Settings
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.tables import AuditAction, Video, VideoStatus, utcnow


def _video(
    db: Database,
    settings: Settings,
    *,
    name: str,
    bytes_key: str,
    reviewed_days_ago: float | None,
    size: int = 1,
    stored_path: str | None = None,
) -> int:
    """A video whose media file (``size`` bytes, in the media folder unless ``stored_path``
    says otherwise) is named by ``bytes_key`` (videos of the same key are copies of the same
    bytes), reviewed that many days ago (None: not reviewed)."""
    digest = f"hash-{bytes_key}"
    stored_path = stored_path or f"media/{digest}.mp4"
    path = settings.data_dir / stored_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    reviewed = reviewed_days_ago is not None
    with db.session() as session:
        video = Video(
            title=name,
            content_hash=digest,
            stored_path=stored_path,
            status=VideoStatus.REVIEWED if reviewed else VideoStatus.PREDICTED,
            reviewed_at=utcnow() - timedelta(days=reviewed_days_ago) if reviewed else None,
        )
        session.add(video)
        session.flush()
        return video.id


def _deleted(db: Database) -> dict[str, bool]:
    with db.session() as session:
        return {v.title: v.media_deleted_at is not None for v in videos_q.list_videos(session)}


def test_media_past_the_retention_period_is_deleted_once(database: Database, settings: Settings):
    settings = settings.model_copy(update={"media_retention_days": 30})
    outside = settings.data_dir.parent / "dataset" / "own.mp4"
    ids = {
        "old": _video(
            database, settings, name="old", bytes_key="o", size=1000, reviewed_days_ago=40
        ),
        "recent": _video(database, settings, name="recent", bytes_key="r", reviewed_days_ago=10),
        "unreviewed": _video(
            database, settings, name="unreviewed", bytes_key="u", reviewed_days_ago=None
        ),
        "shared": _video(database, settings, name="shared", bytes_key="s", reviewed_days_ago=40),
        "copy": _video(database, settings, name="copy", bytes_key="s", reviewed_days_ago=None),
        "imported": _video(
            database,
            settings,
            name="imported",
            bytes_key="i",
            reviewed_days_ago=40,
            stored_path=str(Path("..") / "dataset" / "own.mp4"),
        ),
    }
    media = settings.media_dir

    expired = retention.expire_media(database, settings=settings)

    assert (expired.videos, expired.files_deleted, expired.bytes_freed) == (3, 1, 1000)
    assert not expired.files_left
    assert _deleted(database) == {
        "old": True,
        "recent": False,
        "unreviewed": False,
        "shared": True,  # marked, but its file stays for the copy that keeps it
        "copy": False,
        "imported": True,  # a dataset's own folder: never the product's to delete
    }
    assert not (media / "hash-o.mp4").exists()
    assert (media / "hash-r.mp4").exists() and (media / "hash-s.mp4").exists()
    assert outside.exists()
    with database.session() as session:
        audited = audit_q.list_audit(session, action=AuditAction.MEDIA_DELETED)
    assert sorted(e.video_id for e in audited) == sorted(
        ids[n] for n in ("old", "shared", "imported")
    )

    assert retention.expire_media(database, settings=settings).videos == 0  # once only
    with database.session() as session:  # the copy's review expires too: now the file goes
        copy = session.get(Video, ids["copy"])
        copy.status, copy.reviewed_at = VideoStatus.REVIEWED, utcnow() - timedelta(days=31)
        session.add(copy)
    again = retention.expire_media(database, settings=settings)
    assert (again.videos, again.files_deleted) == (1, 1)
    assert not (media / "hash-s.mp4").exists()
    assert "1 files deleted" in again.describe()


def test_nothing_is_deleted_without_a_retention_period(database: Database, settings: Settings):
    _video(database, settings, name="old", bytes_key="o", reviewed_days_ago=4000)
    assert settings.media_retention_days == 0
    assert retention.expire_media(database, settings=settings) == retention.Expired()
    assert (settings.media_dir / "hash-o.mp4").exists()
    assert _deleted(database) == {"old": False}


def test_the_server_thread_expires_media_at_each_check(database: Database, settings: Settings):
    settings = settings.model_copy(update={"media_retention_days": 1})
    _video(database, settings, name="old", bytes_key="o", reviewed_days_ago=2)
    watcher = retention.RetentionWatcher(database, settings=settings)
    assert watcher.interval_s() == retention.CHECK_EVERY_S
    watcher.check()
    assert _deleted(database) == {"old": True}


def test_the_server_thread_s_first_pass_comes_soon_after_the_start(
    database: Database, settings: Settings, monkeypatch
):
    """Not an hour later: a server restarted more often than that would never delete anything."""
    monkeypatch.setattr(retention, "FIRST_CHECK_AFTER_S", 0.01)
    settings = settings.model_copy(update={"media_retention_days": 1})
    _video(database, settings, name="old", bytes_key="o", reviewed_days_ago=2)
    background = Background()
    background.start([retention.RetentionWatcher(database, settings=settings)])
    try:
        for _ in range(500):
            if background.states()[0].last_round_at is not None:
                break
            time.sleep(0.01)
    finally:
        background.stop()
    assert _deleted(database) == {"old": True}
