"""Videos, keyframe thumbnails and captions over HTTP, for signed-in users only.

Files are found through the database by id (no client-supplied paths) and must resolve, links
followed, to a file inside the data dir's media or thumbnail folder. Starlette's
``FileResponse`` streams them in chunks and answers Range requests (206 with Content-Range,
416 for an unsatisfiable range, HEAD without a body), so the server never holds a file in
memory and the player seeks without downloading what it skips.

Status codes: 401 without a live session (the stale cookie is cleared), 403 for a disabled
account, 404 for an unknown id or a file that is missing or outside its folder. The endpoints
are plain functions: Starlette runs them in a worker thread (the lookups block on the database)
and streams the file from the event loop. A session checked and a file found a moment ago are
not read from the database again (:mod:`dashboard.routes.recent`): a player asks for many
ranges in a row.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import auth
from core.config import get_settings
from core.errors import TaggerError
from core.media.transcript import webvtt
from dashboard.routes.recent import Recent
from dashboard.routes.session import checked_sessions, clear_cookie, session_token
from db.engine import get_database
from db.queries import NotFoundError
from db.queries import videos as video_queries

VIDEO_PATH = "/files/videos/{video_id:int}"
THUMBNAIL_PATH = "/files/thumbnails/{video_id:int}/{index:int}"
CAPTIONS_PATH = "/files/captions/{video_id:int}"
# the browser may keep what it fetched for this user; shared caches may not
CACHE_CONTROL = "private, max-age=3600"
# A browser keeps a connection busy for each media response until it ends, and stops reading
# once a player has what it wants (preload="metadata", paused, or replaced by the next video).
# Answered to the end of a 500 MB file, a range would pin its connection, and after six such
# players (Chrome's per-host limit) the next video stalls. So a single range gets at most
# RANGE_CHUNK bytes (a 206 whose Content-Range says which); players ask for the next ones.
RANGE_CHUNK = 2 * 2**20
T = TypeVar("T")
K = TypeVar("K", int, tuple[int, int])
# stored paths found a moment ago: by video id, and by (video id, keyframe index)
_video_paths: Recent[int, str] = Recent()
_thumbnail_paths: Recent[tuple[int, int], str] = Recent()


class MediaNotFoundError(TaggerError, LookupError):
    """No such video/keyframe, or its file is missing or lies outside its folder."""


def video_url(video_id: int) -> str:
    return VIDEO_PATH.replace("{video_id:int}", str(video_id))


def thumbnail_url(video_id: int, index: int) -> str:
    return THUMBNAIL_PATH.replace("{video_id:int}", str(video_id)).replace(
        "{index:int}", str(index)
    )


def captions_url(video_id: int) -> str:
    return CAPTIONS_PATH.replace("{video_id:int}", str(video_id))


def confined(data_dir: Path, stored: str | None, folder: Path) -> Path:
    """``data_dir / stored`` resolved (links followed); raises :class:`MediaNotFoundError`
    unless it is an existing file inside ``folder``."""
    if not stored:
        raise MediaNotFoundError("no stored file")
    path = (data_dir / stored).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise MediaNotFoundError("file missing or outside its folder")
    return path


def _stored_video(session: Session, video_id: int) -> str | None:
    try:
        return video_queries.get_video(session, video_id=video_id).stored_path
    except NotFoundError as e:
        raise MediaNotFoundError(str(e)) from e


def _stored_thumbnail(session: Session, video_id: int, index: int) -> str | None:
    frames = video_queries.get_keyframes(session, video_id=video_id)
    return next((f.thumbnail_path for f in frames if f.idx == index), None)


def expect(
    video_id: int, *, video: str | None = None, thumbnails: Mapping[int, str] | None = None
) -> None:
    """The stored paths a page has just read and is about to show (relative to the data dir):
    the browser's requests for them in the next seconds are answered without the database,
    whose file lock the page's own run may be holding meanwhile."""
    if video:
        _video_paths.put(video_id, video)
    for index, stored in (thumbnails or {}).items():
        _thumbnail_paths.put((video_id, index), stored)


def _captions(session: Session, video_id: int) -> str:
    transcript = video_queries.get_transcript(session, video_id=video_id)
    if transcript is None:
        raise MediaNotFoundError("no transcript")
    return webvtt(json.loads(transcript.segments_json))


def _authorized(request: Request, read: Callable[[Session], T]) -> T | Response:
    """``read(session)`` after checking the request's session cookie, in one unit of work;
    else the 401/403/404 response."""
    token = session_token(request)
    try:
        with get_database(get_settings()).session() as session:
            user = auth.user_for_token(session, token=token)
            value = read(session)
    except auth.AccountDisabledError:
        return PlainTextResponse("this account is disabled", status_code=403)
    except auth.SessionInvalidError:
        response = PlainTextResponse("sign in to the dashboard first", status_code=401)
        if token:
            clear_cookie(response)
        return response
    except MediaNotFoundError:
        return PlainTextResponse("not found", status_code=404)
    checked_sessions.put(token, user)
    return value


def _recent_or_authorized(
    request: Request, recent: Recent[K, str], key: K, read: Callable[[Session], str | None]
) -> str | None | Response:
    """:func:`_authorized`, answered without the database when this request's session was
    checked and ``key``'s path read (or :func:`expect`-ed) a moment ago: a player's next
    range, the thumbnails of the page just drawn."""
    token = session_token(request)
    if token and checked_sessions.get(token) is not None:
        found = recent.get(key)
        if found is not None:
            return found
    value = _authorized(request, read)
    if isinstance(value, str):
        recent.put(key, value)
    return value


class _ChunkedFileResponse(FileResponse):
    """``FileResponse`` (Range, 206/416, HEAD) answering a single range in chunks."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        ranges = super()._parse_range_header(http_range, file_size)
        if len(ranges) == 1:
            start, end = ranges[0]
            return [(start, min(end, start + RANGE_CHUNK))]
        return ranges


def _file_response(stored: str | None, folder: Path) -> Response:
    try:
        path = confined(get_settings().data_dir, stored, folder)
    except MediaNotFoundError:
        return PlainTextResponse("not found", status_code=404)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return _ChunkedFileResponse(
        path, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL}
    )


def video(request: Request) -> Response:
    video_id = request.path_params["video_id"]
    stored = _recent_or_authorized(
        request, _video_paths, video_id, lambda s: _stored_video(s, video_id)
    )
    if isinstance(stored, Response):
        return stored
    return _file_response(stored, get_settings().media_dir)


def thumbnail(request: Request) -> Response:
    video_id, index = request.path_params["video_id"], request.path_params["index"]
    stored = _recent_or_authorized(
        request,
        _thumbnail_paths,
        (video_id, index),
        lambda s: _stored_thumbnail(s, video_id, index),
    )
    if isinstance(stored, Response):
        return stored
    return _file_response(stored, get_settings().thumbnails_dir)


def captions(request: Request) -> Response:
    video_id = request.path_params["video_id"]
    text = _authorized(request, lambda s: _captions(s, video_id))
    if isinstance(text, Response):
        return text
    return Response(text, media_type="text/vtt", headers={"Cache-Control": CACHE_CONTROL})


routes = [
    Route(VIDEO_PATH, video, methods=["GET", "HEAD"]),
    Route(THUMBNAIL_PATH, thumbnail, methods=["GET", "HEAD"]),
    Route(CAPTIONS_PATH, captions, methods=["GET", "HEAD"]),
]
