"""Batch ingestion: files, folders, dataset CSVs and pending videos -> stored, embedded videos.

Per video: content hash (dedupe), a copy under ``media_dir/<hash><ext>``, probe, keyframes with
thumbnails, 16 kHz audio, subtitles (sidecar .srt/.vtt, else an embedded text stream, else a
Whisper transcript) and one embedding per modality. Embeddings are cached by
``(modality, encoder id, encoder version, input hash)`` and the cache is checked BEFORE anything is
decoded: a duplicate of an already processed file copies its artifacts and vectors without
touching the media, and unchanged titles/descriptions are never re-encoded.

Work overlaps: two threads decode/extract (PyAV and CTranslate2 release the GIL) while the calling
thread encodes finished items in batches with ``encode_batch`` and writes each video in one short
database session. A video is ``processing`` while worked on and gets its final status in the same
session that stores its results, so a killed batch re-run skips finished videos and redoes only
the interrupted ones. One bad file fails alone, with its reason stored on the video.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from sqlmodel import Session

from core import media
from core.config import Settings
from core.encoders import Encoder, EncoderInput, InvalidEncoderInput, load_encoder
from core.subtitles import (
    SubtitleError,
    embedded_subtitle_transcript,
    find_sidecar_subtitles,
    load_subtitles,
)
from core.transcribe import Transcriber, TranscriberError, load_transcriber
from core.transcript import Segment, Transcript
from db.engine import Database
from db.models import AuditAction, Video, VideoStatus
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}
)
EXTRACT_WORKERS = 2
ENCODE_BATCH = 4  # keyframes of a batch stay in memory until it is encoded
DONE_STATUSES = frozenset({VideoStatus.READY, VideoStatus.PREDICTED, VideoStatus.REVIEWED})
# Failures caused by the input itself: stored as the reason, no traceback needed.
INPUT_ERRORS = (media.MediaError, SubtitleError, TranscriberError, InvalidEncoderInput, OSError)
DUPLICATE = "duplicate"  # result status: the same bytes were already processed
SKIPPED = "skipped"  # result status: nothing to do (no media file for a pending video)

ProgressCallback = Callable[[int, int, str], None]


class IngestError(Exception):
    """An ingest request that cannot start (unknown path, unreadable dataset CSV)."""


class EmbeddingError(ValueError):
    """An encoder output that cannot be stored (NaN, wrong shape, unasked modality)."""


class UploadRejected(IngestError):
    """An upload refused before anything was stored (too large, not a playable video)."""


@dataclass
class IngestResult:
    """What happened to one input; ``status`` is a :class:`VideoStatus` value, ``duplicate`` or
    ``skipped``. ``cached`` means no encoder ran for it (every vector came from the cache)."""

    name: str
    status: str
    video_id: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    duration_s: float | None = None
    cached: bool = False
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != VideoStatus.FAILED


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
) -> IngestReport:
    """Ingest files, folders (recursively) and dataset CSVs, plus videos pending in the database.

    ``videos_dir`` holds the media of CSV rows (``<video_id>.<ext>``); by default a ``videos/``
    folder beside each CSV. ``encoder``/``transcriber`` default to the configured ones, loaded
    only when something needs them.
    """
    started = time.perf_counter()
    settings.ensure_dirs()
    report = IngestReport()
    sidecars: dict[int, Path] = {}
    search_dirs = [videos_dir] if videos_dir is not None else []
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(_video_files(path))
        elif path.suffix.lower() == ".csv" and path.is_file():
            report.problems.extend(_import_dataset(db, path, videos_dir))
            if videos_dir is None:
                search_dirs.append(path.parent / "videos")
        elif path.is_file():
            files.append(path)
        else:
            report.results.append(IngestResult(path.name, VideoStatus.FAILED, reason=f"no such file or folder: {path}"))
    pipeline = _Pipeline(db, settings, encoder=encoder, transcriber=transcriber)
    video_ids: list[int] = []
    for file in files:
        try:
            outcome = _register_file(db, file, settings, pipeline)
        except OSError as e:  # unreadable source, full disk: this file fails, the batch goes on
            outcome = IngestResult(file.name, VideoStatus.FAILED, reason=f"cannot store the file: {_reason(e)}")
        if isinstance(outcome, IngestResult):
            report.results.append(outcome)
            continue
        if outcome in video_ids:  # the same bytes twice in this batch
            report.results.append(IngestResult(file.name, DUPLICATE, video_id=outcome, duplicate_of=outcome))
            continue
        video_ids.append(outcome)
        sidecar = find_sidecar_subtitles(file)
        if sidecar is not None:
            sidecars[outcome] = sidecar
    with db.session() as session:
        pending = [v.id for v in videos_q.list_videos_for_ingest(session) if v.id not in video_ids]
    for video_id in pending:
        try:
            outcome = _attach_pending(db, video_id, settings, search_dirs)
        except OSError as e:
            reason = f"cannot store the media file: {_reason(e)}"
            with db.session() as session:
                video = videos_q.set_status(session, video_id=video_id, status=VideoStatus.FAILED, error=reason)
            outcome = IngestResult(video.original_name or video.external_id or f"video {video_id}",
                                   VideoStatus.FAILED, video_id=video_id, reason=reason)
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
    """Validate (size, probe), store and process one uploaded video (the dashboard's upload page).

    Raises :class:`UploadRejected` before anything is stored when the upload is too large or not
    a usable video. An upload whose bytes were already ingested is not stored twice: the result
    has status ``duplicate`` and ``duplicate_of`` set.
    """
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
            existing = videos_q.find_video_by_hash(session, content_hash=digest)
            if existing is not None and existing.status in DONE_STATUSES:
                return IngestResult(filename, DUPLICATE, video_id=existing.id, duplicate_of=existing.id,
                                    cached=True, duration_s=existing.duration_s)
        stored = settings.media_dir / f"{digest}{suffix}"
        os.replace(temp, stored)
    finally:
        temp.unlink(missing_ok=True)
    with db.session() as session:
        if existing is not None:  # the same bytes are pending or failed earlier: retry that video
            video_id = existing.id
            videos_q.update_text(session, video_id=video_id, title=title or Path(filename).stem,
                                 description=description)
            _set_stored(session, existing, digest, _relative(stored, settings))
        else:
            video_id = videos_q.create_video(
                session, title=title or Path(filename).stem, description=description,
                original_name=Path(filename).name, content_hash=digest,
                stored_path=_relative(stored, settings),
            ).id
        audit_q.add_audit(session, action=AuditAction.IMPORT, user=user, video_id=video_id,
                          detail={"upload": Path(filename).name, "bytes": stored.stat().st_size})
    pipeline = _Pipeline(db, settings, encoder=encoder, transcriber=transcriber)
    [result] = pipeline.run([video_id], {}, None)
    _predict_new(db, settings, [result])
    return result


# --- registering inputs -------------------------------------------------------------------------


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def _import_dataset(db: Database, csv_path: Path, videos_dir: Path | None) -> list[str]:
    """Create the CSV's videos (status ``new``) and imported labels; returns the row problems."""
    from core import dataset

    folder = videos_dir if videos_dir is not None else csv_path.parent / "videos"
    try:
        imported = dataset.import_dataset(db, csv_path, videos_dir=folder if folder.is_dir() else None)
    except (dataset.DatasetError, dataset.DatasetImportError) as e:
        raise IngestError(f"{csv_path.name}: {e}") from e
    return [f"{csv_path.name} row {p.row} ({p.video_id}): {p.message}" for p in imported.problems]


def _register_file(db: Database, file: Path, settings: Settings, pipeline: _Pipeline) -> int | IngestResult:
    """The video id to process for a bare file, or the result when there is nothing to do.

    Bytes already processed are a duplicate, unless the video has no embeddings of the current
    encoder version yet (the encoder changed): then it is embedded again, keeping its status.
    """
    digest = media.content_hash(file)
    encoder_id, encoder_version = pipeline.encoder.cache_key
    with db.session() as session:
        existing = videos_q.find_video_by_hash(session, content_hash=digest)
        embedded = existing is not None and bool(embeddings_q.get_embeddings(
            session, video_ids=[existing.id], encoder_id=encoder_id, encoder_version=encoder_version
        ))
    if existing is not None and existing.status in DONE_STATUSES:
        if not embedded:
            return existing.id
        return IngestResult(file.name, DUPLICATE, video_id=existing.id, duplicate_of=existing.id,
                            cached=True, duration_s=existing.duration_s)
    stored = _store_copy(file, digest, settings)
    with db.session() as session:
        if existing is not None:  # interrupted or failed earlier: try again on the same row
            _set_stored(session, existing, digest, _relative(stored, settings))
            return existing.id
        video = videos_q.create_video(
            session, title=file.stem, original_name=file.name, content_hash=digest,
            stored_path=_relative(stored, settings),
        )
        return video.id


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
    source = recorded if recorded is not None and recorded.is_file() else _find_media(video, search_dirs)
    if source is None:
        where = ", ".join(str(d) for d in search_dirs) or "give --videos DIR"
        return IngestResult(name, SKIPPED, video_id=video.id,
                            reason=f"no media file for video_id {video.external_id!r} ({where})")
    digest = media.content_hash(source)
    stored = _store_copy(source, digest, settings)
    with db.session() as session:
        _set_stored(session, video, digest, _relative(stored, settings))
    return find_sidecar_subtitles(source)


def _set_stored(session: Session, video: Video, digest: str, stored_path: str) -> None:
    """Point a video at its copy in the media folder (probe results come later)."""
    videos_q.set_media_info(session, video_id=video.id, info=videos_q.MediaInfo(
        content_hash=digest, stored_path=stored_path, duration_s=video.duration_s, width=video.width,
        height=video.height, has_audio=bool(video.has_audio), has_video=bool(video.has_video),
    ))


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


def _store_copy(source: Path, digest: str, settings: Settings) -> Path:
    """Copy into ``media_dir/<hash><ext>`` atomically (temp file + rename); idempotent."""
    target = settings.media_dir / f"{digest}{_safe_suffix(source.name)}"
    if target.is_file() and target.stat().st_size == source.stat().st_size:
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
            chunks: Iterable[bytes] = [data] if isinstance(data, bytes | bytearray) else iter(
                lambda: data.read(1 << 20), b"")
            for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise UploadRejected(f"the file is larger than the {max_mb} MB upload limit")
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


def _relative(path: Path, settings: Settings) -> str:
    return str(path.resolve().relative_to(settings.data_dir.resolve()))


# --- the pipeline -------------------------------------------------------------------------------


@dataclass
class _Task:
    """One video to process and what the cache already answers for it."""

    video_id: int
    name: str
    media_path: Path
    content_hash: str
    title: str
    description: str
    sidecar: Transcript | None
    keys: dict[str, str]  # modality -> input hash, for inputs known before decoding
    cached: dict[str, np.ndarray]
    donor: _Donor | None
    started: float
    keep_status: bool = False  # an already processed video embedded again (new encoder version)


@dataclass(frozen=True)
class _Donor:
    """An already processed video with the same bytes: its artifacts are reused as they are."""

    video_id: int
    info: videos_q.MediaInfo
    keyframes: list[tuple[float, str]]
    transcript: Transcript | None


@dataclass
class _Extracted:
    info: videos_q.MediaInfo
    keyframes: list[tuple[float, str]]  # (timestamp, thumbnail path relative to data_dir)
    images: list[np.ndarray]
    audio: np.ndarray | None
    transcript: Transcript | None


class _Pipeline:
    """Extraction threads feeding batched encoding; results written in short sessions."""

    def __init__(
        self, db: Database, settings: Settings, *, encoder: Encoder | None, transcriber: Transcriber | None
    ) -> None:
        self.db = db
        self.settings = settings
        self._encoder = encoder
        self._transcriber = transcriber
        self._transcriber_lock = threading.Lock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.settings)
        return self._encoder

    def run(
        self, video_ids: Sequence[int], sidecars: dict[int, Path], progress: ProgressCallback | None
    ) -> list[IngestResult]:
        results: dict[int, IngestResult] = {}
        total = len(video_ids)
        queue = deque(video_ids)
        in_flight: dict[Future, _Task] = {}
        ready: list[tuple[_Task, _Extracted]] = []
        if progress is not None:
            progress(0, total, "")

        def finish(result: IngestResult) -> None:
            results[result.video_id] = result
            if progress is not None:
                progress(len(results), total, result.name)

        with ThreadPoolExecutor(EXTRACT_WORKERS, thread_name_prefix="ingest-extract") as pool:
            while queue or in_flight or ready:
                while queue and len(in_flight) + len(ready) < ENCODE_BATCH + EXTRACT_WORKERS:
                    video_id = queue.popleft()
                    task = self._plan(video_id, sidecars.get(video_id))
                    if isinstance(task, IngestResult):
                        finish(task)
                        continue
                    if task.donor is not None and self._complete_from_cache(task):
                        finish(self._store(task, _from_donor(task), {}))
                        continue
                    in_flight[pool.submit(self._extract, task)] = task
                if in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = in_flight.pop(future)
                        try:
                            ready.append((task, future.result()))
                        except INPUT_ERRORS as e:
                            finish(self._fail(task, _reason(e)))
                        except Exception as e:  # one file must not end the batch
                            logger.exception("ingest of %s failed unexpectedly", task.name)
                            finish(self._fail(task, f"{type(e).__name__}: {e}"))
                if ready and (len(ready) >= ENCODE_BATCH or not in_flight):
                    for result in self._encode_and_store(ready):
                        finish(result)
                    ready = []
        return [results[video_id] for video_id in video_ids]

    # -- planning: what the cache already has --------------------------------------------------

    def _plan(self, video_id: int, sidecar_path: Path | None) -> _Task | IngestResult:
        started = time.perf_counter()
        with self.db.session() as session:
            video = videos_q.get_video(session, video_id=video_id)
            keep_status = video.status in DONE_STATUSES  # embedding again for a new encoder
            donor_video = video if keep_status else None
            if not keep_status:
                video = videos_q.set_status(session, video_id=video_id, status=VideoStatus.PROCESSING)
                if video.content_hash:
                    donor_video = videos_q.find_video_by_hash(
                        session, content_hash=video.content_hash, exclude_id=video_id
                    )
            donor = _donor(session, donor_video) if donor_video is not None else None
        name = video.original_name or video.external_id or f"video {video_id}"
        if not video.stored_path or not video.content_hash or Path(video.stored_path).is_absolute():
            return self._fail_id(video_id, name, started, "no media file in the media folder")
        sidecar = None
        if sidecar_path is not None:
            try:
                sidecar = load_subtitles(sidecar_path)
            except (SubtitleError, OSError) as e:
                return self._fail_id(video_id, name, started, f"subtitles {sidecar_path.name}: {_reason(e)}")
        keys = {"frames": _digest("frames", video.content_hash, str(self.settings.num_keyframes)),
                "audio": _digest("audio", video.content_hash)}
        for modality, text in (("title", video.title), ("description", video.description)):
            if text.strip():
                keys[modality] = _text_key(text)
        transcript = sidecar or (donor.transcript if donor is not None else None)
        if transcript is not None and transcript.text:
            keys["subtitles"] = _text_key(transcript.text)
        task = _Task(
            video_id=video_id, name=name, media_path=self.settings.data_dir / video.stored_path,
            content_hash=video.content_hash, title=video.title, description=video.description,
            sidecar=sidecar, keys=keys, cached={}, donor=donor, started=started, keep_status=keep_status,
        )
        encoder_id, encoder_version = self.encoder.cache_key
        with self.db.session() as session:
            for modality, key in keys.items():
                hit = embeddings_q.find_cached(
                    session, modality=modality, encoder_id=encoder_id, encoder_version=encoder_version,
                    input_hashes=[key],
                )
                if key in hit:
                    task.cached[modality] = hit[key]
        return task

    def _complete_from_cache(self, task: _Task) -> bool:
        """True when the donor's artifacts plus cached vectors cover every modality."""
        donor = task.donor
        wanted = {m for m in ("title", "description") if m in task.keys}
        if donor.info.has_video:
            wanted.add("frames")
        if donor.info.has_audio:
            wanted.add("audio")
        transcript = task.sidecar or donor.transcript
        if transcript is None and donor.info.has_audio:
            return False
        if transcript is not None and transcript.text:
            wanted.add("subtitles")
        return wanted <= set(task.cached)

    # -- extraction (worker threads; no database access) ---------------------------------------

    def _extract(self, task: _Task) -> _Extracted:
        info = media.probe(task.media_path)
        donor = task.donor
        keyframes: list[tuple[float, str]] = []
        images: list[np.ndarray] = []
        if donor is not None and "frames" in task.cached:
            keyframes = donor.keyframes  # thumbnails exist and the vector is cached: no decoding
        elif info.has_video:
            keyframes, images = self._keyframes(task, info)
        transcript = task.sidecar or (donor.transcript if donor is not None else None)
        if transcript is None and info.subtitle_streams:
            transcript = embedded_subtitle_transcript(task.media_path)
        audio = None
        if info.has_audio and ("audio" not in task.cached or transcript is None):
            audio = media.load_audio(task.media_path, sample_rate=media.AUDIO_SAMPLE_RATE)
        if transcript is None and audio is not None:
            transcript = self._transcribe(audio)
        return _Extracted(
            info=videos_q.MediaInfo(
                content_hash=task.content_hash, stored_path=_relative(task.media_path, self.settings),
                duration_s=info.duration_s, width=info.width or None, height=info.height or None,
                has_audio=info.has_audio, has_video=info.has_video,
            ),
            keyframes=keyframes, images=images, audio=audio, transcript=transcript,
        )

    def _keyframes(self, task: _Task, info: media.MediaInfo) -> tuple[list[tuple[float, str]], list[np.ndarray]]:
        """Sampled frames, with their thumbnails written under ``thumbnails_dir/<hash>/``."""
        folder = self.settings.thumbnails_dir / task.content_hash
        folder.mkdir(parents=True, exist_ok=True)
        keyframes, images = [], []
        for idx, frame in enumerate(media.sample_keyframes(task.media_path, self.settings.num_keyframes, info)):
            path = folder / f"{idx:03d}.jpg"
            _write_atomic(path, media.make_thumbnail(frame.image, self.settings.thumbnail_px))
            keyframes.append((frame.timestamp_s, _relative(path, self.settings)))
            images.append(frame.image)
        return keyframes, images

    def _transcribe(self, audio: np.ndarray) -> Transcript:
        with self._transcriber_lock:  # one model instance; CTranslate2 queues calls anyway
            if self._transcriber is None:
                self._transcriber = load_transcriber(self.settings)
            return self._transcriber.transcribe(audio)

    # -- encoding and storing (calling thread) -------------------------------------------------

    def _encode_and_store(self, ready: list[tuple[_Task, _Extracted]]) -> list[IngestResult]:
        inputs: list[tuple[_Task, _Extracted, EncoderInput]] = []
        results: list[IngestResult] = []
        self._lookup_transcripts(ready)
        for task, extracted in ready:
            try:
                item = _encoder_input(task, extracted)
            except InvalidEncoderInput as e:
                results.append(self._fail(task, _reason(e)))
                continue
            if item is None:
                results.append(self._store(task, extracted, {}))
            else:
                inputs.append((task, extracted, item))
        if not inputs:
            return results
        try:
            vectors = self.encoder.encode_batch([item for _, _, item in inputs])
        except Exception as batch_error:  # find the culprit by encoding one by one
            if len(inputs) == 1:
                task = inputs[0][0]
                logger.exception("encoding %s failed", task.name)
                return [*results, self._fail(task, _reason(batch_error))]
            logger.warning("batch encode failed (%s); encoding one by one", _reason(batch_error))
            for entry in inputs:
                results.extend(self._encode_and_store_one(entry))
            return results
        for (task, extracted, _), produced in zip(inputs, vectors, strict=True):
            results.append(self._store(task, extracted, produced))
        return results

    def _lookup_transcripts(self, ready: list[tuple[_Task, _Extracted]]) -> None:
        """Cache lookup for transcripts found by extraction (same words, same vector)."""
        new = {}
        for task, extracted in ready:
            if extracted.transcript is not None and extracted.transcript.text and "subtitles" not in task.keys:
                task.keys["subtitles"] = _text_key(extracted.transcript.text)
                new[task.keys["subtitles"]] = task
        if not new:
            return
        encoder_id, encoder_version = self.encoder.cache_key
        with self.db.session() as session:
            hits = embeddings_q.find_cached(
                session, modality="subtitles", encoder_id=encoder_id, encoder_version=encoder_version,
                input_hashes=list(new),
            )
        for task, extracted in ready:
            key = task.keys.get("subtitles")
            if key in hits:
                task.cached["subtitles"] = hits[key]

    def _encode_and_store_one(self, entry: tuple[_Task, _Extracted, EncoderInput]) -> list[IngestResult]:
        task, extracted, item = entry
        try:
            produced = self.encoder.encode(item)
        except INPUT_ERRORS + (ValueError,) as e:
            return [self._fail(task, _reason(e))]
        except Exception as e:  # one file must not end the batch
            logger.exception("encoding %s failed unexpectedly", task.name)
            return [self._fail(task, f"{type(e).__name__}: {e}")]
        return [self._store(task, extracted, produced)]

    def _store(self, task: _Task, extracted: _Extracted, produced: dict[str, np.ndarray]) -> IngestResult:
        """Write everything about one video and its final status in one transaction."""
        try:
            _check_vectors(task, produced)
        except EmbeddingError as e:
            logger.error("encoder output for %s rejected: %s", task.name, e)
            return self._fail(task, str(e))
        encoder_id, encoder_version = self.encoder.cache_key
        vectors = {**task.cached, **produced}
        records = [
            embeddings_q.EmbeddingRecord(
                video_id=task.video_id, modality=modality, encoder_id=encoder_id,
                encoder_version=encoder_version, input_hash=task.keys[modality], vector=vector,
            )
            for modality, vector in sorted(vectors.items())
        ]
        transcript = extracted.transcript
        with self.db.session() as session:
            videos_q.set_media_info(session, video_id=task.video_id, info=extracted.info)
            videos_q.replace_keyframes(session, video_id=task.video_id, frames=extracted.keyframes)
            if transcript is not None:
                videos_q.put_transcript(
                    session, video_id=task.video_id, source=transcript.source, text=transcript.text,
                    language=transcript.language,
                    segments=[{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments],
                )
            embeddings_q.put_embeddings(session, records=records)
            if task.keep_status:
                status = videos_q.get_video(session, video_id=task.video_id).status
            else:
                status = videos_q.set_status(session, video_id=task.video_id, status=VideoStatus.READY).status
        return IngestResult(
            task.name, status, video_id=task.video_id, seconds=time.perf_counter() - task.started,
            duration_s=extracted.info.duration_s, cached=not produced,
            duplicate_of=task.donor.video_id if task.donor is not None and not task.keep_status else None,
        )

    def _fail(self, task: _Task, reason: str) -> IngestResult:
        if task.keep_status:  # its earlier results stay valid; only this run failed
            return IngestResult(task.name, VideoStatus.FAILED, video_id=task.video_id, reason=reason,
                                seconds=time.perf_counter() - task.started)
        return self._fail_id(task.video_id, task.name, task.started, reason)

    def _fail_id(self, video_id: int, name: str, started: float, reason: str) -> IngestResult:
        with self.db.session() as session:
            videos_q.set_status(session, video_id=video_id, status=VideoStatus.FAILED, error=reason)
        return IngestResult(name, VideoStatus.FAILED, video_id=video_id, reason=reason,
                            seconds=time.perf_counter() - started)


def _encoder_input(task: _Task, extracted: _Extracted) -> EncoderInput | None:
    """Only the inputs the cache did not answer; None when nothing is left to encode."""
    def wanted(modality: str) -> bool:
        return modality in task.keys and modality not in task.cached

    subtitles = extracted.transcript.text if extracted.transcript is not None else ""
    frames = extracted.images if "frames" not in task.cached else []
    audio = extracted.audio if "audio" not in task.cached else None
    item = EncoderInput(
        title=task.title if wanted("title") else "",
        description=task.description if wanted("description") else "",
        frames=frames,
        frame_times=[t for t, _ in extracted.keyframes] if frames else [],
        subtitles=subtitles if wanted("subtitles") else "",
        audio=audio,
    )
    empty = not (item.title or item.description or item.subtitles or item.frames or item.has_audio)
    return None if empty else item


def _donor(session: Session, video: Video) -> _Donor | None:
    if video.status not in DONE_STATUSES or not video.content_hash or not video.stored_path:
        return None
    row = videos_q.get_transcript(session, video_id=video.id)
    transcript = None
    if row is not None:
        segments = [Segment(start=s["start"], end=s["end"], text=s["text"]) for s in json.loads(row.segments_json)]
        transcript = Transcript(language=row.language, source=row.source, segments=segments)
    return _Donor(
        video_id=video.id,
        info=videos_q.MediaInfo(
            content_hash=video.content_hash, stored_path=video.stored_path, duration_s=video.duration_s,
            width=video.width, height=video.height, has_audio=bool(video.has_audio),
            has_video=bool(video.has_video),
        ),
        keyframes=[(k.timestamp_s, k.thumbnail_path) for k in videos_q.get_keyframes(session, video_id=video.id)],
        transcript=transcript,
    )


def _check_vectors(task: _Task, produced: dict[str, np.ndarray]) -> None:
    for modality, vector in produced.items():
        if modality not in task.keys:
            raise EmbeddingError(f"the encoder returned a {modality!r} embedding it was given no input for")
        vector = np.asarray(vector)
        if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
            raise EmbeddingError(f"the {modality} embedding is not a finite 1-D vector (shape {vector.shape})")


def _from_donor(task: _Task) -> _Extracted:
    donor = task.donor
    return _Extracted(info=donor.info, keyframes=donor.keyframes, images=[], audio=None,
                      transcript=task.sidecar or donor.transcript)


def _predict_new(db: Database, settings: Settings, results: Sequence[IngestResult]) -> int:
    """Predict freshly ingested videos with the active model, when there is one."""
    from core import prediction, registry

    ready = [r.video_id for r in results if r.status in DONE_STATUSES]
    if not ready:
        return 0
    try:
        return prediction.predict_videos(db, settings=settings, video_ids=ready)
    except registry.NoActiveModelError:
        return 0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _text_key(text: str) -> str:
    """Cache key of a text input: whitespace-normalised, so re-flowed text still hits."""
    return _digest("text", " ".join(text.split()))


def _reason(error: BaseException) -> str:
    """One line for the Video's ``error`` column."""
    if isinstance(error, media.MediaError):
        return error.reason
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, INPUT_ERRORS) else f"{type(error).__name__}: {text}"


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
