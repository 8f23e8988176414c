"""Videos and their derived media rows (transcript, keyframes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, text, update
from sqlmodel import Session, col, select

from db.queries import DuplicateError, NotFoundError, dump_json
from db.tables import (
    NO_SPEECH,
    Embedding,
    Keyframe,
    Label,
    LeadReview,
    OnscreenText,
    OverlapAnswer,
    Prediction,
    QueueRanking,
    Transcript,
    Video,
    VideoStatus,
    utcnow,
)

_STATUSES = {status.value for status in VideoStatus}
_NAMES_PER_QUERY = 500  # bound on one IN list (a prefix may hold millions of objects)


@dataclass(frozen=True)
class StoredMedia:
    """Where ingest stored a file and what it holds (the ``Video`` media columns)."""

    content_hash: str
    stored_path: str
    duration_s: float | None
    width: int | None
    height: int | None
    has_audio: bool
    has_video: bool


@dataclass(frozen=True)
class PredictionSummary:
    """Denormalised per-video summary of one model's prediction (queue sorting)."""

    video_id: int
    uncertainty: float
    top_tag: str | None
    doubt_tag: str | None = None  # the tag whose decision is the closest call


def _check_status(status: str) -> str:
    if status not in _STATUSES:
        raise ValueError(f"unknown video status {status!r}; expected one of {sorted(_STATUSES)}")
    return str(status)


def create_video(
    session: Session,
    *,
    title: str = "",
    description: str = "",
    external_id: str | None = None,
    stored_path: str | None = None,
    original_name: str | None = None,
    content_hash: str | None = None,
    status: str = VideoStatus.NEW,
) -> Video:
    if external_id is not None and find_video_by_external_id(session, external_id=external_id):
        raise DuplicateError(f"a video with id {external_id!r} already exists")
    video = Video(
        title=title,
        description=description,
        external_id=external_id,
        stored_path=stored_path,
        original_name=original_name,
        content_hash=content_hash,
        status=_check_status(status),
    )
    session.add(video)
    session.flush()
    return video


def add_videos(session: Session, *, videos: Sequence[Video]) -> None:
    """Insert new videos, each with its own external id, and set their ids. The ORM inserts
    rows whose key comes from a sequence one statement at a time (it must match each returned
    key to its object): importing 3,000 dataset rows spent 4.7 of its 8 s on those statements,
    each batch holding the DuckDB lock meanwhile. A Core executemany with RETURNING goes out in
    multi-row pages, and the external ids match the keys to the videos."""
    by_external_id = {video.external_id: video for video in videos}
    if None in by_external_id or len(by_external_id) != len(videos):
        raise ValueError("add_videos needs a distinct external id on every video")
    if not videos:
        return
    table = Video.__table__
    inserted = session.connection().execute(
        table.insert().returning(table.c.id, table.c.external_id),
        [video.model_dump(exclude={"id"}) for video in videos],
    )
    for video_id, external_id in inserted:
        by_external_id[external_id].id = video_id


