"""The ingest pipeline: planning against the embedding cache, extraction, encoding, storing.

Work overlaps: two threads decode/extract (PyAV and CTranslate2 release the GIL) while the calling
thread encodes finished items in batches with ``encode_batch`` and writes each video's results
in one transaction (the videos of a batch share one short session). A video is ``processing``
while worked on and gets its final status in the same session that stores its results, so a
killed batch re-run skips finished videos and redoes only the interrupted ones. One bad file
fails alone, with its reason stored on the video. ``core.ingest.batch`` registers the inputs and
drives this module; ``core.ingest.extract`` is the extraction stage. Database sessions are per
batch, not per video: each one opens the DuckDB file anew (tens of ms), which dominated the CPU
time of short clips.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlmodel import Session

from core.config import Settings
from core.encoders import (
    Encoder,
    EncoderInput,
    InvalidEncoderInput,
    encoder_cache_key,
    load_encoder,
)
from core.errors import TaggerError
from core.ingest.extract import (
    Extracted,
    extract_media,
    listen,
    needs_listening,
    noted_instead_of_listening,
)
from core.ingest.notes import ModalityNote, finalise, used_notes
from core.ingest.stored import (
    DONE_STATUSES,
    StoredVideo,
    read_stored,
    video_name,
    write_spoken_language,
    write_transcript,
)
from core.media import decode as media
from core.media.ocr import onscreen_text
from core.media.subtitles import SubtitleError, load_subtitles
from core.media.transcribe import Transcriber, TranscriberError, english_only, load_transcriber
from core.media.transcript import Transcript
from core.retention import MEDIA_DELETED
from db.engine import Database
from db.queries import NotFoundError
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q
from db.tables import VideoStatus

logger = logging.getLogger(__name__)

EXTRACT_WORKERS = 2
ENCODE_BATCH = 4  # keyframes of a batch stay in memory until it is encoded
# Failures caused by the input itself: stored as the reason, no traceback needed.
INPUT_ERRORS = (media.MediaError, SubtitleError, TranscriberError, InvalidEncoderInput, OSError)

ProgressCallback = Callable[[int, int, str], None]


class EmbeddingError(TaggerError, ValueError):
    """An encoder output that cannot be stored (NaN, wrong shape, unasked modality)."""


Model = TypeVar("Model")


class ModelLoadError(TaggerError):
    """The encoder or the speech model cannot be loaded, or cannot run where the settings put
    it (a missing file, a GPU without the libraries it needs). Every video would fail alike, so
    the job stops instead and no video is marked failed for it: the same command, run again
    with the setting fixed, ingests the rest."""


def load_model(what: str, load: Callable[[], Model]) -> Model:
    """``load()``, or :class:`ModelLoadError` with its cause's words."""
    try:
        return load()
    except Exception as e:  # any cause: re-raised with words, and the job stops on it
        words = " ".join(str(e).split()) if isinstance(e, TaggerError) else reason_of(e)
        raise ModelLoadError(
            f"the {what} cannot be loaded: {words}. No video was marked failed for it; fix the "
            "setting and run the same command again"
        ) from e


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
    donor: StoredVideo | None  # processed video with the same bytes: its artifacts are reused
    started: float
    keep_status: bool = False  # an already processed video embedded again (new encoder version)
    problems: list[ModalityNote] = field(default_factory=list)  # found before extraction


