"""``/v1/videos``: upload (processed in a background job), read, list, write labels, raise or
lower the review priority, remove, and a video's history (its audit trail, kept after a
removal).

Uploads go through ``core.ingest.batch.receive_upload`` (size limit, probing, content-hash and
external-id idempotency) and ``process_upload`` in an ingest job, the same code as the
dashboard's upload page; label writes go through ``core.quality.save_labels``, the dashboard's
save (optimistic version check, audit rows, ``video.reviewed`` webhook; a blind answer for a
video in the overlap share); removal goes through ``core.removal.remove_video``, the CLI's.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse
from sqlmodel import Session

from core import audit_feed, quality, review, taxonomy
from core.ingest.batch import StoredUpload, receive_upload
from core.ingest.from_storage import receive_from_storage
from core.removal import MAX_REASON, remove_video
from dashboard.api.access import Admin, Reader, Writer
from dashboard.api.context import ApiContext, context
from dashboard.api.errors import problem
from dashboard.api.schemas import (
    HistoryEntry,
    LabelOut,
    LabelsIn,
    PriorityIn,
    PriorityLevel,
    PriorityOut,
    Problem,
    Removal,
    Review,
    StorageVideoIn,
    Tag,
    TagNode,
    UploadAccepted,
    VideoOut,
    VideoPage,
    VideoSummary,
)
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import review as review_q
from db.queries import taxonomy as taxonomy_q
from db.queries import videos as videos_q
from db.queries.video_details import PredictedTag, VideoDetails, get_video_details
from db.tables import ReviewPriority, Video, VideoStatus

router = APIRouter(prefix="/videos", tags=["videos"])
Ctx = Annotated[ApiContext, Depends(context)]
MAX_PAGE = 200
MAX_HISTORY = 500
_ERRORS = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    429: {"model": Problem},
}


# the answers of taking a video, uploaded or read from storage
_TAKEN = {
    200: {"model": UploadAccepted, "description": "Already taken: the existing video."},
    409: {"model": Problem},
    413: {"model": Problem},
    422: {"model": Problem},
    **_ERRORS,
}


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=UploadAccepted, responses=_TAKEN
)
def upload_video(
    ctx: Ctx,
    user: Writer,
    file: Annotated[UploadFile, File(description="The video; checked by probing, not by name.")],
    title: Annotated[str, Form(max_length=500)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
    external_id: Annotated[
        str | None,
        Form(
            min_length=1,
            max_length=200,
            description="Your id for the video; uploading the same bytes with it again is a no-op.",
        ),
    ] = None,
    priority: Annotated[
        PriorityLevel,
        Form(
            description="How soon moderators see a new video (a video already taken keeps its "
            "own: PUT /v1/videos/{id}/priority changes it)."
        ),
    ] = "normal",
    priority_reason: Annotated[
        str, Form(max_length=review.PRIORITY_REASON_MAX_CHARS, examples=["reported by 12 users"])
    ] = "",
) -> JSONResponse:
    """Store the video and start its processing and prediction in the background (202)."""
    stored = receive_upload(
        ctx.db,
        data=file.file,
        filename=file.filename or "upload",
        title=title,
        description=description,
        settings=ctx.settings,
        user=user,
        external_id=external_id,
    )
    return _accepted(ctx, stored, user, PriorityIn(level=priority, reason=priority_reason))


@router.post(
    "/from-storage",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted,
    responses={
        **_TAKEN,
        502: {"model": Problem, "description": "The storage could not be reached or read."},
    },
)
def video_from_storage(ctx: Ctx, user: Writer, body: StorageVideoIn) -> JSONResponse:
    """Take a video the platform keeps in object storage: the server reads the object (under a
    prefix it allows) and stores it as an upload, then processes and predicts it in the
    background (202); the same bytes or ``external_id`` again answer 200, as for an upload."""
    stored = receive_from_storage(
        ctx.db,
        uri=body.uri,
        title=body.title,
        description=body.description,
        settings=ctx.settings,
        user=user,
        external_id=body.external_id,
    )
    return _accepted(ctx, stored, user, body.priority)


def _accepted(
    ctx: ApiContext, stored: StoredUpload, user: Actor, priority: PriorityIn | None
) -> JSONResponse:
    """200 with the existing video for bytes already taken, else 202 with the processing job
    (a new video's priority raised first, so it queues where it should as soon as it is
    processed)."""
    with ctx.db.session() as session:
        if not stored.duplicate and priority is not None and priority.level != "normal":
            review.set_priority(
                session,
                video_id=stored.video_id,
                user=user,
                priority=review.parse_priority(priority.level),
                reason=priority.reason,
            )
        video = session.get(Video, stored.video_id)
    if stored.duplicate:
        body = UploadAccepted(id=video.id, status=video.status, duplicate=True)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_200_OK)
    job_id = ctx.start("ingest", {"video_ids": [video.id]}, user)
    body = UploadAccepted(id=video.id, status=video.status, duplicate=False, job_id=job_id)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_202_ACCEPTED)


@router.get(
    "/{video_id}",
    response_model=VideoOut,
    response_model_exclude_none=False,
    responses=_ERRORS,
)
def get_video(
    ctx: Ctx,
    user: Reader,
    video_id: int,
    response: Response,
    tree: Annotated[bool, Query(description="Include the full tag tree.")] = False,
) -> VideoOut:
    """Status, duration, predicted tags and human labels; the ETag is the label version."""
    with ctx.db.session() as session:
        out = video_out(session, video_id=video_id, with_tree=tree)
    response.headers["ETag"] = etag(out.version)
    return out


@router.get("", response_model=VideoPage, responses={422: {"model": Problem}, **_ERRORS})
def list_videos(
    ctx: Ctx,
    user: Reader,
    status_: Annotated[list[VideoStatus] | None, Query(alias="status")] = None,
    tag: Annotated[
        str | None,
        Query(max_length=500, description="A tag path or id: videos with it or a narrower tag."),
    ] = None,
    reviewed: bool | None = None,
    created_since: datetime | None = None,
    external_id: Annotated[
        str | None,
        Query(max_length=200, description="The id your platform gave the video at upload."),
    ] = None,
    priority: Annotated[
        list[PriorityLevel] | None,
        Query(description="Videos of these review priorities (repeatable)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> VideoPage | JSONResponse:
    """Videos in id order (stable), filtered; follow ``next_cursor`` for the next page."""
    after_id = None
    if cursor is not None:
        after_id = _decode_cursor(cursor)
        if after_id is None:
            return problem(422, "cursor: not a cursor this API gave out")
    with ctx.db.session() as session:
        node_id = taxonomy.resolve_tags(session, [tag])[0] if tag else None
        videos = review_q.list_videos_after(
            session,
            statuses=[s.value for s in status_ or []],
            tag=node_id,
            reviewed=reviewed,
            created_since=created_since,
            external_id=external_id,
            priorities=[review.parse_priority(level) for level in priority or []],
            after_id=after_id,
            limit=limit + 1,
        )
        tops = taxonomy_q.get_nodes_by_ids(
            session, node_ids=[v.top_tag for v in videos if v.top_tag]
        )
    more = len(videos) > limit
    videos = videos[:limit]
    return VideoPage(
        items=[
            VideoSummary(
                id=v.id,
                external_id=v.external_id,
                title=v.title,
                status=v.status,
                created_at=v.created_at,
                reviewed=v.reviewed_at is not None,
                priority=review.priority_name(v.priority),
                model_version=v.predicted_model_id,
                top_tag=tops[v.top_tag].path if v.top_tag in tops else None,
            )
            for v in videos
        ],
        next_cursor=_encode_cursor(videos[-1].id) if more else None,
    )


@router.put(
    "/{video_id}/labels",
    response_model=VideoOut,
    responses={
        412: {"model": Problem, "description": "The video changed since your ETag."},
        422: {"model": Problem},
        428: {"model": Problem, "description": "If-Match is required."},
        **_ERRORS,
    },
)
def put_labels(
    ctx: Ctx,
    user: Writer,
    video_id: int,
    body: LabelsIn,
    response: Response,
    if_match: Annotated[
        str | None, Header(description="The ETag of the version you edited.", max_length=100)
    ] = None,
) -> VideoOut | JSONResponse:
    """Replace the video's human labels (a review), refused with 412 if it changed meanwhile.
    For a video in the overlap share (``review.blind``) this stores your blind answer instead:
    409 once the video has all its answers."""
    if if_match is None:
        return problem(428, "send If-Match with the ETag from GET /v1/videos/{id}")
    expected = _parse_etag(if_match)
    with ctx.db.session() as session:
        node_ids = taxonomy.resolve_tags(session, body.tags)
        if expected is None:
            current = get_video_details(session, video_id=video_id).video
            return problem(
                412, f"If-Match {if_match!r} is not this video's ETag {etag(current.version)}"
            )
        quality.save_labels(
            session,
            video_id=video_id,
            expected_version=expected,
            node_ids=node_ids,
            user=user,
        )
    with ctx.db.session() as session:
        out = video_out(session, video_id=video_id, with_tree=False)
    response.headers["ETag"] = etag(out.version)
    return out


@router.put(
    "/{video_id}/priority",
    response_model=VideoOut,
    responses={422: {"model": Problem}, **_ERRORS},
)
def put_priority(ctx: Ctx, user: Writer, video_id: int, body: PriorityIn) -> VideoOut:
    """Raise the video's review priority (a user's report, a legal request) or lower it again:
    Review next serves urgent videos first, then high ones, the longest waiting first among
    equals. Audited; the same level with a new reason keeps the video's place."""
    with ctx.db.session() as session:
        review.set_priority(
            session,
            video_id=video_id,
            user=user,
            priority=review.parse_priority(body.level),
            reason=body.reason,
        )
    with ctx.db.session() as session:
        return video_out(session, video_id=video_id, with_tree=False)