def get_video(session: Session, *, video_id: int) -> Video:
    video = session.get(Video, video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    return video


def get_videos(session: Session, *, video_ids: Sequence[int]) -> list[Video]:
    """The named videos in id order (missing ids are left out)."""
    if not video_ids:
        return []
    query = select(Video).where(col(Video.id).in_(set(video_ids))).order_by(col(Video.id))
    return list(session.exec(query))


def find_video_by_external_id(session: Session, *, external_id: str) -> Video | None:
    return session.exec(select(Video).where(Video.external_id == external_id)).first()


def find_videos_by_external_ids(
    session: Session, *, external_ids: Iterable[str]
) -> dict[str, Video]:
    wanted = set(external_ids)
    if not wanted:
        return {}
    rows = session.exec(select(Video).where(col(Video.external_id).in_(wanted)))
    return {video.external_id: video for video in rows if video.external_id is not None}


def find_videos_by_original_names(session: Session, *, names: Iterable[str]) -> list[Video]:
    """Every video recorded under one of ``names`` (an object's URI names the videos ingested
    from it, one per content it had), in id order; a few hundred names per query."""
    wanted = sorted(set(names))
    found: list[Video] = []
    for start in range(0, len(wanted), _NAMES_PER_QUERY):
        chunk = wanted[start : start + _NAMES_PER_QUERY]
        found += session.exec(select(Video).where(col(Video.original_name).in_(chunk)))
    return sorted(found, key=lambda video: video.id)


def set_source_object(
    session: Session, *, video_id: int, size: int, modified_at: datetime | None
) -> None:
    """Record the object a video was ingested from as the store listed it (size, last-modified
    time), so that the next run can skip it unchanged."""
    video = get_video(session, video_id=video_id)
    video.source_size = size
    video.source_modified_at = modified_at
    session.add(video)
    session.flush()


def find_video_by_hash(
    session: Session, *, content_hash: str, exclude_id: int | None = None
) -> Video | None:
    """The oldest video with these bytes (duplicate detection), optionally not ``exclude_id``."""
    query = select(Video).where(Video.content_hash == content_hash)
    if exclude_id is not None:
        query = query.where(Video.id != exclude_id)
    return session.exec(query.order_by(col(Video.id))).first()


def media_to_expire(session: Session, *, reviewed_before: datetime, limit: int) -> list[Video]:
    """Reviewed videos reviewed before ``reviewed_before`` whose media file is still kept, the
    oldest review first (media retention, core/retention.py)."""
    return list(
        session.exec(
            select(Video)
            .where(
                col(Video.status) == VideoStatus.REVIEWED,
                col(Video.reviewed_at) < reviewed_before,
                col(Video.media_deleted_at).is_(None),
                col(Video.stored_path).is_not(None),
            )
            .order_by(col(Video.reviewed_at), col(Video.id))
            .limit(limit)
        )
    )


def mark_media_deleted(session: Session, *, video_ids: Sequence[int], at: datetime) -> None:
    session.exec(
        update(Video).where(col(Video.id).in_(list(video_ids))).values(media_deleted_at=at)
    )


def restore_media(session: Session, *, video_id: int) -> None:
    """The video's media file is back (its bytes ingested or uploaded again after retention)."""
    session.exec(update(Video).where(col(Video.id) == video_id).values(media_deleted_at=None))


def media_kept_for(session: Session, *, content_hashes: Iterable[str]) -> set[str]:
    """Those of ``content_hashes`` a video still keeps its media of (copies share the file)."""
    hashes = list(set(content_hashes))
    if not hashes:
        return set()
    kept = select(Video.content_hash).where(
        col(Video.content_hash).in_(hashes), col(Video.media_deleted_at).is_(None)
    )
    return set(session.exec(kept.distinct()).all())


def list_videos(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    limit: int | None = None,
    after_id: int | None = None,
) -> list[Video]:
    """Videos in id order, optionally only some statuses; page with ``after_id`` (keyset)."""
    query = select(Video)
    if statuses:
        query = query.where(col(Video.status).in_([_check_status(s) for s in statuses]))
    if after_id is not None:
        query = query.where(col(Video.id) > after_id)
    query = query.order_by(col(Video.id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def list_videos_for_ingest(session: Session, *, limit: int | None = None) -> list[Video]:
    """Videos still to process: status ``new`` or an interrupted ``processing``."""
    return list_videos(session, statuses=[VideoStatus.NEW, VideoStatus.PROCESSING], limit=limit)


def list_video_ids(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    without_spoken_language: bool = False,
) -> list[int]:
    """Ids in order, optionally only some statuses, or only videos whose spoken language is not
    known."""
    query = select(Video.id)
    if statuses:
        query = query.where(col(Video.status).in_([_check_status(s) for s in statuses]))
    if without_spoken_language:
        query = query.where(col(Video.spoken_language).is_(None))
    return list(session.exec(query.order_by(col(Video.id))))


def list_transcribed_speech_ids(
    session: Session, *, statuses: Sequence[str], source: str, other_than: Sequence[str]
) -> list[int]:
    """Ids in order of videos with a transcript from ``source`` over speech whose language is
    known and not one of ``other_than``."""
    query = (
        select(Video.id)
        .join(Transcript, col(Transcript.video_id) == col(Video.id))
        .where(col(Video.status).in_([_check_status(s) for s in statuses]))
        .where(Transcript.source == source)
        .where(col(Video.spoken_language).is_not(None))
        .where(col(Video.spoken_language).not_in(list(other_than)))
    )
    return list(session.exec(query.order_by(col(Video.id))))


def spoken_languages(session: Session) -> list[str]:
    """The spoken languages detected in videos so far (no speech left out), sorted."""
    spoken = col(Video.spoken_language)
    query = select(spoken).where(spoken.is_not(None), spoken != NO_SPEECH).distinct()
    return sorted(session.exec(query))


def count_videos(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Video)).one()


def count_videos_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Video.status, func.count()).group_by(Video.status))
    return {status: n for status, n in rows}


