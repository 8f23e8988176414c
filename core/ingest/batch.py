"""Batch ingestion: files, folders, dataset CSVs and pending videos -> stored, embedded videos.

Per video: content hash (dedupe), a copy under ``media_dir/<hash><ext>``, probe, keyframes with
thumbnails, 16 kHz audio, subtitles (sidecar .srt/.vtt, else an embedded text stream, else a
Whisper transcript) and one embedding per modality. Embeddings are cached by
``(modality, encoder id, encoder version, input hash)`` and the cache is checked BEFORE anything is
decoded: a duplicate of an already processed file copies its artifacts and vectors without
touching the media, and unchanged titles/descriptions are never re-encoded.

The pipeline itself (planning, extraction threads, batched encoding, storing) lives in
:mod:`core.ingest.pipeline`; this module registers the inputs and drives it.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session

from core.config import Settings
from core.encoders import Encoder
from core.ingest import object_inputs
from core.ingest.extract import relative_path
from core.ingest.formats import VIDEO_EXTENSIONS
from core.ingest.inputs import (
    SKIPPED,
    FolderScan,
    IngestError,
    InputFile,
    ObjectVersion,
    scan_folder,
)
from core.ingest.pipeline import (
    DONE_STATUSES,
    EmbeddingError,
    IngestResult,
    Pipeline,
    ProgressCallback,
    reason_of,
)
from core.media import decode as media
from core.media.subtitles import find_sidecar_subtitles
from core.media.transcribe import Transcriber
from db.engine import Database
from db.queries import Actor, NotFoundError
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, Video, VideoStatus, WebhookEvent

__all__ = [
    "DUPLICATE",
    "SKIPPED",
    "EmbeddingError",
    "FolderScan",
    "IngestError",
    "IngestReport",
    "IngestResult",
    "StoredUpload",
    "UploadConflict",
    "UploadRejected",
    "UploadTooLarge",
    "ingest_paths",
    "ingest_upload",
    "process_upload",
    "receive_upload",
    "scan_folder",
]

DUPLICATE = "duplicate"  # result status: the same bytes were already processed
_EVENTS = {
    VideoStatus.PREDICTED: WebhookEvent.VIDEO_PREDICTED,
    VideoStatus.FAILED: WebhookEvent.VIDEO_FAILED,
}


class UploadRejected(IngestError):
    """An upload refused before anything was stored (too large, not a playable video)."""


class UploadTooLarge(UploadRejected):
    """The upload is larger than ``Settings.max_upload_mb``."""


class UploadConflict(UploadRejected):
    """The upload's external id already names a video with different content."""


@dataclass(frozen=True)
class StoredUpload:
    """An accepted upload: the video to process, or (``duplicate``) the existing one it matches."""

    video_id: int
    duplicate: bool
    duration_s: float | None = None


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    predicted: int = 0  # videos given predictions by the active model afterwards
    problems: list[str] = field(default_factory=list)  # dataset rows imported with problems

    @property
    def totals(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.results))

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == VideoStatus.FAILED]

    @property
    def video_seconds(self) -> float:
        """Seconds of video processed by this run (duplicates and skips excluded)."""
        return sum(r.duration_s or 0.0 for r in self.results if r.status in DONE_STATUSES)


# --- public entry points ------------------------------------------------------------------------


