"""The dashboard's own HTTP routes under Starlette's TestClient: a seeded data dir with one
video file (distinct bytes at every offset), a thumbnail, a transcript and two users."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import auth
from core.config import Settings
from dashboard.routes import media, session
from dashboard.routes.recent import Recent
from db.engine import Database, get_database
from db.queries import users, videos
from db.tables import VideoStatus, utcnow
from tests.support.templates import DuckdbTemplates, duckdb_path

PASSWORD = "correct horse battery"
VIDEO_BYTES = bytes(range(256)) * 4096  # 1 MiB: every range has recognisable content


@dataclass(frozen=True)
class Served:
    client: TestClient
    db: Database
    settings: Settings
    video_id: int
    no_file_id: int  # a video whose file is missing
    thumbnail: bytes


@cache
def _password_hash() -> str:
    """argon2 is slow on purpose: hash the one test password once per run."""
    return auth.hash_password(PASSWORD)


def open_session(served: Served, username: str = "mod") -> str:
    """A live session for ``username`` whose cookie the client now sends (no argon2 check:
    the sign-in route itself is tested in test_session.py)."""
    token = secrets.token_urlsafe(32)
    with served.db.session() as s:
        user = users.get_user_by_name(s, username=username)
        users.create_user_session(
            s,
            token_hash=auth._token_hash(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(hours=1),
        )
    served.client.cookies.set(session.COOKIE, token)
    return token


def sign_in(client: TestClient, username: str = "mod", password: str = PASSWORD) -> str | None:
    """Post the sign-in form; the session cookie's value (the client keeps it too)."""
    client.post(
        session.SIGNIN_PATH,
        data={"username": username, "password": password},
        follow_redirects=False,
    )
    return client.cookies.get(session.COOKIE)


def recent_memories() -> list[Recent]:
    """What the media routes remember between requests (dashboard/routes/recent.py)."""
    return [session.checked_sessions, media._video_paths, media._thumbnail_paths]


@pytest.fixture(autouse=True)
def _forget_recent_reads() -> Iterator[None]:
    """Each test's database is new, and its video ids repeat the previous test's."""
    for recent in recent_memories():
        recent.clear()
    yield
    for recent in recent_memories():
        recent.clear()


@pytest.fixture
def served(settings: Settings, duckdb_templates: DuckdbTemplates) -> Served:
    video_id, no_file_id = duckdb_templates.copy_to(
        duckdb_path(settings.resolved_database_url), "routes-served", _serve
    )
    db = get_database(settings)
    stored = settings.media_dir / "abc123.mp4"
    stored.write_bytes(VIDEO_BYTES)
    thumbnail = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"
    (settings.thumbnails_dir / "abc123_0.jpg").write_bytes(thumbnail)
    app = Starlette(routes=[*session.routes, *media.routes])
    return Served(
        client=TestClient(app, base_url="http://testserver"),
        db=db,
        settings=settings,
        video_id=video_id,
        no_file_id=no_file_id,
        thumbnail=thumbnail,
    )


def _serve(db: Database) -> tuple[int, int]:
    """The rows ``served`` starts from (once per test process: tests get a copy): two users, a
    video with a keyframe and a transcript, and one whose file is missing; returns their ids."""
    with db.session() as s:
        for name in ("mod", "gone"):
            users.create_user(s, username=name, password_hash=_password_hash(), role="moderator")
        video = videos.create_video(
            s,
            title="t",
            stored_path="media/abc123.mp4",
            content_hash="abc123",
            status=VideoStatus.READY,
        )
        videos.replace_keyframes(s, video_id=video.id, frames=[(1.5, "thumbnails/abc123_0.jpg")])
        videos.put_transcript(
            s,
            video_id=video.id,
            source="provided",
            text="hi",
            segments=[{"start": 0.0, "end": 1.0, "text": "Hello <b>there</b> --> & more"}],
        )
        missing = videos.create_video(
            s, title="gone", stored_path="media/nope.mp4", status=VideoStatus.READY
        )
        return video.id, missing.id