def set_status(session: Session, *, video_id: int, status: str, error: str | None = None) -> Video:
    """Move a video to ``status``; ``error`` (first line kept) is cleared unless given. A video
    leaving ``predicted`` (processed again, failed) loses its review rank: ranks belong to the
    pool of videos waiting for review."""
    video = get_video(session, video_id=video_id)
    video.status = _check_status(status)
    if video.status != VideoStatus.PREDICTED:
        video.review_rank = None
    video.error = error.strip().splitlines()[0][:500] if error and error.strip() else None
    video.updated_at = utcnow()
    session.add(video)
    session.flush()
    return video


def set_media_info(session: Session, *, video_id: int, info: StoredMedia) -> Video:
    video = get_video(session, video_id=video_id)
    video.content_hash = info.content_hash
    video.stored_path = info.stored_path
    video.duration_s = info.duration_s
    video.width = info.width
    video.height = info.height
    video.has_audio = info.has_audio
    video.has_video = info.has_video
    video.updated_at = utcnow()
    session.add(video)
    session.flush()
    return video


def set_modality_notes(session: Session, *, video_id: int, notes: Sequence[dict]) -> Video:
    """Replace what ingest noted per modality (``{"modality", "status", "detail"}`` dicts)."""
    video = get_video(session, video_id=video_id)
    video.modality_notes_json = dump_json(list(notes))
    session.add(video)
    session.flush()
    return video


def update_text(
    session: Session, *, video_id: int, title: str | None = None, description: str | None = None
) -> Video:
    video = get_video(session, video_id=video_id)
    if title is not None:
        video.title = title
    if description is not None:
        video.description = description
    video.updated_at = utcnow()
    session.add(video)
    session.flush()
    return video


def set_prediction_summaries(
    session: Session, *, model_version_id: int, summaries: Sequence[PredictionSummary]
) -> int:
    """Store each video's uncertainty/top tag from ``model_version_id``; ``new``/``ready``/
    ``processing`` videos become ``predicted`` (reviewed and failed keep their status). Their
    review ranks are cleared: they belonged to the previous prediction."""
    now = utcnow()
    if summaries:
        session.execute(
            update(Video),
            [
                {
                    "id": s.video_id,
                    "predicted_model_id": model_version_id,
                    "uncertainty": float(s.uncertainty),
                    "top_tag": s.top_tag,
                    "doubt_tag": s.doubt_tag,
                    "review_rank": None,
                    "updated_at": now,
                }
                for s in summaries
            ],
        )
    ids = [s.video_id for s in summaries]
    if ids:
        session.exec(
            update(Video)
            .where(col(Video.id).in_(ids))
            .where(
                col(Video.status).in_([VideoStatus.READY, VideoStatus.NEW, VideoStatus.PROCESSING])
            )
            .values(status=VideoStatus.PREDICTED)
        )
    session.flush()
    return len(summaries)


def review_pool_ids(session: Session, *, model_version_id: int) -> list[int]:
    """Ids (ascending) of the videos waiting for review with a prediction of
    ``model_version_id``: the pool the review queue's order is chosen over."""
    query = select(Video.id).where(*_review_pool(model_version_id))
    return list(session.exec(query.order_by(col(Video.id))))


def unpredicted_pool_ids(session: Session) -> list[int]:
    """Ids (ascending) of the processed videos no model has predicted (status ready): the pool
    the review queue's order is chosen over before the first model."""
    query = select(Video.id).where(*_review_pool(None))
    return list(session.exec(query.order_by(col(Video.id))))


def _review_pool(model_version_id: int | None) -> list[ColumnElement[bool]]:
    """The conditions of the pool the review queue's order is chosen over: the videos waiting
    for review with a prediction of ``model_version_id``; with None, before the first model,
    the processed videos no model has predicted."""
    if model_version_id is None:
        return [col(Video.status) == VideoStatus.READY, col(Video.predicted_model_id).is_(None)]
    return [
        col(Video.status) == VideoStatus.PREDICTED,
        col(Video.predicted_model_id) == model_version_id,
    ]


