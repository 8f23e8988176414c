"""Subtitles a video already has: sidecar .srt/.vtt files and embedded text streams.

When a video comes with captions we use them instead of running Whisper: they are exact and free.
Styling (``<i>``, ``<font>``, ``<c.x>``, ``{\\an8}``) is stripped because only the words matter to
the text encoders.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import av

from core.charsets import TextDecodingError, decode_text
from core.errors import TaggerError
from core.media.decode import MediaError, media_origin
from core.media.transcript import Segment, Transcript

SUBTITLE_SUFFIXES = (".srt", ".vtt")
_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3})\s*-->\s*"
    r"(?P<end>(?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3})(?:\s.*)?$"
)
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_TEXT_SUBTITLE_CODECS = {"mov_text", "subrip", "srt", "webvtt", "ass", "ssa", "text"}
_PREFERRED_LANGUAGES = ("en", "eng")
_RAW_TEXT_CODECS = {"subrip", "srt", "text", "mov_text", "webvtt"}
_CUE_SEPARATOR = b"\n\x1e\n"  # joins cue texts for one encoding detection (never in a cue)


class SubtitleError(TaggerError, ValueError):
    """A subtitle file that holds no usable cues."""


def parse_subtitles(text: str) -> list[Segment]:
    """Cues of SubRip or WebVTT text, sorted by start time; blocks without a timing line are
    skipped.

    The two formats share the cue shape (optional identifier, ``start --> end [settings]``,
    text lines), so one parser reads both; WebVTT header, NOTE, STYLE and REGION blocks carry
    no timing line and fall out.
    """
    segments: list[Segment] = []
    for block in re.split(
        r"\n\s*\n", text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    ):
        lines = block.strip("\n").split("\n")
        timing_at = next((i for i, line in enumerate(lines[:2]) if _TIMING.match(line)), None)
        if timing_at is None:
            continue
        match = _TIMING.match(lines[timing_at])
        start, end = _seconds(match["start"]), _seconds(match["end"])
        words = " ".join(_clean(line) for line in lines[timing_at + 1 :])
        words = " ".join(words.split())
        if words and end >= start:
            segments.append(Segment(start=start, end=end, text=words))
    segments.sort(key=lambda s: (s.start, s.end))
    return segments


def load_subtitles(path: str | Path) -> Transcript:
    """A provided .srt/.vtt file as a Transcript; the language comes from ``name.<lang>.srt``."""
    path = Path(path)
    try:
        decoded = decode_text(path.read_bytes())
    except TextDecodingError as e:
        raise SubtitleError(f"{path.name} is not readable text: {e}") from e
    segments = parse_subtitles(decoded.text)
    if not segments:
        raise SubtitleError(f"{path.name} contains no subtitle cues")
    return Transcript(
        language=subtitle_language(path),
        source="provided",
        segments=segments,
        encoding=decoded.encoding,
        encoding_doubtful=decoded.doubtful,
    )


def subtitle_language(path: str | Path) -> str | None:
    """The language tag of ``movie.en.srt``-style names (``en``), else None."""
    parts = Path(path).name.split(".")
    if len(parts) >= 3 and _LANGUAGE_TAG.match(parts[-2]):
        return parts[-2].lower()
    return None


def find_sidecar_subtitles(video_path: str | Path) -> Path | None:
    """The subtitle file next to a video: ``stem.srt``/``stem.vtt`` first, then ``stem.en.srt``,
    then any other ``stem.<lang>.srt``/``.vtt`` (alphabetically)."""
    video_path = Path(video_path)
    stem = video_path.stem
    exact: list[Path] = []
    tagged: list[Path] = []
    for candidate in sorted(video_path.parent.iterdir()):
        suffix = candidate.suffix.lower()
        if suffix not in SUBTITLE_SUFFIXES or not candidate.is_file():
            continue
        name = candidate.name[: -len(suffix)]
        if name == stem:
            exact.append(candidate)
        elif name.startswith(stem + ".") and _LANGUAGE_TAG.match(name[len(stem) + 1 :]):
            tagged.append(candidate)
    tagged.sort(key=lambda p: (subtitle_language(p) not in _PREFERRED_LANGUAGES, p.name))
    candidates = exact + tagged
    return candidates[0] if candidates else None


def extract_embedded_subtitles(path: str | Path) -> list[Segment] | None:
    """Cues of the first text subtitle stream (English preferred); None when there is none.

    Bitmap subtitles (DVD, PGS) would need OCR and are treated as absent.
    """
    transcript = embedded_subtitle_transcript(path)
    return transcript.segments if transcript is not None else None


def embedded_subtitle_transcript(path: str | Path) -> Transcript | None:
    """Like :func:`extract_embedded_subtitles`, with the stream's language tag kept."""
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            streams = [
                s
                for s in container.streams.subtitles
                if s.codec_context is not None and s.codec_context.name in _TEXT_SUBTITLE_CODECS
            ]
            if not streams:
                return None
            streams.sort(key=lambda s: (s.language or "") not in _PREFERRED_LANGUAGES)
            cues = _read_cues(container, streams[0])
            language = streams[0].language if streams[0].language not in (None, "und") else None
    except av.FFmpegError as e:
        raise MediaError(f"subtitle stream unreadable: {e.strerror or type(e).__name__}") from e
    try:  # all cues at once: one cue's few words are too little to tell an encoding by
        decoded = decode_text(_CUE_SEPARATOR.join(raw for _, _, raw in cues))
    except TextDecodingError as e:
        raise MediaError(f"the subtitle stream is not readable text: {e}") from e
    segments = []
    for (start, end, _), text in zip(
        cues, decoded.text.split(_CUE_SEPARATOR.decode()), strict=True
    ):
        words = " ".join(_clean(text).split())
        if words:
            segments.append(Segment(start=start, end=end, text=words))
    segments.sort(key=lambda s: (s.start, s.end))
    return Transcript(
        language=language,
        source="embedded",
        segments=segments,
        encoding=decoded.encoding if cues else None,
        encoding_doubtful=decoded.doubtful,
    )