def ingest_paths(
    db: Database,
    paths: Sequence[str | Path],
    *,
    settings: Settings,
    videos_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    encoder: Encoder | None = None,
    transcriber: Transcriber | None = None,
    pipeline: Pipeline | None = None,
) -> IngestReport:
    """Ingest files, folders (recursively), dataset CSVs and objects named by URI
    (``s3://bucket/prefix/``, ``s3://bucket/key.mp4``: :mod:`.object_inputs`), plus videos
    pending in the database.

    ``videos_dir`` holds the media of CSV rows (``<video_id>.<ext>``); by default a ``videos/``
    folder beside each CSV. ``encoder``/``transcriber`` default to the configured ones, loaded
    only when something needs them. ``pipeline`` processes the registered videos: by default this
    machine's; :class:`core.ingest.distributed.RayPipeline` runs the stages on a Ray cluster.
    Objects are downloaded into a temporary folder of the media folder, removed on return (also
    on failure); those unchanged since their video was ingested are not downloaded.
    """
    started = time.perf_counter()
    settings.ensure_dirs()
    report = IngestReport()
    search_dirs = [videos_dir] if videos_dir is not None else []
    if pipeline is None:
        pipeline = Pipeline(db, settings, encoder=encoder, transcriber=transcriber)
    with tempfile.TemporaryDirectory(dir=settings.media_dir, prefix=".incoming-") as downloads:
        inputs = _Inputs(paths, videos_dir, Path(downloads), pipeline.encoder_key)
        files = inputs.collect(db, report, search_dirs)
        sidecars: dict[int, Path] = {}
        video_ids: list[int] = []
        outcomes = _register_files(db, files, settings, pipeline)
        for file, outcome in zip(files, outcomes, strict=True):
            if isinstance(outcome, IngestResult):
                report.results.append(outcome)
                continue
            if outcome in video_ids:  # the same bytes twice in this batch
                report.results.append(
                    IngestResult(file.name, DUPLICATE, video_id=outcome, duplicate_of=outcome)
                )
                continue
            video_ids.append(outcome)
            sidecar = find_sidecar_subtitles(file.path)
            if sidecar is not None:
                sidecars[outcome] = sidecar
        with db.session() as session:
            pending = [
                v.id for v in videos_q.list_videos_for_ingest(session) if v.id not in video_ids
            ]
        for video_id in pending:
            outcome = _attach_or_fail(db, video_id, settings, search_dirs)
            if isinstance(outcome, IngestResult):
                report.results.append(outcome)
            else:
                video_ids.append(video_id)
                if outcome is not None:
                    sidecars[video_id] = outcome
        report.results.extend(pipeline.run(video_ids, sidecars, progress))
    report.predicted = _predict_new(db, settings, report.results)
    report.wall_seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class _Inputs:
    """What one ingest was asked for: ``paths`` (local or URIs), the folder of the CSVs' videos,
    the folder objects are downloaded into, and the encoder whose vectors make a video done."""

    paths: Sequence[str | Path]
    videos_dir: Path | None
    downloads: Path
    encoder_key: tuple[str, str]

    def collect(
        self, db: Database, report: IngestReport, search_dirs: list[Path]
    ) -> list[InputFile]:
        """The files to register: local files, folders' files and the URIs' objects downloaded
        (unless unchanged since ingested); dataset CSVs are imported (their folders join
        ``search_dirs``); what is left out goes into ``report``."""
        uris = [str(raw) for raw in self.paths if object_inputs.is_uri(raw)]
        listing = object_inputs.list_objects(uris, self.downloads)  # errors: before any import
        unchanged = _unchanged_objects(db, listing.versions, self.encoder_key)
        objects = object_inputs.fetch_objects(listing, leave_out=unchanged.keys())
        files = objects.files
        report.results.extend(objects.results)
        report.results.extend(unchanged.values())
        for raw in self.paths:
            if not object_inputs.is_uri(raw):
                files.extend(self._local(db, Path(raw), report, search_dirs))
        return files

    def _local(
        self, db: Database, path: Path, report: IngestReport, search_dirs: list[Path]
    ) -> list[InputFile]:
        if path.is_dir():
            scan = scan_folder(path)
            report.results.extend(scan.skipped)
            return [InputFile.local(file) for file in scan.files]
        if path.suffix.lower() == ".csv" and path.is_file():
            report.problems.extend(_import_dataset(db, path, self.videos_dir))
            if self.videos_dir is None:
                search_dirs.append(path.parent / "videos")
            return []
        if path.is_file():
            return [InputFile.local(path)]
        report.results.append(
            IngestResult(path.name, VideoStatus.FAILED, reason=f"no such file or folder: {path}")
        )
        return []


def _unchanged_objects(
    db: Database, versions: dict[str, ObjectVersion], encoder_key: tuple[str, str]
) -> dict[str, IngestResult]:
    """The listed objects to leave out, by URI, each with its "already ingested" result: the URI
    names a processed video, recorded from an object of the same size and last-modified time,
    with vectors of the current encoder (else it is downloaded and handled as before)."""
    encoder_id, encoder_version = encoder_key
    with db.session() as session:
        same = [
            video
            for video in videos_q.find_videos_by_original_names(session, names=versions)
            if video.status in DONE_STATUSES and _same_version(video, versions[video.original_name])
        ]
        embedded = embeddings_q.embedded_video_ids(
            session,
            video_ids=[video.id for video in same],
            encoder_id=encoder_id,
            encoder_version=encoder_version,
        )
    return {
        video.original_name: _already_ingested(video.original_name, video)
        for video in same
        if video.id in embedded
    }