def set_review_ranks(
    session: Session,
    *,
    model_version_id: int | None,
    ranked_ids: Sequence[int],
    pool_read_at: datetime,
    ranked_by: str,
    neighbour_agreement: float | None = None,
) -> int:
    """Make ``ranked_ids`` the review queue's order (``review_rank`` 0, 1, ...), clear every
    other rank, and record the ranking (:func:`record_queue_ranking`; ``pool_read_at``: when the
    ranking read its pool; ``ranked_by``: "badge" or "coverage"; ``neighbour_agreement``: what
    decided it at a cold start, where measured). A video re-predicted by another
    version meanwhile (with ``model_version_id`` None: predicted, or no longer ready, meanwhile)
    is left unranked. Returns the videos ranked."""
    session.exec(update(Video).where(col(Video.review_rank).is_not(None)).values(review_rank=None))
    ranked = _write_review_ranks(session, model_version_id, ranked_ids)
    record_queue_ranking(
        session,
        at=pool_read_at,
        model_version_id=model_version_id,
        videos=ranked,
        ranked_by=ranked_by,
        neighbour_agreement=neighbour_agreement,
    )
    return ranked


def _write_review_ranks(
    session: Session, model_version_id: int | None, ranked_ids: Sequence[int]
) -> int:
    if not ranked_ids:
        return 0
    # one statement joining two arrays: row-by-row executemany takes minutes for 100,000 on DuckDB
    ranked = {"ids": [int(v) for v in ranked_ids], "ranks": list(range(len(ranked_ids)))}
    if model_version_id is None:
        still = "video.predicted_model_id IS NULL AND video.status = :ready"
        params = {**ranked, "ready": VideoStatus.READY.value}
    else:
        still = "video.predicted_model_id = :version"
        params = {**ranked, "version": model_version_id}
    result = session.execute(
        text(
            "UPDATE video SET review_rank = ranked.at_rank "
            "FROM (SELECT unnest(CAST(:ids AS BIGINT[])) AS video_id, "
            "unnest(CAST(:ranks AS INTEGER[])) AS at_rank) AS ranked "
            f"WHERE video.id = ranked.video_id AND {still}"
        ),
        params,
    )
    session.flush()
    return int(result.rowcount)


def record_queue_ranking(
    session: Session,
    *,
    at: datetime,
    model_version_id: int | None,
    videos: int,
    ranked_by: str | None,
    neighbour_agreement: float | None = None,
) -> QueueRanking:
    """Note the review queue's latest ranking: its pool read at ``at``, of ``model_version_id``
    (None: before the first model), ``videos`` ranked ``ranked_by`` ("badge", "coverage"; None:
    nothing could be ranked), with the cold start's ``neighbour_agreement`` where measured."""
    row = session.get(QueueRanking, 1) or QueueRanking(id=1)
    row.ranked_at, row.model_version_id, row.videos = at, model_version_id, videos
    row.ranked_by, row.neighbour_agreement = ranked_by, neighbour_agreement
    session.add(row)
    session.flush()
    return row


def confirm_queue_ranking(
    session: Session, *, at: datetime, model_version_id: int | None
) -> QueueRanking:
    """A ranking read the pool at ``at`` and found nothing to rank: the order stands as it was
    (of ``model_version_id`` when there was none), and the videos that arrived before ``at``
    are not waiting for a ranking any more."""
    row = session.get(QueueRanking, 1) or QueueRanking(id=1, model_version_id=model_version_id)
    row.ranked_at = at
    session.add(row)
    session.flush()
    return row


def get_queue_ranking(session: Session) -> QueueRanking | None:
    """The review queue's latest ranking, or None before the first."""
    return session.get(QueueRanking, 1)


def unranked_arrivals(
    session: Session, *, model_version_id: int | None, since: datetime | None
) -> tuple[int, datetime | None]:
    """How many videos reached the review pool of ``model_version_id`` (None: the processed,
    unpredicted videos before the first model) after ``since`` (None: ever) and have no rank,
    and when the first of them arrived (None when none did)."""
    query = select(func.count(), func.min(Video.updated_at)).where(
        *_review_pool(model_version_id), col(Video.review_rank).is_(None)
    )
    if since is not None:
        query = query.where(col(Video.updated_at) > since)
    count, first = session.exec(query).one()
    return int(count), first