@router.delete(
    "/{video_id}",
    response_model=Removal,
    responses={
        409: {"model": Problem, "description": "The video is being processed."},
        422: {"model": Problem},
        **_ERRORS,
    },
)
def delete_video(
    ctx: Ctx,
    user: Admin,
    video_id: int,
    reason: Annotated[
        str,
        Query(
            description="Why (a takedown, the uploader deleted it, an erasure request); audited.",
            min_length=1,
            max_length=MAX_REASON,
        ),
    ],
) -> Removal:
    """Remove the video for good: its labels, predictions, vectors, transcript, keyframes and
    media (kept where a copy of the same bytes uses them). The audit log records who and why;
    webhook subscribers hear ``video.removed``. 409 while it is being processed."""
    removed = remove_video(
        ctx.db, settings=ctx.settings, video_id=video_id, user=user, reason=reason
    )
    return Removal(
        id=removed.video_id,
        title=removed.title,
        files_deleted=removed.files_deleted,
        files_kept=removed.files_kept,
        files_left=removed.files_left,
    )


@router.get("/{video_id}/history", response_model=list[HistoryEntry], responses=_ERRORS)
def get_history(
    ctx: Ctx,
    user: Admin,
    video_id: int,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 100,
) -> list[HistoryEntry]:
    """What was done to the video, newest first: its audit trail (reviews, label changes, claims,
    flags, blind answers, lead verdicts, its removal). Kept after the video is removed, so a
    takedown can be shown afterwards; 404 only for an id nothing was ever recorded about."""
    with ctx.db.session() as session:
        rows = audit_q.list_audit(session, video_id=video_id, limit=limit)
        if not rows:
            videos_q.get_video(session, video_id=video_id)  # 404 for an unknown id
        entries = audit_feed.feed_entries(session, rows)
    return [
        HistoryEntry(at=e.at, action=e.action, account=e.account, tag=e.tag, detail=e.detail)
        for e in entries
    ]