def _same_version(video: Video, version: ObjectVersion) -> bool:
    """True when ``video`` was recorded from this version of its object; a store that gives no
    last-modified time is compared by size alone."""
    if video.source_size is None or video.source_size != version.size:
        return False
    recorded = video.source_modified_at
    if version.modified_at is None or recorded is None:
        return version.modified_at is None and recorded is None
    return _utc(recorded) == _utc(version.modified_at)


def _utc(moment: datetime) -> datetime:
    """A time read back from the database or listed by a store, as an aware UTC time (a naive
    one is UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _already_ingested(name: str, video: Video) -> IngestResult:
    return IngestResult(
        name,
        DUPLICATE,
        video_id=video.id,
        duplicate_of=video.id,
        cached=True,
        duration_s=video.duration_s,
        reason="already ingested",
    )


def _attach_or_fail(
    db: Database, video_id: int, settings: Settings, search_dirs: Sequence[Path]
) -> Path | None | IngestResult:
    """:func:`_attach_pending`, with a media file that cannot be stored failing that video."""
    try:
        return _attach_pending(db, video_id, settings, search_dirs)
    except OSError as e:
        reason = f"cannot store the media file: {reason_of(e)}"
        with db.session() as session:
            video = videos_q.set_status(
                session, video_id=video_id, status=VideoStatus.FAILED, error=reason
            )
        return IngestResult(
            video.original_name or video.external_id or f"video {video_id}",
            VideoStatus.FAILED,
            video_id=video_id,
            reason=reason,
        )


def ingest_upload(
    db: Database,
    *,
    data: bytes | BinaryIO,
    filename: str,
    title: str,
    description: str,
    settings: Settings,
    user: Actor | None,
    encoder: Encoder | None = None,
    transcriber: Transcriber | None = None,
) -> IngestResult:
    """Validate (size, probe), store and process one uploaded video in this call (the dashboard's
    upload page): :func:`receive_upload` then :func:`process_upload`.

    An upload whose bytes were already ingested is not stored twice: the result has status
    ``duplicate`` and ``duplicate_of`` set.
    """
    stored = receive_upload(
        db,
        data=data,
        filename=filename,
        title=title,
        description=description,
        settings=settings,
        user=user,
    )
    if stored.duplicate:
        return IngestResult(
            filename,
            DUPLICATE,
            video_id=stored.video_id,
            duplicate_of=stored.video_id,
            cached=True,
            duration_s=stored.duration_s,
        )
    return process_upload(
        db, stored.video_id, settings=settings, encoder=encoder, transcriber=transcriber
    )


def receive_upload(
    db: Database,
    *,
    data: bytes | BinaryIO,
    filename: str,
    title: str,
    description: str,
    settings: Settings,
    user: Actor | None,
    external_id: str | None = None,
) -> StoredUpload:
    """Validate (size, probe), store and register one upload; processing is left to
    :func:`process_upload` (now, or in a background job).

    Raises :class:`UploadRejected` before anything is stored when the upload is too large, not
    a usable video, or its name, title, description or external id holds a NUL character (the
    same rule as dataset imports: PostgreSQL cannot store it). Idempotent on content hash and
    external id: bytes already processed, or an ``external_id`` already given to these bytes,
    answer the existing video with ``duplicate`` set; an ``external_id`` already given to other
    bytes raises :class:`UploadConflict`.
    """
    for what, value in (
        ("file name", filename),
        ("title", title),
        ("description", description),
        ("external id", external_id or ""),
    ):
        if "\x00" in value:
            raise UploadRejected(f"the {what} contains a NUL character (\\x00)")
    settings.ensure_dirs()
    suffix = _safe_suffix(filename)
    temp = _receive(data, settings.media_dir, suffix, settings.max_upload_mb)
    try:
        try:
            info = media.probe(temp)
        except media.MediaError as e:
            raise UploadRejected(f"{filename}: {e.reason}") from e
        if not info.has_video:
            raise UploadRejected(f"{filename}: the file has no video stream")
        digest = media.content_hash(temp)
        with db.session() as session:
            named = (
                videos_q.find_video_by_external_id(session, external_id=external_id)
                if external_id is not None
                else None
            )
            if named is not None:
                if named.content_hash != digest:
                    raise UploadConflict(
                        f"external id {external_id!r} already names video {named.id}, "
                        "whose content is different"
                    )
                taken, existing = named, None
            else:
                existing = videos_q.find_video_by_hash(session, content_hash=digest)
                done = existing is not None and existing.status in DONE_STATUSES
                taken = existing if done else None
            # bytes already taken answer their video, unless retention deleted its media
            if taken is not None and taken.media_deleted_at is None:
                return StoredUpload(taken.id, duplicate=True, duration_s=taken.duration_s)
        stored = settings.media_dir / f"{digest}{suffix}"
        os.replace(temp, stored)
    finally:
        temp.unlink(missing_ok=True)
    with db.session() as session:
        if taken is not None:  # retention deleted its media (core/retention.py): these bytes
            _restore_media(session, taken, digest, relative_path(stored, settings), user)
            return StoredUpload(taken.id, duplicate=True, duration_s=taken.duration_s)
        if existing is not None:  # the same bytes are pending or failed earlier: retry that video
            video_id = existing.id
            videos_q.update_text(
                session,
                video_id=video_id,
                title=title or Path(filename).stem,
                description=description,
            )
            _set_stored(session, existing, digest, relative_path(stored, settings))
        else:
            video_id = videos_q.create_video(
                session,
                title=title or Path(filename).stem,
                description=description,
                external_id=external_id,
                original_name=Path(filename).name,
                content_hash=digest,
                stored_path=relative_path(stored, settings),
            ).id
        audit_q.add_audit(
            session,
            action=AuditAction.IMPORT,
            user=user,
            video_id=video_id,
            detail={"upload": Path(filename).name, "bytes": stored.stat().st_size},
        )
    return StoredUpload(video_id, duplicate=False)


def process_upload(
    db: Database,
    video_id: int,
    *,
    settings: Settings,
    encoder: Encoder | None = None,
    transcriber: Transcriber | None = None,
) -> IngestResult:
    """Process a registered upload (keyframes, audio, transcript, embeddings), predict it with
    the active model, and queue the ``video.predicted`` or ``video.failed`` webhook event."""
    pipeline = Pipeline(db, settings, encoder=encoder, transcriber=transcriber)
    [result] = pipeline.run([video_id], {}, None)
    _predict_new(db, settings, [result])
    with db.session() as session:
        try:
            status = videos_q.get_video(session, video_id=video_id).status
        except NotFoundError:  # removed meanwhile (core.removal): nothing to tell
            return result
        event = _EVENTS.get(status)
        if event is not None:
            webhooks_q.enqueue_video_event(session, event=event, video_id=video_id)
    return result


# --- registering inputs -------------------------------------------------------------------------


def _import_dataset(db: Database, csv_path: Path, videos_dir: Path | None) -> list[str]:
    """Create the CSV's videos (status ``new``) and imported labels; returns the row problems."""
    from core import dataset

    folder = videos_dir if videos_dir is not None else csv_path.parent / "videos"
    try:
        imported = dataset.import_dataset(
            db, csv_path, videos_dir=folder if folder.is_dir() else None
        )
    except (dataset.DatasetError, dataset.DatasetImportError) as e:
        raise IngestError(f"{csv_path.name}: {e}") from e
    return [f"{csv_path.name} row {p.row} ({p.video_id}): {p.message}" for p in imported.problems]


