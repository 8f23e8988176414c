"""Synthetic media for tests, benchmarks and the demo corpus.

Speech comes from espeak-ng, video and audio are encoded with PyAV (h264 yuv420p + aac in mp4),
subtitles can be embedded as a mov_text stream (PyAV >= 15 encodes text subtitles).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import TaggerError
from core.media.decode import load_audio
from core.media.transcript import Segment

VIDEO_TIME_BASE = Fraction(1, 90000)
SUBTITLE_TIME_BASE = Fraction(1, 1000)
# mov_text needs an ASS header describing the (single, default) style it maps cues to.
_ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text

"""


class MediaGenError(TaggerError, RuntimeError):
    """A synthetic-media tool is missing or failed."""


def speak_to_wav(
    text: str, path: Path, *, voice: str = "en-us", words_per_minute: int = 150
) -> Path:
    """Synthesise ``text`` with espeak-ng into a WAV file (text goes through stdin, no shell)."""
    executable = shutil.which("espeak-ng")
    if executable is None:
        raise MediaGenError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = Path(path)
    command = [executable, "-v", voice, "-s", str(words_per_minute), "-w", str(path), "--stdin"]
    result = subprocess.run(command, input=text.encode(), capture_output=True, check=False)
    if result.returncode != 0 or not path.is_file():
        raise MediaGenError(
            f"espeak-ng failed ({result.returncode}): {result.stderr.decode().strip()}"
        )
    return path