# --- helpers ------------------------------------------------------------------------------------


def etag(version: int) -> str:
    """The ETag of a video's label version (If-Match of a label write)."""
    return f'"{version}"'


def _parse_etag(header: str) -> int | None:
    value = header.strip().removeprefix("W/").strip('"')
    return int(value) if value.isdigit() and len(value) < 12 else None


def _encode_cursor(video_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{video_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "v1" and number.isdigit() and len(number) < 12 else None


def video_out(session: Session, *, video_id: int, with_tree: bool) -> VideoOut:
    """The video as the API shows it (404 when there is none)."""
    details = get_video_details(session, video_id=video_id)
    blind = quality.is_answered_blind(session, details.video)
    targets = review_q.review_targets(session)
    return _video_out(details, with_tree=with_tree, blind=blind, targets=targets)


def _video_out(
    details: VideoDetails, *, with_tree: bool, blind: bool, targets: dict[ReviewPriority, float]
) -> VideoOut:
    video = details.video
    predicted = [p for p in details.predictions if p.predicted]
    covered = {parent for p in predicted for parent in p.parent_ids}
    return VideoOut(
        id=video.id,
        external_id=video.external_id,
        title=video.title,
        description=video.description,
        status=video.status,
        error=video.error,
        duration_s=video.duration_s,
        spoken_language=video.spoken_language,
        spoken_language_probability=video.spoken_language_probability,
        created_at=video.created_at,
        updated_at=video.updated_at,
        version=video.version,
        priority=PriorityOut(
            level=review.priority_name(video.priority),
            reason=video.priority_reason,
            since=video.prioritized_at,
            due=review.review_due(video, targets),
        ),
        media_deleted_at=video.media_deleted_at,
        model_version=video.predicted_model_id,
        tags=[
            Tag(path=p.path, probability=p.probability)
            for p in predicted
            if p.node_id not in covered
        ],
        least_sure_about=next(
            (p.path for p in details.predictions if p.node_id == video.doubt_tag), None
        ),
        tree=_tree(details.predictions) if with_tree else None,
        review=Review(
            reviewed=video.reviewed_at is not None,
            reviewed_by=details.reviewed_by,
            reviewed_at=video.reviewed_at,
            labels=[
                LabelOut(
                    path=label.path,
                    source=label.source,
                    created_by=label.created_by,
                    created_at=label.created_at,
                )
                for label in details.labels
            ],
            blind=blind,
            flag_reason=video.flag_reason if video.flagged else None,
        ),
    )


def _tree(predictions: list[PredictedTag]) -> list[TagNode]:
    """Stored tags nested under their stored parents (under each parent of a DAG node); tags
    whose parents were below the storage floor are roots. Most probable first at each level."""
    children: dict[str | None, list[PredictedTag]] = {}
    for p in predictions:
        for parent in p.parent_ids or (None,):
            children.setdefault(parent, []).append(p)

    def build(parent: str | None) -> list[TagNode]:
        return [
            TagNode(
                path=p.path,
                probability=p.probability,
                predicted=p.predicted,
                children=build(p.node_id),
            )
            for p in sorted(children.get(parent, []), key=lambda p: (-p.probability, p.path))
        ]

    return build(None)