class Pipeline:
    """Extraction threads feeding batched encoding; results written in short sessions."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        encoder: Encoder | None,
        transcriber: Transcriber | None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._encoder = encoder
        self._transcriber = transcriber
        self._transcriber_lock = threading.Lock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_model("encoder", lambda: load_encoder(self.settings))
        return self._encoder

    @property
    def encoder_key(self) -> tuple[str, str]:
        """(id, version) of the encoder, without loading it for a batch that needs no encoding."""
        if self._encoder is not None:
            return self._encoder.cache_key
        return encoder_cache_key(self.settings)

    def run(
        self, video_ids: Sequence[int], sidecars: dict[int, Path], progress: ProgressCallback | None
    ) -> list[IngestResult]:
        results: dict[int, IngestResult] = {}
        total = len(video_ids)
        queue = deque(video_ids)
        in_flight: dict[Future, _Task] = {}
        ready: list[tuple[_Task, Extracted]] = []
        if progress is not None:
            progress(0, total, "")

        def finish(result: IngestResult) -> None:
            results[result.video_id] = result
            if progress is not None:
                progress(len(results), total, result.name)

        with ThreadPoolExecutor(EXTRACT_WORKERS, thread_name_prefix="ingest-extract") as pool:
            while queue or in_flight or ready:
                room = ENCODE_BATCH + EXTRACT_WORKERS - len(in_flight) - len(ready)
                if queue and room > 0:
                    batch = [queue.popleft() for _ in range(min(room, len(queue)))]
                    complete = []
                    for task in self._plan(batch, sidecars):
                        if isinstance(task, IngestResult):
                            finish(task)
                        elif task.donor is not None and self._complete_from_cache(task):
                            complete.append((task, _from_donor(task), {}))
                        else:
                            in_flight[pool.submit(self._extract, task)] = task
                    for result in self._store(complete):
                        finish(result)
                    continue  # fill the pool again before waiting
                if in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = in_flight.pop(future)
                        try:
                            ready.append((task, future.result()))
                        except ModelLoadError:
                            raise  # not this video's fault: the job stops
                        except INPUT_ERRORS as e:
                            finish(self._fail(task, reason_of(e)))
                        except Exception as e:  # one file must not end the batch
                            logger.exception("ingest of %s failed unexpectedly", task.name)
                            finish(self._fail(task, f"{type(e).__name__}: {e}"))
                if ready and (len(ready) >= ENCODE_BATCH or not in_flight):
                    for result in self._encode_and_store(ready):
                        finish(result)
                    ready = []
        return [results[video_id] for video_id in video_ids]

    # -- planning: what the cache already has --------------------------------------------------

    def _plan(
        self, video_ids: Sequence[int], sidecars: dict[int, Path]
    ) -> list[_Task | IngestResult]:
        """Tasks (or failed results) for the videos, marked ``processing``; one short session for
        the lot, as each session opens the database file anew."""
        started = time.perf_counter()
        encoder_id, encoder_version = self.encoder_key
        planned: list[_Task | IngestResult] = []
        with self.db.session() as session:
            for video_id in video_ids:
                planned.append(self._plan_one(session, video_id, sidecars.get(video_id), started))
            tasks = [task for task in planned if isinstance(task, _Task)]
            for modality in {modality for task in tasks for modality in task.keys}:
                hits = embeddings_q.find_cached(
                    session,
                    modality=modality,
                    encoder_id=encoder_id,
                    encoder_version=encoder_version,
                    input_hashes=[task.keys[modality] for task in tasks if modality in task.keys],
                )
                for task in tasks:
                    if task.keys.get(modality) in hits:
                        task.cached[modality] = hits[task.keys[modality]]
        return planned

    def _plan_one(
        self, session: Session, video_id: int, sidecar_path: Path | None, started: float
    ) -> _Task | IngestResult:
        try:
            video = videos_q.get_video(session, video_id=video_id)
        except NotFoundError:  # removed (core.removal) after it was queued for this run
            name = f"video {video_id}"
            return _failed(video_id, name, started, "removed before it was processed")
        keep_status = video.status in DONE_STATUSES  # embedding again for a new encoder
        donor_video = video if keep_status else None
        name = video_name(video)
        if video.media_deleted_at is not None:  # its results stay as they are
            return _failed(video_id, name, started, MEDIA_DELETED)
        if not video.stored_path or not video.content_hash or Path(video.stored_path).is_absolute():
            return self._failed_in(
                session, video_id, name, started, "no media file in the media folder"
            )
        sidecar = None
        problems = []
        if sidecar_path is not None:
            try:
                sidecar = load_subtitles(sidecar_path)
            except (SubtitleError, OSError) as e:  # the next source (embedded, Whisper) is tried
                detail = f"subtitle file {sidecar_path.name} not used: {reason_of(e)}"
                problems.append(ModalityNote("subtitles", "fallback", detail))
        if not keep_status:
            video = videos_q.set_status(session, video_id=video_id, status=VideoStatus.PROCESSING)
            donor_video = videos_q.find_video_by_hash(
                session, content_hash=video.content_hash, exclude_id=video_id
            )
        donor = read_stored(session, donor_video) if donor_video is not None else None
        keys = {
            "frames": _digest("frames", video.content_hash, str(self.settings.num_keyframes)),
            "audio": _digest("audio", video.content_hash),
        }
        for modality, text in (("title", video.title), ("description", video.description)):
            if text.strip():
                keys[modality] = text_key(text)
        transcript = sidecar or (donor.transcript if donor is not None else None)
        if transcript is not None and transcript.text:
            keys["subtitles"] = text_key(transcript.text)
        if donor is not None and donor.onscreen:
            keys["onscreen_text"] = text_key(onscreen_text(donor.onscreen))
        return _Task(
            video_id=video_id,
            name=name,
            media_path=self.settings.data_dir / video.stored_path,
            content_hash=video.content_hash,
            title=video.title,
            description=video.description,
            sidecar=sidecar,
            keys=keys,
            cached={},
            donor=donor,
            started=started,
            keep_status=keep_status,
            problems=problems,
        )

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
        if donor.onscreen:
            wanted.add("onscreen_text")
        return wanted <= set(task.cached)

    # -- extraction (worker threads; no database access) ---------------------------------------

    def _extract(self, task: _Task) -> Extracted:
        extracted = extract_task(task, self.settings)
        if needs_listening(extracted) and not noted_instead_of_listening(
            extracted, english_only=self._english_only()
        ):
            self._listen(extracted)
        limit = self.encoder.max_audio_seconds
        if extracted.audio is not None and limit is not None:
            # transcribed already: only what the encoder reads waits for the encode batch
            extracted.audio = extracted.audio[: int(limit * media.AUDIO_SAMPLE_RATE)].copy()
        return extracted

    def _english_only(self) -> bool:
        """The speech model cannot tell languages apart: the loaded one says so, else the
        settings (the default tiny.en is English-only)."""
        with self._transcriber_lock:
            if self._transcriber is not None:
                return not self._transcriber.multilingual
        return english_only(self.settings)

    def _listen(self, extracted: Extracted) -> None:
        with self._transcriber_lock:  # one model instance, loaded on first use
            if self._transcriber is None:
                self._transcriber = load_model(
                    "speech model", lambda: load_transcriber(self.settings)
                )
            if not self._transcriber.thread_safe:
                listen(extracted, self._transcriber)
                return
        listen(extracted, self._transcriber)

    # -- encoding and storing (calling thread) -------------------------------------------------

    def _encode_and_store(self, ready: list[tuple[_Task, Extracted]]) -> list[IngestResult]:
        inputs: list[tuple[_Task, Extracted, EncoderInput]] = []
        done: list[tuple[_Task, Extracted, dict[str, np.ndarray]]] = []
        results: list[IngestResult] = []
        self._lookup_transcripts(ready)
        for task, extracted in ready:
            try:
                item = _encoder_input(task, extracted)
            except InvalidEncoderInput as e:
                results.append(self._fail(task, reason_of(e)))
                continue
            if item is None:
                done.append((task, extracted, {}))
            else:
                inputs.append((task, extracted, item))
        if not inputs:
            return [*results, *self._store(done)]
        outcomes = encode_items(
            self.encoder, [item for _, _, item in inputs], [task.name for task, _, _ in inputs]
        )
        for (task, extracted, _), outcome in zip(inputs, outcomes, strict=True):
            if isinstance(outcome, str):
                results.append(self._fail(task, outcome))
            else:
                done.append((task, extracted, outcome))
        return [*results, *self._store(done)]

    def _lookup_transcripts(self, ready: list[tuple[_Task, Extracted]]) -> None:
        """Cache lookup for texts found by extraction, transcripts and on-screen text (same
        words, same vector)."""
        new: dict[str, set[str]] = {}  # modality -> input hashes to look up
        for task, extracted in ready:
            for modality, text in _extracted_texts(extracted).items():
                if text and modality not in task.keys:
                    task.keys[modality] = text_key(text)
                    new.setdefault(modality, set()).add(task.keys[modality])
        if not new:
            return
        encoder_id, encoder_version = self.encoder_key
        with self.db.session() as session:
            hits = {
                modality: embeddings_q.find_cached(
                    session,
                    modality=modality,
                    encoder_id=encoder_id,
                    encoder_version=encoder_version,
                    input_hashes=sorted(keys),
                )
                for modality, keys in new.items()
            }
        for task, _ in ready:
            for modality, found in hits.items():
                key = task.keys.get(modality)
                if key in found:
                    task.cached[modality] = found[key]

    def _store(
        self, entries: Sequence[tuple[_Task, Extracted, dict[str, np.ndarray]]]
    ) -> list[IngestResult]:
        """Write everything about each video and its final status in one transaction per video;
        the videos of a batch share one session (one opening of the database file)."""
        results, valid = [], []
        for task, extracted, produced in entries:
            try:
                check_vectors(task.keys, produced)
            except EmbeddingError as e:
                logger.error("encoder output for %s rejected: %s", task.name, e)
                results.append(self._fail(task, str(e)))
                continue
            valid.append((task, extracted, produced))
        if not valid:
            return results
        with self.db.session() as session:
            # one query for the batch's rows, which each video's writes then find in the
            # session (kept referenced: the session holds its objects weakly)
            rows = videos_q.get_videos(session, video_ids=[task.video_id for task, _, _ in valid])
            for task, extracted, produced in valid:
                results.append(self._store_one(session, task, extracted, produced))
                session.commit()
            del rows
        return results

    def _store_one(
        self, session: Session, task: _Task, extracted: Extracted, produced: dict[str, np.ndarray]
    ) -> IngestResult:
        encoder_id, encoder_version = self.encoder_key
        vectors = {**task.cached, **produced}
        records = [
            embeddings_q.EmbeddingRecord(
                video_id=task.video_id,
                modality=modality,
                encoder_id=encoder_id,
                encoder_version=encoder_version,
                input_hash=task.keys[modality],
                vector=vector,
            )
            for modality, vector in sorted(vectors.items())
        ]
        transcript = extracted.transcript
        videos_q.set_media_info(session, video_id=task.video_id, info=extracted.info)
        used = used_notes(
            keyframes=len(extracted.keyframes),
            has_audio=extracted.info.has_audio,
            transcript=transcript,
            onscreen_lines=len(extracted.onscreen or []),
        )
        if extracted.onscreen is not None:
            videos_q.put_onscreen_text(
                session,
                video_id=task.video_id,
                languages=self.settings.ocr_languages,
                text=onscreen_text(extracted.onscreen),
                segments=[
                    {"start": s.start, "end": s.end, "text": s.text} for s in extracted.onscreen
                ],
            )
        videos_q.set_modality_notes(
            session,
            video_id=task.video_id,
            notes=finalise([*task.problems, *extracted.problems], used),
        )
        videos_q.replace_keyframes(session, video_id=task.video_id, frames=extracted.keyframes)
        if transcript is not None:
            write_transcript(session, task.video_id, transcript)
        write_spoken_language(
            session, task.video_id, transcript.spoken if transcript is not None else None
        )
        embeddings_q.put_embeddings(session, records=records)
        if task.keep_status:
            status = videos_q.get_video(session, video_id=task.video_id).status
        else:
            status = videos_q.set_status(
                session, video_id=task.video_id, status=VideoStatus.READY
            ).status
        return IngestResult(
            task.name,
            status,
            video_id=task.video_id,
            seconds=time.perf_counter() - task.started,
            duration_s=extracted.info.duration_s,
            cached=not produced,
            duplicate_of=task.donor.video_id
            if task.donor is not None and not task.keep_status
            else None,
        )

    def _fail(self, task: _Task, reason: str) -> IngestResult:
        if task.keep_status:  # its earlier results stay valid; only this run failed
            return _failed(task.video_id, task.name, task.started, reason)
        return self._fail_id(task.video_id, task.name, task.started, reason)

    def _fail_id(self, video_id: int, name: str, started: float, reason: str) -> IngestResult:
        with self.db.session() as session:
            return self._failed_in(session, video_id, name, started, reason)

    @staticmethod
    def _failed_in(
        session: Session, video_id: int, name: str, started: float, reason: str
    ) -> IngestResult:
        videos_q.set_status(session, video_id=video_id, status=VideoStatus.FAILED, error=reason)
        return _failed(video_id, name, started, reason)


def _failed(video_id: int, name: str, started: float, reason: str) -> IngestResult:
    """The result of a video this run could not process (its row is the caller's to change)."""
    return IngestResult(
        name,
        VideoStatus.FAILED,
        video_id=video_id,
        reason=reason,
        seconds=time.perf_counter() - started,
    )


# --- per-video stages, shared with the Ray pipeline (core.ingest.distributed) --------------------


def extract_task(task: _Task, settings: Settings) -> Extracted:
    """Decode what the plan left to decode; the speech model runs after it
    (:func:`core.ingest.extract.listen`), on the decoded audio left in the result."""
    reuse = task.donor is not None and "frames" in task.cached  # thumbnails and vector exist
    extracted = extract_media(
        task.media_path,
        task.content_hash,
        settings,
        transcript=_known_transcript(task),
        keyframes=task.donor.keyframes if reuse else None,
        audio_cached="audio" in task.cached,
    )
    if reuse:  # no frames decoded, so nothing read: the donor's on-screen text holds
        extracted.onscreen = task.donor.onscreen
    return extracted


def encode_items(
    encoder: Encoder, items: Sequence[EncoderInput], names: Sequence[str]
) -> list[dict[str, np.ndarray] | str]:
    """Each item's vectors, or the reason it failed: a failing batch is encoded again one item
    at a time to find the culprit."""
    try:
        return list(encoder.encode_batch(items))
    except Exception as batch_error:
        if len(items) == 1:
            logger.exception("encoding %s failed", names[0])
            return [reason_of(batch_error)]
        logger.warning("batch encode failed (%s); encoding one by one", reason_of(batch_error))
    outcomes: list[dict[str, np.ndarray] | str] = []
    for item, name in zip(items, names, strict=True):
        try:
            outcomes.append(encoder.encode(item))
        except INPUT_ERRORS + (ValueError,) as e:
            outcomes.append(reason_of(e))
        except Exception as e:  # one file must not end the batch
            logger.exception("encoding %s failed unexpectedly", name)
            outcomes.append(f"{type(e).__name__}: {e}")
    return outcomes


def _encoder_input(task: _Task, extracted: Extracted) -> EncoderInput | None:
    """Only the inputs the cache did not answer; None when nothing is left to encode."""

    def wanted(modality: str) -> bool:
        return modality in task.keys and modality not in task.cached

    texts = _extracted_texts(extracted)
    frames = extracted.images if "frames" not in task.cached else []
    audio = extracted.audio if "audio" not in task.cached else None
    item = EncoderInput(
        title=task.title if wanted("title") else "",
        description=task.description if wanted("description") else "",
        frames=frames,
        frame_times=[t for t, _ in extracted.keyframes] if frames else [],
        subtitles=texts["subtitles"] if wanted("subtitles") else "",
        onscreen_text=texts["onscreen_text"] if wanted("onscreen_text") else "",
        audio=audio,
    )
    empty = not (
        item.title
        or item.description
        or item.subtitles
        or item.onscreen_text
        or item.frames
        or item.has_audio
    )
    return None if empty else item


def _extracted_texts(extracted: Extracted) -> dict[str, str]:
    """The text modalities extraction found ("" when none)."""
    transcript = extracted.transcript
    return {
        "subtitles": transcript.text if transcript is not None else "",
        "onscreen_text": onscreen_text(extracted.onscreen or []),
    }


def check_vectors(asked: Collection[str], produced: dict[str, np.ndarray]) -> None:
    """Raise :class:`EmbeddingError` for an encoder output that cannot be stored: a modality
    not in ``asked``, or a vector that is not finite and 1-D."""
    for modality, vector in produced.items():
        if modality not in asked:
            raise EmbeddingError(
                f"the encoder returned a {modality!r} embedding it was given no input for"
            )
        vector = np.asarray(vector)
        if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
            raise EmbeddingError(
                f"the {modality} embedding is not a finite 1-D vector (shape {vector.shape})"
            )


def _from_donor(task: _Task) -> Extracted:
    donor = task.donor
    return Extracted(
        info=donor.info,
        keyframes=donor.keyframes,
        images=[],
        audio=None,
        transcript=_known_transcript(task),
        onscreen=donor.onscreen,
    )


def _known_transcript(task: _Task) -> Transcript | None:
    """The sidecar's transcript, else the identical donor's; the language the donor's audio was
    heard speaking holds for the sidecar too (same bytes, same audio)."""
    donor = task.donor
    if task.sidecar is None:
        return donor.transcript if donor is not None else None
    if donor is None or task.sidecar.spoken is not None:
        return task.sidecar
    return replace(task.sidecar, spoken=donor.spoken)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def text_key(text: str) -> str:
    """Cache key of a text input: whitespace-normalised, so re-flowed text still hits."""
    return _digest("text", " ".join(text.split()))


def reason_of(error: BaseException) -> str:
    """One line for the Video's ``error`` column."""
    if isinstance(error, media.MediaError):
        return error.reason
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, INPUT_ERRORS) else f"{type(error).__name__}: {text}"