def read_wav(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples of an audio file, resampled to ``sample_rate``."""
    samples = load_audio(path, sample_rate=sample_rate)
    if samples is None:
        raise MediaGenError(f"{path} has no audio stream")
    return samples


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    rotation: int | None = None,
    subtitles: list[Segment] | None = None,
    subtitle_language: str | None = None,
    gop: int = 48,
    timestamps: Sequence[float] | None = None,
    pix_fmt: str = "yuv420p",
    faststart: bool = False,
    threads: int | None = None,
) -> Path:
    """Encode RGB frames (HxWx3 uint8) as h264 (+ aac, + mov_text) in an mp4.

    Odd sizes are padded by repeating the last row/column because yuv420p needs even ones
    (``pix_fmt="yuv444p"`` keeps any size, 1x1 included). ``rotation`` is stored as a
    counter-clockwise display rotation; ``timestamps`` (seconds, increasing) make the video
    variable-frame-rate instead of ``fps``-regular; ``gop`` is the keyframe interval in frames;
    ``faststart`` puts the index first, as in files prepared for streaming; ``threads=1`` makes
    x264's output byte-identical across runs (its multi-threaded output depends on scheduling);
    ``subtitle_language`` tags the subtitle track (ISO 639-2, e.g. ``"rus"``).
    """
    path = Path(path)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.pix_fmt = pix_fmt
        video.time_base = video.codec_context.time_base = VIDEO_TIME_BASE
        video.codec_context.gop_size = gop
        if threads is not None:
            video.codec_context.thread_count = threads
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        if timestamps is not None:  # x264 derives B-frame DTS from the frame rate; mp4 then
            params += ":bframes=0"  # computes a wrong duration for variable-rate input
        video.options = {"preset": "veryfast", "x264-params": params}
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        subtitle_stream = None
        if subtitles:
            subtitle_stream = container.add_stream("mov_text")
            subtitle_stream.codec_context.subtitle_header = _ASS_HEADER
            subtitle_stream.time_base = SUBTITLE_TIME_BASE
            if subtitle_language:
                subtitle_stream.metadata["language"] = subtitle_language
        _write_frames(container, video, frames, fps, timestamps, pad=pix_fmt == "yuv420p")
        if audio_stream is not None:
            _write_audio(container, audio_stream, audio, sample_rate)
        if subtitle_stream is not None:
            _write_subtitles(container, subtitle_stream, subtitles)
    return path


def write_subrip_mkv(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: float,
    cues: Iterable[Segment],
    *,
    encoding: str = "utf-8",
    start_s: float = 0.0,
) -> Path:
    """A Matroska file with h264 video and a SubRip track whose cue bytes are in ``encoding``
    (as old rips carry Windows-1251 or KOI8-R text); every timestamp is shifted by ``start_s``,
    like a recording cut out of a longer stream."""
    path = Path(path)
    with av.open(str(path), mode="w", format="matroska") as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "veryfast", "x264-params": "bframes=0"}
        subtitle_stream = container.add_stream("subrip")
        subtitle_stream.codec_context.subtitle_header = _ASS_HEADER
        subtitle_stream.time_base = SUBTITLE_TIME_BASE
        offset = round(start_s * fps)
        packets: list[tuple[float, av.Packet]] = []
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = offset + index
            packets.extend((float(p.pts * p.time_base), p) for p in video.encode(frame))
        packets.extend((float(p.pts * p.time_base), p) for p in video.encode(None))
        for cue in cues:
            packet = av.Packet(cue.text.encode(encoding))
            packet.stream = subtitle_stream
            packet.pts = packet.dts = round((cue.start + start_s) / SUBTITLE_TIME_BASE)
            packet.duration = round((cue.end - cue.start) / SUBTITLE_TIME_BASE)
            packet.time_base = SUBTITLE_TIME_BASE
            packets.append((cue.start + start_s, packet))
        for _, packet in sorted(packets, key=lambda item: item[0]):  # interleaved by time
            container.mux(packet)
    return path


def write_srt(segments: Iterable[Segment], path: Path) -> Path:
    """Write segments as a SubRip file (UTF-8)."""
    blocks = [
        f"{i}\n{_srt_time(s.start)} --> {_srt_time(s.end)}\n{s.text}\n"
        for i, s in enumerate(segments, start=1)
    ]
    path = Path(path)
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def gradient_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Flat frames whose brightness grows with the index, so samples are told apart by content."""
    levels = np.linspace(10, 250, count) if count > 1 else [10]
    return [np.full((height, width, 3), round(level), np.uint8) for level in levels]


def tone(seconds: float, hz: float = 440.0, sample_rate: int = 16000) -> np.ndarray:
    """A sine tone at amplitude 0.2 (float32 mono)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _write_frames(
    container: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    frames: Iterable[np.ndarray],
    fps: float,
    timestamps: Sequence[float] | None,
    *,
    pad: bool,
) -> None:
    index = -1
    for index, image in enumerate(frames):
        if pad:
            image = np.pad(
                image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge"
            )
        if index == 0:
            stream.height, stream.width = image.shape[:2]
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image, dtype=np.uint8), format="rgb24"
        )
        seconds = timestamps[index] if timestamps is not None else index / fps
        frame.pts = round(seconds / VIDEO_TIME_BASE)
        frame.time_base = VIDEO_TIME_BASE
        container.mux(stream.encode(frame))
    if index < 0:
        raise ValueError("write_video needs at least one frame")
    container.mux(stream.encode(None))


def _write_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    samples: np.ndarray,
    sample_rate: int,
) -> None:
    frame = av.AudioFrame.from_ndarray(
        np.asarray(samples, dtype=np.float32).reshape(1, -1), format="fltp", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.pts = 0
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _write_subtitles(
    container: av.container.OutputContainer,
    stream: av.subtitles.stream.SubtitleStream,
    segments: list[Segment],
) -> None:
    for index, segment in enumerate(segments):
        start = round(segment.start / SUBTITLE_TIME_BASE)
        length = round((segment.end - segment.start) / SUBTITLE_TIME_BASE)
        text = segment.text.replace("\n", "\\N")
        cue = av.subtitles.subtitle.SubtitleSet.create(
            f"{index},0,Default,,0,0,0,,{text}".encode(), 0, length, pts=start
        )
        packet = stream.codec_context.encode_subtitle(cue)
        packet.stream = stream
        packet.pts = packet.dts = start
        packet.duration = length
        container.mux(packet)


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