def _register_files(
    db: Database, files: Sequence[InputFile], settings: Settings, pipeline: Pipeline
) -> list[int | IngestResult]:
    """For each file, the video id to process, or the result when there is nothing to do.

    Bytes already processed are a duplicate ("already ingested" when the video was ingested
    under the same name, e.g. the same URI), unless the video has no embeddings of the current
    encoder version yet (the encoder changed): then it is embedded again, keeping its status.
    Two sessions for the whole batch (each session opens the database file anew); an
    unreadable file or a full disk fails that file only.
    """
    outcomes: list[int | IngestResult | None] = [None] * len(files)
    digests: dict[int, str] = {}
    for i, file in enumerate(files):
        try:
            digests[i] = media.content_hash(file.path)
        except OSError as e:
            outcomes[i] = _not_stored(file, e)
    encoder_id, encoder_version = pipeline.encoder_key
    known: dict[str, tuple[Video, bool]] = {}  # digest -> (video, has current embeddings)
    with db.session() as session:
        for digest in set(digests.values()):
            video = videos_q.find_video_by_hash(session, content_hash=digest)
            if video is not None:
                known[digest] = (
                    video,
                    bool(
                        embeddings_q.get_embeddings(
                            session,
                            video_ids=[video.id],
                            encoder_id=encoder_id,
                            encoder_version=encoder_version,
                        )
                    ),
                )
    copies: dict[int, Path] = {}
    restored: dict[str, Path] = {}  # digest -> its media back in the media folder
    for i, digest in digests.items():
        video, embedded = known.get(digest, (None, False))
        if video is not None and video.status in DONE_STATUSES:
            if video.media_deleted_at is not None and digest not in restored:
                try:  # retention deleted its media (core/retention.py): these bytes bring it back
                    restored[digest] = _store_copy(files[i].path, digest, settings)
                except OSError as e:
                    outcomes[i] = _not_stored(files[i], e)
                    continue
            outcomes[i] = (
                video.id
                if not embedded
                else IngestResult(
                    files[i].name,
                    DUPLICATE,
                    video_id=video.id,
                    duplicate_of=video.id,
                    cached=True,
                    duration_s=video.duration_s,
                    reason="already ingested" if video.original_name == files[i].name else None,
                )
            )
            continue
        try:
            copies[i] = _store_copy(files[i].path, digest, settings, move=files[i].temporary)
        except OSError as e:
            outcomes[i] = _not_stored(files[i], e)
    if restored:
        with db.session() as session:
            for digest, stored in restored.items():
                video = known[digest][0]
                _restore_media(session, video, digest, relative_path(stored, settings), None)
    if copies:
        with db.session() as session:
            registered: dict[str, int] = {}  # the same bytes twice in this batch: one video
            for i, stored in copies.items():
                digest = digests[i]
                if digest not in registered:
                    video = known[digest][0] if digest in known else None
                    if (
                        video is not None
                    ):  # interrupted or failed earlier: try again on the same row
                        _set_stored(session, video, digest, relative_path(stored, settings))
                    else:
                        video = videos_q.create_video(
                            session,
                            title=files[i].title,
                            original_name=files[i].name,
                            content_hash=digest,
                            stored_path=relative_path(stored, settings),
                        )
                    registered[digest] = video.id
                outcomes[i] = registered[digest]
    _record_versions(db, files, outcomes)
    return outcomes