def delete_videos(session: Session, *, video_ids: Sequence[int]) -> None:
    """Remove videos and every row that belongs to them (labels, media rows, vectors,
    predictions, blind overlap answers, lead verdicts); the audit log keeps its history and the
    webhook log what was sent. Used to undo a failed import and by ``core.removal``."""
    ids = list(set(video_ids))
    if not ids:
        return
    tables = (
        Label,
        Prediction,
        Embedding,
        Keyframe,
        Transcript,
        OnscreenText,
        OverlapAnswer,
        LeadReview,
    )
    for table in tables:
        session.exec(delete(table).where(col(table.video_id).in_(ids)))
    session.exec(delete(Video).where(col(Video.id).in_(ids)))


# --- transcript and keyframes -------------------------------------------------------------------


def put_transcript(
    session: Session,
    *,
    video_id: int,
    source: str,
    text: str,
    language: str | None = None,
    segments: Sequence[dict] = (),
    encoding: str | None = None,
) -> Transcript:
    """Insert or replace the video's transcript; ``encoding``: what subtitle bytes were read as."""
    transcript = session.get(Transcript, video_id) or Transcript(video_id=video_id, source=source)
    transcript.source = str(source)
    transcript.text = text
    transcript.language = language
    transcript.encoding = encoding
    transcript.segments_json = dump_json(list(segments))
    session.add(transcript)
    session.flush()
    return transcript


def set_spoken_language(
    session: Session, *, video_id: int, language: str | None, probability: float | None
) -> Video:
    """Record (or clear, with None) the language detected in the video's speech."""
    video = get_video(session, video_id=video_id)
    video.spoken_language = language
    video.spoken_language_probability = probability if language else None
    session.add(video)
    session.flush()
    return video


def get_transcript(session: Session, *, video_id: int) -> Transcript | None:
    return session.get(Transcript, video_id)


def put_onscreen_text(
    session: Session, *, video_id: int, languages: str, text: str, segments: Sequence[dict]
) -> OnscreenText:
    """Insert or replace what OCR read on the video's keyframes."""
    row = session.get(OnscreenText, video_id) or OnscreenText(
        video_id=video_id, languages=languages
    )
    row.languages = languages
    row.text = text
    row.segments_json = dump_json(list(segments))
    session.add(row)
    session.flush()
    return row


def get_onscreen_text(session: Session, *, video_id: int) -> OnscreenText | None:
    return session.get(OnscreenText, video_id)


def replace_keyframes(
    session: Session, *, video_id: int, frames: Sequence[tuple[float, str]]
) -> list[Keyframe]:
    """Store ``(timestamp_s, thumbnail_path)`` in order as the video's keyframes."""
    session.exec(delete(Keyframe).where(col(Keyframe.video_id) == video_id))
    rows = [
        Keyframe(video_id=video_id, idx=i, timestamp_s=t, thumbnail_path=p)
        for i, (t, p) in enumerate(frames)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def get_keyframes(session: Session, *, video_id: int) -> list[Keyframe]:
    query = select(Keyframe).where(Keyframe.video_id == video_id).order_by(col(Keyframe.idx))
    return list(session.exec(query))


def insert_synthetic_videos(session: Session, *, n: int, prefix: str = "syn-") -> int:
    """Bulk-insert ``n`` synthetic predicted videos (random uncertainty) for benchmarks and load
    tests, in one statement; external ids are ``<prefix><i>``."""
    bind = session.get_bind()
    series = (
        "range(:n) AS s(i)"
        if bind.dialect.name == "duckdb"
        else "generate_series(0, :n - 1) AS s(i)"
    )
    statuses = (
        "CASE WHEN i % 10 = 0 THEN 'reviewed' WHEN i % 10 = 1 THEN 'new' ELSE 'predicted' END"
    )
    session.execute(
        text(
            "INSERT INTO video (external_id, title, description, status, created_at, updated_at, "
            "version, flagged, uncertainty, top_tag, predicted_model_id) "
            "SELECT :prefix || CAST(i AS VARCHAR), 'Synthetic video ' || CAST(i AS VARCHAR), '', "
            f"{statuses}, "
            "now(), now(), 0, false, random(), CAST(483 + i % 50 AS VARCHAR), 1 "
            f"FROM {series}"
        ),
        {"n": n, "prefix": prefix},
    )
    return n