def _read_cues(
    container: av.container.InputContainer, stream: av.subtitles.stream.SubtitleStream
) -> list[tuple[float, float, bytes]]:
    """(start, end, dialogue bytes) of each cue, in seconds from the start of the media
    (a file whose timestamps start an hour in still has its first cue near 0).

    FFmpeg refuses cues that are not UTF-8 ("Invalid UTF-8 in decoded subtitles text"); for
    plain-text codecs the packet itself is the cue text, which is kept for :func:`decode_text`.
    """
    origin = media_origin(container)
    cues: list[tuple[float, float, bytes]] = []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        start = float(packet.pts * packet.time_base) - origin
        end = max(start, start + float((packet.duration or 0) * packet.time_base))
        try:
            decoded = stream.decode(packet)
        except av.InvalidDataError:
            if stream.codec_context.name not in _RAW_TEXT_CODECS:
                raise
            cues.append((start, end, _raw_cue(bytes(packet), stream.codec_context.name)))
            continue
        for cue in decoded:
            if getattr(cue, "type", None) in (b"ass", b"text"):
                cues.append((start, end, bytes(cue.dialogue).replace(_CUE_SEPARATOR, b" ")))
    return cues


def _raw_cue(data: bytes, codec: str) -> bytes:
    if codec == "mov_text":  # a 16-bit length, then the text, then style boxes
        data = data[2 : 2 + int.from_bytes(data[:2], "big")]
    return data.replace(_CUE_SEPARATOR, b" ")


def _seconds(stamp: str) -> float:
    clock, fraction = re.split(r"[,.]", stamp)
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts))) + parts
    return hours * 3600 + minutes * 60 + seconds + int(fraction.ljust(3, "0")) / 1000


def _clean(line: str) -> str:
    return html.unescape(_TAG.sub("", line)).replace("\\N", " ").replace("\\n", " ").strip()