def _record_versions(
    db: Database, files: Sequence[InputFile], outcomes: Sequence[int | IngestResult | None]
) -> None:
    """Record the object version of each download that belongs to the video its URI names (a
    new video, or that URI ingested again), so that the next run leaves it out if unchanged."""
    by_video: dict[int, list[InputFile]] = {}
    for file, outcome in zip(files, outcomes, strict=True):
        video_id = outcome.video_id if isinstance(outcome, IngestResult) else outcome
        if file.version is not None and video_id is not None:
            by_video.setdefault(video_id, []).append(file)
    if not by_video:
        return
    with db.session() as session:
        for video in videos_q.get_videos(session, video_ids=list(by_video)):
            for file in by_video[video.id]:
                if video.original_name == file.name and file.version is not None:
                    videos_q.set_source_object(
                        session,
                        video_id=video.id,
                        size=file.version.size,
                        modified_at=file.version.modified_at,
                    )


def _not_stored(file: InputFile, error: OSError) -> IngestResult:
    """An unreadable source or a full disk: this file fails, the batch goes on."""
    return IngestResult(
        file.name, VideoStatus.FAILED, reason=f"cannot store the file: {reason_of(error)}"
    )


def _attach_pending(
    db: Database, video_id: int, settings: Settings, search_dirs: Sequence[Path]
) -> Path | None | IngestResult:
    """Make sure a pending video's media is copied into the media folder; returns its sidecar
    subtitles (or None), or a ``skipped`` result when no media file can be found for it.

    A dataset import records where the user's file is; ingest copies it under its content hash
    and from then on only that copy is read.
    """
    with db.session() as session:
        video = videos_q.get_video(session, video_id=video_id)
    name = video.original_name or video.external_id or f"video {video.id}"
    recorded = Path(video.stored_path) if video.stored_path else None
    if recorded is not None and not recorded.is_absolute():
        return None  # already in the media folder (an upload or an interrupted ingest)
    source = (
        recorded if recorded is not None and recorded.is_file() else _find_media(video, search_dirs)
    )
    if source is None:
        where = ", ".join(str(d) for d in search_dirs) or "give --videos DIR"
        return IngestResult(
            name,
            SKIPPED,
            video_id=video.id,
            reason=f"no media file for video_id {video.external_id!r} ({where})",
        )
    digest = media.content_hash(source)
    stored = _store_copy(source, digest, settings)
    with db.session() as session:
        _set_stored(session, video, digest, relative_path(stored, settings))
    return find_sidecar_subtitles(source)


