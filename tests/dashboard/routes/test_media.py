"""Media routes: Range requests (206/416/HEAD), who may fetch, and no way out of the folders."""

from __future__ import annotations

import os

import pytest

from core import auth
from dashboard.routes import media, session
from dashboard.routes.recent import FRESH_S
from db.queries import users, videos
from tests.dashboard.routes.conftest import VIDEO_BYTES, Served, open_session, recent_memories


def test_whole_file_with_type_and_accept_ranges(served: Served) -> None:
    open_session(served)
    response = served.client.get(media.video_url(served.video_id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(VIDEO_BYTES))
    assert response.content == VIDEO_BYTES
    assert response.headers["cache-control"].startswith("private")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, len(VIDEO_BYTES) - 1), ("bytes=-10", -10, None)],
)
def test_range_gives_206_with_content_range(served: Served, header, start, end) -> None:
    open_session(served)
    response = served.client.get(media.video_url(served.video_id), headers={"Range": header})
    assert response.status_code == 206
    size = len(VIDEO_BYTES)
    first = start % size
    last = size - 1 if end is None else end
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.content == VIDEO_BYTES[first : last + 1]


def test_unsatisfiable_range_is_416(served: Served) -> None:
    open_session(served)
    size = len(VIDEO_BYTES)
    response = served.client.get(
        media.video_url(served.video_id), headers={"Range": f"bytes={size}-{size + 10}"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_head_has_the_headers_and_no_body(served: Served) -> None:
    open_session(served)
    response = served.client.head(
        media.video_url(served.video_id), headers={"Range": "bytes=10-19"}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{len(VIDEO_BYTES)}"
    assert response.content == b""


def test_thumbnail_and_captions(served: Served) -> None:
    open_session(served)
    thumb = served.client.get(media.thumbnail_url(served.video_id, 0))
    assert thumb.status_code == 200 and thumb.content == served.thumbnail
    assert thumb.headers["content-type"] == "image/jpeg"
    assert served.client.get(media.thumbnail_url(served.video_id, 1)).status_code == 404
    vtt = served.client.get(media.captions_url(served.video_id))
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    assert "Hello &lt;b&gt;there&lt;/b&gt; --&gt; &amp; more" in vtt.text


def test_no_cookie_is_401(served: Served) -> None:
    for url in (
        media.video_url(served.video_id),
        media.thumbnail_url(served.video_id, 0),
        media.captions_url(served.video_id),
    ):
        response = served.client.get(url, headers={"Range": "bytes=0-9"})
        assert response.status_code == 401, url
        assert VIDEO_BYTES[:10] not in response.content


def test_forged_expired_or_signed_out_cookie_is_401_and_cleared(served: Served) -> None:
    served.client.cookies.set(session.COOKIE, "forged-" + "A" * 40)
    response = served.client.get(media.video_url(served.video_id))
    assert response.status_code == 401
    assert f"{session.COOKIE}=" in response.headers["set-cookie"]  # told to drop it
    served.client.cookies.clear()

    token = open_session(served)
    with served.db.session() as s:  # expire it server-side
        row = users.get_user_session(s, token_hash=auth._token_hash(token))
        row.expires_at = auth.utcnow()
        s.add(row)
    assert served.client.get(media.video_url(served.video_id)).status_code == 401


def test_disabled_account_is_403(served: Served, monkeypatch) -> None:
    """Disabled elsewhere (CLI, another server), the account's media stop within FRESH_S."""
    now = [1000.0]
    for memory in recent_memories():
        monkeypatch.setattr(memory, "clock", lambda: now[0])
    open_session(served, "gone")
    assert served.client.get(media.video_url(served.video_id)).status_code == 200
    with served.db.session() as s:
        user = users.get_user_by_name(s, username="gone")
        users.update_user(s, user_id=user.id, disabled=True)
    now[0] += FRESH_S
    assert served.client.get(media.video_url(served.video_id)).status_code == 403


def test_a_burst_of_requests_checks_the_session_once(served: Served, monkeypatch) -> None:
    """A player's ranges and a page's thumbnails do not each open the database."""
    checks = []
    user_for_token = auth.user_for_token

    def counted(session, **kwargs):
        checks.append(kwargs["token"])
        return user_for_token(session, **kwargs)

    monkeypatch.setattr(auth, "user_for_token", counted)
    open_session(served)
    for start in range(0, 50_000, 10_000):
        response = served.client.get(
            media.video_url(served.video_id), headers={"Range": f"bytes={start}-{start + 9}"}
        )
        assert response.content == VIDEO_BYTES[start : start + 10]
    for _ in range(2):
        thumbnail = served.client.get(media.thumbnail_url(served.video_id, 0))
        assert thumbnail.content == served.thumbnail
    assert len(checks) == 2  # the video's first range, the thumbnail's first request
    for _ in range(2):  # what is not there is looked up again: it may come
        assert served.client.get(media.thumbnail_url(served.video_id, 1)).status_code == 404
    assert len(checks) == 4
    served.client.cookies.set(session.COOKIE, "forged-" + "A" * 40)  # another session: checked
    assert served.client.get(media.video_url(served.video_id)).status_code == 401
    assert len(checks) == 5


def test_paths_a_page_expects_are_served_without_the_database(served: Served, monkeypatch):
    """The page that just drew a player and thumbnails primes their paths; the session its
    router checked is not checked again either."""
    token = open_session(served)
    session.checked_sessions.put(token, auth.resolve_session(served.db, token))
    media.expect(
        served.video_id, video="media/abc123.mp4", thumbnails={0: "thumbnails/abc123_0.jpg"}
    )

    def no_database(*args, **kwargs):
        raise AssertionError("the database was read")

    monkeypatch.setattr(auth, "user_for_token", no_database)
    response = served.client.get(media.video_url(served.video_id), headers={"Range": "bytes=0-9"})
    assert response.content == VIDEO_BYTES[:10]
    assert served.client.get(media.thumbnail_url(served.video_id, 0)).content == served.thumbnail
    served.client.cookies.set(session.COOKIE, "forged-" + "A" * 40)  # primed paths grant nothing
    with pytest.raises(AssertionError, match="the database was read"):
        served.client.get(media.video_url(served.video_id))


def test_unknown_or_missing_is_404(served: Served) -> None:
    open_session(served)
    assert served.client.get(media.video_url(10**6)).status_code == 404
    assert served.client.get(media.video_url(served.no_file_id)).status_code == 404
    assert served.client.get("/files/videos/..%2F..%2Ftagger.duckdb").status_code == 404


@pytest.mark.parametrize(
    "stored",
    [
        "../outside.mp4",  # above the data dir
        "tagger.duckdb",  # in the data dir, not in media/
        "media/../tagger.duckdb",
        "thumbnails/abc123_0.jpg",  # another folder of ours
        "/etc/passwd",  # absolute
        "media/link.mp4",  # a link inside media/ pointing out of it
    ],
)
def test_stored_paths_outside_media_are_refused(served: Served, stored: str) -> None:
    settings = served.settings
    (settings.data_dir.parent / "outside.mp4").write_bytes(b"secret")
    os.symlink(settings.data_dir.parent / "outside.mp4", settings.media_dir / "link.mp4")
    with served.db.session() as s:
        video = videos.create_video(s, title="evil", stored_path=stored, status="ready")
    open_session(served)
    response = served.client.get(media.video_url(video.id))
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_thumbnail_outside_its_folder_is_refused(served: Served) -> None:
    with served.db.session() as s:
        videos.replace_keyframes(
            s, video_id=served.video_id, frames=[(0.0, "media/abc123.mp4")]
        )  # a media file is not a thumbnail
    open_session(served)
    assert served.client.get(media.thumbnail_url(served.video_id, 0)).status_code == 404


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-999999"])
def test_a_long_range_is_answered_in_chunks(served: Served, monkeypatch, header) -> None:
    """So a player that stops reading never pins a connection for the rest of the file."""
    monkeypatch.setattr(media, "RANGE_CHUNK", 1000)
    open_session(served)
    response = served.client.get(media.video_url(served.video_id), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-1099/{len(VIDEO_BYTES)}"
    assert response.content == VIDEO_BYTES[100:1100]
