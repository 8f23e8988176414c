"""The extraction stage of ingest: one stored video file -> media info, keyframes with
thumbnails, 16 kHz audio and a transcript, then :func:`listen`: the speech model on the audio.

Runs in the pipeline's worker threads (PyAV and CTranslate2 release the GIL) and never touches
the database; :mod:`core.ingest.pipeline` decides what is needed and stores the result. The Ray
pipeline runs :func:`listen` in its transcriber actors, where the model lives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.config import Settings
from core.ingest.notes import ModalityNote, spoken_language_unknown, stream_dropped, summary
from core.media import decode as media
from core.media.ocr import OcrError, read_onscreen_text
from core.media.subtitles import embedded_subtitle_transcript
from core.media.transcribe import Transcriber
from core.media.transcript import Segment, Transcript
from db.queries import videos as videos_q


@dataclass
class Extracted:
    """What extraction produced for one video (images and audio stay in memory until encoded)."""

    info: videos_q.StoredMedia
    keyframes: list[tuple[float, str]]  # (timestamp, thumbnail path relative to data_dir)
    images: list[np.ndarray]
    audio: np.ndarray | None
    transcript: Transcript | None
    problems: list[ModalityNote] = field(default_factory=list)  # what was dropped and why
    onscreen: list[Segment] | None = None  # text read on the keyframes; None: not read


def extract_media(
    media_path: Path,
    content_hash: str,
    settings: Settings,
    *,
    transcript: Transcript | None,
    keyframes: list[tuple[float, str]] | None,
    audio_cached: bool,
) -> Extracted:
    """Decode only what is still missing, keeping every modality that can be read.

    ``transcript``: already known (sidecar or an identical video's); else an embedded subtitle
    stream; else :func:`listen` transcribes the audio afterwards. ``keyframes``: already stored
    thumbnails whose vector is cached, so nothing is decoded for frames. ``audio_cached``: the
    audio vector is cached, so the audio is decoded only when a transcript is still needed. A
    modality that cannot be read is left out with a note in ``problems``; raises
    :class:`media.MediaError` only when no frames, audio or subtitles remain.
    """
    info = media.probe(media_path)
    problems = [stream_dropped(kind, reason) for kind, reason in info.dropped]
    images: list[np.ndarray] = []
    if keyframes is None:
        keyframes = []
        if info.has_video:
            try:
                keyframes, images = _keyframes(media_path, content_hash, settings, info)
            except media.MediaError as e:
                problems.append(ModalityNote("frames", "dropped", e.reason))
    onscreen = None
    if images and settings.onscreen_text_frames:
        try:
            onscreen = read_onscreen_text(
                spread_frames([t for t, _ in keyframes], images, settings.onscreen_text_frames),
                languages=settings.ocr_languages,
            )
        except OcrError as e:
            problems.append(ModalityNote("onscreen_text", "dropped", str(e)))
    if transcript is None and info.subtitle_streams:
        try:
            transcript = embedded_subtitle_transcript(media_path)
        except media.MediaError as e:
            problems.append(ModalityNote("subtitles", "fallback", f"subtitle track: {e.reason}"))
    audio = None
    has_audio = info.has_audio
    if has_audio and (not audio_cached or transcript is None):
        try:
            audio = media.load_audio(media_path, sample_rate=media.AUDIO_SAMPLE_RATE)
        except media.MediaError as e:
            problems.append(ModalityNote("audio", "dropped", e.reason))
            has_audio = False
    if not keyframes and not has_audio and (transcript is None or not transcript.text):
        raise media.MediaError(f"nothing usable in the file: {summary(problems)}")
    return Extracted(
        info=videos_q.StoredMedia(
            content_hash=content_hash,
            stored_path=relative_path(media_path, settings),
            duration_s=info.duration_s,
            width=info.width or None,
            height=info.height or None,
            has_audio=has_audio,
            has_video=bool(keyframes),
        ),
        keyframes=keyframes,
        images=images,
        audio=audio,
        transcript=transcript,
        problems=problems,
        onscreen=onscreen,
    )


def needs_listening(extracted: Extracted) -> bool:
    """Decoded audio with no transcript yet, or under subtitles whose spoken language is not
    known (a Whisper transcript already says what its model heard)."""
    transcript = extracted.transcript
    if extracted.audio is None:
        return False
    return transcript is None or (transcript.source != "whisper" and transcript.spoken is None)


def noted_instead_of_listening(extracted: Extracted, *, english_only: bool) -> bool:
    """Under subtitles an English-only speech model would only say that it cannot tell the
    language: add that note instead of loading the model for it (with ImageBind nothing else
    needs Whisper). True when noted; call it for a video that :func:`needs_listening`."""
    if extracted.transcript is None or not english_only:
        return False
    extracted.problems.append(spoken_language_unknown())
    return True


def listen(extracted: Extracted, transcriber: Transcriber) -> None:
    """Run the speech model on the audio of a video that :func:`needs_listening`: transcribe it
    when nothing else gave text, else detect the language spoken under the subtitles. A missing
    speech model is the operator's to fix, so its error is raised, not noted."""
    transcript = extracted.transcript
    if transcript is None:
        extracted.transcript = transcriber.transcribe(extracted.audio)
    elif transcriber.multilingual:
        spoken = transcriber.detect_language(extracted.audio)
        extracted.transcript = replace(transcript, spoken=spoken)
    else:
        extracted.problems.append(spoken_language_unknown())


def relative_path(path: Path, settings: Settings) -> str:
    """``path`` relative to the data dir, as stored in the database."""
    return str(path.resolve().relative_to(settings.data_dir.resolve()))


def spread_frames(
    times: list[float], images: list[np.ndarray], n: int
) -> list[tuple[float, np.ndarray]]:
    """At most ``n`` of the keyframes, evenly spread (OCR costs ~0.03 CPU s a demo frame,
    more on large frames full of text)."""
    if len(images) <= n:
        picks: list[int] = list(range(len(images)))
    elif n == 1:
        picks = [len(images) // 2]
    else:
        picks = sorted({round(i * (len(images) - 1) / (n - 1)) for i in range(n)})
    return [(times[i], images[i]) for i in picks]


def _keyframes(
    media_path: Path, content_hash: str, settings: Settings, info: media.MediaInfo
) -> tuple[list[tuple[float, str]], list[np.ndarray]]:
    """Sampled frames, with their thumbnails written under ``thumbnails_dir/<hash>/``."""
    folder = settings.thumbnails_dir / content_hash
    folder.mkdir(parents=True, exist_ok=True)
    keyframes, images = [], []
    for idx, frame in enumerate(media.sample_keyframes(media_path, settings.num_keyframes, info)):
        path = folder / f"{idx:03d}.jpg"
        _write_atomic(path, media.make_thumbnail(frame.image, settings.thumbnail_px))
        keyframes.append((frame.timestamp_s, relative_path(path, settings)))
        images.append(frame.image)
    return keyframes, images


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