def _restore_media(
    session: Session, video: Video, digest: str, stored_path: str, user: Actor | None
) -> None:
    """Point a video whose media retention deleted at its bytes again; audited."""
    _set_stored(session, video, digest, stored_path)
    videos_q.restore_media(session, video_id=video.id)
    audit_q.add_audit(
        session, action=AuditAction.MEDIA_RESTORED, user=user, video_id=video.id, detail={}
    )


def _set_stored(session: Session, video: Video, digest: str, stored_path: str) -> None:
    """Point a video at its copy in the media folder (probe results come later)."""
    videos_q.set_media_info(
        session,
        video_id=video.id,
        info=videos_q.StoredMedia(
            content_hash=digest,
            stored_path=stored_path,
            duration_s=video.duration_s,
            width=video.width,
            height=video.height,
            has_audio=bool(video.has_audio),
            has_video=bool(video.has_video),
        ),
    )


def _find_media(video: Video, search_dirs: Sequence[Path]) -> Path | None:
    if not video.external_id:
        return None
    for folder in search_dirs:
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.glob(f"{glob.escape(video.external_id)}.*")):
            if candidate.suffix.lower() in VIDEO_EXTENSIONS and candidate.stem == video.external_id:
                return candidate
    return None


def _store_copy(source: Path, digest: str, settings: Settings, *, move: bool = False) -> Path:
    """Copy into ``media_dir/<hash><ext>`` atomically (temp file + rename); idempotent. With
    ``move``, ``source`` is a download in the media folder's temporary folder (the same
    filesystem): it is renamed into place instead of copied."""
    target = settings.media_dir / f"{digest}{_safe_suffix(source.name)}"
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return target
    if move:
        os.replace(source, target)
        return target
    fd, temp = tempfile.mkstemp(dir=settings.media_dir, prefix=".incoming-")
    os.close(fd)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)
    return target


def _receive(data: bytes | BinaryIO, folder: Path, suffix: str, max_mb: int) -> Path:
    """Write an upload to a temp file in ``folder``, refusing it past ``max_mb``."""
    limit = max_mb * 1024 * 1024
    fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=suffix)
    temp = Path(name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            chunks: Iterable[bytes] = (
                [data]
                if isinstance(data, bytes | bytearray)
                else iter(lambda: data.read(1 << 20), b"")
            )
            for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise UploadTooLarge(f"the file is larger than the {max_mb} MB upload limit")
                out.write(chunk)
        if written == 0:
            raise UploadRejected("the file is empty")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _safe_suffix(filename: str) -> str:
    """The lower-case extension when it is plain (``.mp4``), else none: names never reach paths."""
    suffix = Path(filename).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def _predict_new(db: Database, settings: Settings, results: Sequence[IngestResult]) -> int:
    """Predict freshly ingested videos with the active model, when there is one.

    Without one (a fresh install) the prediction code is not even imported: it imports torch,
    which a Ray driver has not loaded otherwise (2.4 s in a 24-video ``tagger ingest --ray``)."""
    ready = [r.video_id for r in results if r.status in DONE_STATUSES]
    if not ready:
        return 0
    with db.session() as session:
        if models_q.get_active_model(session) is None:
            return 0
    from core.lifecycle import prediction

    return prediction.predict_with_active_model(db, settings=settings, video_ids=ready)
