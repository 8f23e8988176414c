"""Media probing, keyframe sampling and audio decoding with PyAV.

Every failure caused by the file itself becomes :class:`MediaError` with a one-line reason, so a
batch ingest can store the reason and go on with the next video. Work is bounded by the number of
samples requested, never by what the file's metadata claims (durations, frame counts).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.stream import Disposition, Stream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from core.errors import TaggerError

MAX_SIDE_PX = 8192  # larger frames are rejected before anything is decoded
# Sampled frames are scaled down to this as soon as they are decoded, so an 8K video holds no
# 8K frames: the encoders use ~224 px, on-screen text stays legible at 1280.
MAX_FRAME_SIDE_PX = 1280
VIDEO_DECODER_THREADS = 2  # frame threads each hold full-size frames: bounded, not per core
MAX_DURATION_S = 48 * 3600.0  # longer than this is corrupt metadata or not a video we tag
# Decoding forward from keyframes that several samples share costs at most this many pixels
# per call, all groups together: 1,500 frames at 720p (a minute at 25 fps, at most ~3 CPU s of
# real footage), 667 at 1080p, 167 at 4K. Enough for a one-minute clip with x264's default
# keyframe interval (250 frames, 10 s) to give all 16 frames.
MAX_FORWARD_PIXELS = 1500 * 1280 * 720
# Videos of at most this many frames are sampled in one pass from the start: there seeking to
# each sample's keyframe and decoding on from it costs more than decoding every frame (10 s of
# 720p h264 with a keyframe every 48 frames: 301-627 ms against 207-362 ms; from 30 s on the
# seeks win, 1.3-9.6x). Short clips are much of what platforms upload.
ONE_PASS_MAX_FRAMES = 300
MAX_PROBE_PACKETS = 2000  # packets read while looking for the first decodable frames
MAX_DAMAGED_PACKETS = 50  # undecodable packets tolerated per pass before a file is corrupt
LATE_START_S = 0.5  # timestamps starting later than this: the duration is measured, not read
MAX_AUDIO_S = 1800.0  # load_audio keeps the first 30 min: 115 MB of float32 at 16 kHz
AUDIO_SAMPLE_RATE = 16000
THUMBNAIL_QUALITY = 85
# Keyframes decoded on their own skip the in-loop filters (h264 deblocking; hevc also SAO): ~8%
# less CPU per 720p h264 intra frame (hevc ~5%), for frames within 41 dB PSNR of fully filtered
# ones (48 dB at the 224 px the encoders see). Frames decoded forward from a keyframe keep the
# filters, or the difference would drift through every predicted frame.
KEYFRAME_DECODER_OPTIONS = {"skip_loop_filter": "all"}
# Frames decoded forward skip the frames nothing refers to (most B-frames): exact for every frame
# kept, 30-45% less CPU on h264 (the sample then shows the reference frame at most a few frames
# before its point). Decoders that do not support it (VP9, MPEG-4 part 2) decode every frame.
FORWARD_DECODER_OPTIONS = {"skip_frame": "noref"}
_HASH_CHUNK = 1 << 20
_NOT_VIDEO_FORMATS = {"image2", "tty", "lrc", "srt", "webvtt", "ass", "microdvd", "subviewer"}

logger = logging.getLogger(__name__)


class MediaError(TaggerError):
    """A file that cannot be used as media; ``reason`` is one human-readable line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learned about a file.

    ``width``/``height`` are the upright display size (after ``rotation``), ``rotation`` is the
    counter-clockwise angle (0, 90, 180 or 270) applied to decoded frames to make them upright.
    """

    duration_s: float
    has_video: bool
    has_audio: bool
    width: int
    height: int
    fps: float | None
    rotation: int
    video_codec: str | None
    audio_codec: str | None
    subtitle_streams: int
    container_format: str
    dropped: tuple[tuple[str, str], ...] = ()  # ("video" | "audio", why it was left out)
    start_s: float = 0.0  # the first timestamp: every time we report is relative to it


@dataclass(frozen=True)
class DecodedFrame:
    """An upright RGB frame (HxWx3 uint8) and its presentation time: a sampled keyframe in
    memory (its stored thumbnail is a ``db.tables.Keyframe`` row)."""

    timestamp_s: float
    image: np.ndarray


def probe(path: str | Path) -> MediaInfo:
    """Read stream metadata and decode the first frame of each stream to prove it is usable.

    A video or audio stream that cannot be decoded is left out (``has_video``/``has_audio``
    false) with its reason in ``dropped``, as long as the other one decodes; with neither, the
    file is not media. Durations are measured from the first timestamp, wherever it starts.
    """
    with _open(path) as container:
        video = _video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("the file has no video or audio stream")
        dropped: list[tuple[str, str]] = []
        usable: list[Stream] = []
        for stream in (video, audio):
            if stream is not None and stream.codec_context is None:
                reason = (
                    f"the {stream.type} stream cannot be decoded (unknown codec or damaged header)"
                )
                dropped.append((stream.type, reason))
            elif stream is not None:
                usable.append(stream)
        if video in usable:
            _check_resolution(video)
            video.codec_context.thread_count = VIDEO_DECODER_THREADS
        first = _first_frames(container, usable)
        for stream in usable:
            if stream.index not in first:
                dropped.append((stream.type, f"the {stream.type} stream has no decodable frames"))
        if not first:
            raise MediaError("; ".join(reason for _, reason in dropped))
        video = video if video is not None and video.index in first else None
        audio = audio if audio is not None and audio.index in first else None
        duration = _duration(container)
        rotation, width, height = 0, 0, 0
        if video is not None:
            frame = first[video.index]
            rotation = _rotation(frame)
            width, height = frame.width, frame.height
            if rotation % 180:
                width, height = height, width
        return MediaInfo(
            duration_s=duration,
            has_video=video is not None,
            has_audio=audio is not None,
            width=width,
            height=height,
            fps=_fps(video) if video is not None else None,
            rotation=rotation,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            subtitle_streams=len(container.streams.subtitles),
            container_format=container.format.name,
            dropped=tuple(dropped),
            start_s=media_origin(container),
        )


def not_media_reason(path: str | Path) -> str | None:
    """Why ``path`` is no video or audio file (in words), or None when it has a video or audio
    stream. Only the container header is read: cheap enough for every file of a folder.

    FFmpeg opens still images (image2, ``*_pipe`` demuxers) and text (the ``tty`` demuxer) as
    one-frame video; those are not media we tag. Animated GIFs are.
    """
    try:
        with _open(path) as container:
            if container.format.name in _NOT_VIDEO_FORMATS or container.format.name.endswith(
                "_pipe"
            ):
                return f"not a video or audio file ({container.format.long_name or 'image'})"
            if _video_stream(container) is None and not container.streams.audio:
                return "not a video or audio file (no video or audio stream)"
    except MediaError as e:
        return e.reason
    return None


def sample_keyframes(path: str | Path, n: int, info: MediaInfo | None = None) -> list[DecodedFrame]:
    """Up to ``n`` distinct upright frames spread over the whole video, sorted by time.

    A video of at most ``ONE_PASS_MAX_FRAMES`` frames is decoded once from the start, keeping
    the frame on screen at each sample point. In a longer one each sample point seeks to the
    keyframe at or before it and decodes that packet only (cheap, with
    ``KEYFRAME_DECODER_OPTIONS``). When several points share a keyframe (few-GOP videos) the
    later ones decode forward from it (``FORWARD_DECODER_OPTIONS``), within
    ``MAX_FORWARD_PIXELS`` per call; a point out of that reach gets the last frame decoded
    towards it, and fewer than ``n`` frames may come back. Frames are scaled to at most
    ``MAX_FRAME_SIDE_PX``. Audio-only files give ``[]``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    info = info or probe(path)
    if not info.has_video:
        return []
    start = info.start_s  # not measured in the passes below: skip_frame hides the first time
    targets = [start + info.duration_s * (i + 0.5) / n for i in range(n)]
    if info.fps and info.duration_s * info.fps <= ONE_PASS_MAX_FRAMES:
        with _decoding_video(path) as (container, stream):
            # twice the frames the metadata promises: bounded even where it understates them
            frames, _ = _decode_forward(container, stream, start, targets, 2 * ONE_PASS_MAX_FRAMES)
    else:
        frames = _seek_keyframes(path, targets)
    if not frames:
        raise MediaError("no video frame could be decoded at the sample points")
    return [
        DecodedFrame(timestamp_s=t - start, image=_to_upright_rgb(frame, info.rotation))
        for t, frame in sorted(frames.items())
    ]


def _seek_keyframes(path: str | Path, targets: list[float]) -> dict[float, VideoFrame]:
    """By frame time, the keyframe at or before each target, and for the targets that share a
    keyframe with an earlier one the frame on screen then (decoded forward from it).

    The groups that share a keyframe share one budget of decoded frames, nearest last target
    first: each may use an equal part of what is left, so what a group does not need goes to
    the groups after it and as many targets as the budget allows are reached.
    """
    with _decoding_video(path, KEYFRAME_DECODER_OPTIONS) as (container, stream):
        budget = max(1, MAX_FORWARD_PIXELS // max(1, stream.width * stream.height))
        groups = _keyframe_groups(container, stream, targets)
    frames = {time: keyframe for time, (keyframe, _) in groups.items()}
    shared = sorted(  # nearest last target first (keyframe times are distinct)
        (points[-1] - time, time, points[1:])
        for time, (_, points) in groups.items()
        if len(points) > 1
    )
    if shared:  # a decoder of its own: the keyframe pass's options must not reach these frames
        with _decoding_video(path, FORWARD_DECODER_OPTIONS) as (container, stream):
            for i, (_, time, later) in enumerate(shared):
                part = max(1, budget // (len(shared) - i))
                picked, decoded = _decode_forward(container, stream, time, later, part)
                frames.update(picked)
                budget -= decoded
    return frames


def load_audio(
    path: str | Path, sample_rate: int = AUDIO_SAMPLE_RATE, max_seconds: float = MAX_AUDIO_S
) -> np.ndarray | None:
    """The first audio stream as mono float32 at ``sample_rate``; ``None`` when there is none.

    Only the first ``max_seconds`` are kept (memory; Whisper on CPU would not get further in
    reasonable time anyway). Samples are concatenated in decode order, timestamp gaps are not
    filled with silence.
    """
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        limit = int(max_seconds * sample_rate)
        # One buffer for the longest track kept: pages are only resident once written, and no
        # chunk list is concatenated (which held the samples twice at the peak).
        samples = np.empty(limit, np.float32)
        total = 0
        for _, frames in _decoded(container, [stream]):
            for frame in frames:
                total = _append(samples, total, _resample(resampler, frame))
            if total >= limit:
                break
        else:
            total = _append(samples, total, _resample(resampler, None))
    if not total:
        raise MediaError("the audio stream has no decodable samples")
    return samples[:total].copy() if total < limit // 2 else samples[:total]


def _append(buffer: np.ndarray, at: int, frames: list[av.AudioFrame]) -> int:
    """Copy the frames' samples into ``buffer`` from ``at`` (up to its end); the new end."""
    for frame in frames:
        data = frame.to_ndarray().reshape(-1)[: buffer.size - at]
        buffer[at : at + data.size] = data
        at += data.size
    return at


def make_thumbnail(image: np.ndarray, max_px: int) -> bytes:
    """JPEG bytes of ``image`` (HxWx3 uint8 RGB) scaled so its longest side is at most
    ``max_px``."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    if max_px < 1:
        raise ValueError(f"max_px must be positive, got {max_px}")
    picture = Image.fromarray(image)
    picture.thumbnail((max_px, max_px))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def content_hash(path: str | Path) -> str:
    """Hex sha256 of the file's bytes, read in chunks (dedupe and cache key)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open(path: str | Path, options: dict[str, str] | None = None) -> InputContainer:
    """The file opened for reading; ``options`` go to the demuxer and to the decoders FFmpeg
    runs while it probes the streams (decoder threads are capped: each frame thread holds
    full-size frames, 50 MB apiece at 8K, and FFmpeg's default is one per core)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"file not found: {path.name}")
    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    options = {"threads": str(VIDEO_DECODER_THREADS), **(options or {})}
    try:
        return av.open(str(path), mode="r", metadata_errors="replace", options=options)
    except av.FFmpegError as e:
        raise MediaError(f"not a readable media file: {_describe(e)}") from e


def _resample(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
    try:
        return resampler.resample(frame)
    except av.FFmpegError as e:
        raise MediaError(f"audio resampling failed: {_describe(e)}") from e


def _describe(error: av.FFmpegError) -> str:
    return error.strerror or type(error).__name__


def _video_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream; cover art (an "attached picture", e.g. in music files) is
    not video."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def _check_resolution(video: VideoStream) -> None:
    width, height = video.codec_context.width, video.codec_context.height
    if max(width, height) > MAX_SIDE_PX:
        raise MediaError(f"video resolution {width}x{height} exceeds the {MAX_SIDE_PX} px limit")


def _first_frames(container: InputContainer, streams: list[Stream]) -> dict[int, av.frame.Frame]:
    """First decoded frame of each stream that has one, reading a bounded number of packets
    (damaged packets of one stream do not stop the search in the others)."""
    found: dict[int, av.frame.Frame] = {}
    if not streams:
        return found
    for packets, packet in enumerate(_packets(container, streams), start=1):
        frames = _decode_packet(packet)
        if frames and packet.stream.index not in found:
            found[packet.stream.index] = frames[0]
        if len(found) == len(streams) or packets >= MAX_PROBE_PACKETS:
            break
    return found


def _duration(container: InputContainer) -> float:
    """Container or stream duration; re-measured from the last packets when absent or absurd, or
    when timestamps start late (muxers then often store the end time as the duration)."""
    start = container.start_time / av.time_base if container.start_time else 0.0
    seconds = container.duration / av.time_base if container.duration else None
    if start > LATE_START_S:
        seconds = None
    if not seconds:
        durations = [
            float(s.duration * s.time_base)
            for s in container.streams
            if s.duration and s.time_base and s.type in ("video", "audio")
        ]
        seconds = max(durations, default=None)
    if not seconds or seconds > MAX_DURATION_S:
        seconds = _measured_duration(container)
    if seconds > MAX_DURATION_S:
        hours, limit = seconds / 3600, MAX_DURATION_S / 3600
        raise MediaError(f"duration {hours:.0f} h exceeds the {limit:.0f} h limit")
    return seconds


def _measured_duration(container: InputContainer) -> float:
    """End time of the last packet, read from the last keyframe on (the index makes this cheap)."""
    streams = [s for s in container.streams if s.type in ("video", "audio")]
    try:
        container.seek(2**62, backward=True, any_frame=False)
    except av.FFmpegError:
        _rewind(container)  # not seekable to the end: read everything once
    end = None
    for packet in _packets(container, streams):
        if packet.pts is not None and packet.time_base:
            stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = stop if end is None else max(end, stop)
    if end is None:
        raise MediaError("the file has no timestamps to measure its duration")
    first = min((float(s.start_time * s.time_base) for s in streams if s.start_time), default=0.0)
    return max(end - first, 0.0)


def media_origin(container: InputContainer) -> float:
    """Seconds where the media starts, which players show as 0:00: the earliest start time of
    its video and audio streams (a subtitle track may start later), else the container's."""
    starts = [
        float(s.start_time * s.time_base)
        for s in container.streams
        if s.type in ("video", "audio") and s.start_time is not None and s.time_base
    ]
    if starts:
        return min(starts)
    return container.start_time / av.time_base if container.start_time else 0.0


def _rewind(container: InputContainer) -> None:
    try:
        container.seek(0)
    except av.FFmpegError as e:
        raise MediaError(f"the file cannot be read back from the start: {_describe(e)}") from e


def _rotation(frame: VideoFrame) -> int:
    """Counter-clockwise degrees of the display matrix (FFmpeg attaches it to decoded frames;
    the legacy ``rotate`` tag is turned into a display matrix by the demuxer)."""
    return round(frame.rotation / 90) % 4 * 90


def _fps(video: VideoStream) -> float | None:
    rate = video.average_rate
    return float(rate) if rate else None


@contextmanager
def _decoding_video(
    path: str | Path, options: dict[str, str] | None = None
) -> Iterator[tuple[InputContainer, VideoStream]]:
    """The file's video stream, its decoder opened with ``options``; decoder errors inside the
    block become :class:`MediaError`."""
    # Opening probes the streams by decoding their first frames; probe() has proved them usable
    # already, so that decode (one more keyframe) is skipped.
    with _open(path, {"skip_frame": "all"}) as container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError("the file has no video stream")
        if stream.codec_context is None:
            raise MediaError("the video stream cannot be decoded (unknown codec or damaged header)")
        stream.codec_context.options = options or {}  # read when the first packet opens it
        stream.codec_context.thread_count = VIDEO_DECODER_THREADS
        try:
            yield container, stream
        except av.FFmpegError as e:
            raise MediaError(f"video decoding failed: {_describe(e)}") from e


def _keyframe_groups(
    container: InputContainer, stream: VideoStream, targets: list[float]
) -> dict[float, tuple[VideoFrame, list[float]]]:
    """The keyframe at or before each target time, keyed by its own time, with the targets it
    serves (in order). Only keyframes are decoded."""
    stream.codec_context.skip_frame = "NONKEY"
    groups: dict[float, tuple[VideoFrame, list[float]]] = {}
    known: dict[int, VideoFrame] = {}
    for target in targets:
        frame = _keyframe_before(container, stream, target, known)
        if frame is not None and frame.time is not None:
            groups.setdefault(frame.time, (frame, []))[1].append(target)
    return groups


def _keyframe_before(
    container: InputContainer, stream: VideoStream, time: float, known: dict[int, VideoFrame]
) -> VideoFrame | None:
    """The keyframe at or before ``time``, decoding that one packet unless already ``known``
    (by packet pts: with few keyframes most seeks land on one decoded before)."""
    container.seek(_to_pts(stream, time), stream=stream, backward=True, any_frame=False)
    for packet in _packets(container, [stream]):
        if packet.is_keyframe and packet.pts in known:
            return known[packet.pts]
        frames = [_shrink(f) for f in _decode_packet(packet) or []]
        if not frames and packet.is_keyframe:
            # With B-frames the decoder holds the keyframe back until later frames arrive (with
            # NONKEY skipping: later keyframes). Draining releases it now; the next seek resets.
            frames = [_shrink(f) for f in _drain(stream)]
        if frames or packet.is_keyframe:
            if frames and packet.is_keyframe and packet.pts is not None:
                known[packet.pts] = frames[0]
            return frames[0] if frames else None
    return None


def _drain(stream: VideoStream) -> list[VideoFrame]:
    try:
        frames = stream.decode(None)
    except av.InvalidDataError as e:
        logger.warning("%s: damaged keyframe skipped: %s", stream.container.name, _describe(e))
        return []
    for frame in frames:  # frames drained without a packet carry no time base
        frame.time_base = stream.time_base
    return frames


def _decode_forward(
    container: InputContainer,
    stream: VideoStream,
    keyframe_time: float,
    targets: list[float],
    budget: int,
) -> tuple[dict[float, VideoFrame], int]:
    """For each target the frame on screen at that time, and the frames decoded (at most
    ``budget``). Targets left then get the last frame decoded, once: at the end of the stream it
    stays on screen, and otherwise it is the nearest to them that the budget reaches."""
    container.seek(_to_pts(stream, keyframe_time), stream=stream, backward=True, any_frame=False)
    pending = sorted(targets)
    picked: dict[float, VideoFrame] = {}
    shown: VideoFrame | None = None
    decoded = 0
    for decoded, frame in enumerate(_frames(container, stream), start=1):
        if frame.time is None:
            continue
        while pending and frame.time > pending[0]:
            chosen = shown or frame
            if chosen.time not in picked:
                picked[chosen.time] = _shrink(chosen)
            pending.pop(0)
        shown = frame
        if not pending or decoded >= budget:
            break
    if pending and shown is not None and shown.time not in picked:
        picked[shown.time] = _shrink(shown)
    return picked, decoded


def _frames(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]:
    for _, frames in _decoded(container, [stream]):
        yield from frames


def _decoded(
    container: InputContainer, streams: list[Stream]
) -> Iterator[tuple[av.Packet, list[av.frame.Frame]]]:
    """Each packet with its decoded frames from the current position on.

    Damaged packets are skipped (see :func:`_decode_packet`); past ``MAX_DAMAGED_PACKETS`` in
    one pass the file counts as corrupt. A demuxer error ends the stream.
    """
    damaged = 0
    for packet in _packets(container, streams):
        frames = _decode_packet(packet)
        if frames is None:
            damaged += 1
            if damaged > MAX_DAMAGED_PACKETS:
                raise MediaError(
                    f"the file is corrupt: more than {MAX_DAMAGED_PACKETS} damaged packets"
                )
            continue
        yield packet, frames


def _decode_packet(packet: av.Packet) -> list[av.frame.Frame] | None:
    """Decoded frames, or None for a packet the decoder rejects (damaged or cut-off data):
    skipped as the ffmpeg CLI does, so a truncated tail does not lose the whole file. Audio
    packets decode independently, so any decoder error on one (AAC reports odd ones, e.g.
    "Operation not permitted") only loses that packet."""
    try:
        return packet.decode()
    except av.FFmpegError as e:
        kind = packet.stream.type
        if kind != "audio" and not isinstance(e, av.InvalidDataError):
            raise MediaError(f"{kind} decoding failed: {_describe(e)}") from e
        logger.warning(
            "%s: skipped a damaged %s packet: %s", packet.stream.container.name, kind, _describe(e)
        )
        return None


def _packets(container: InputContainer, streams: list[Stream]) -> Iterator[av.Packet]:
    """Demuxed packets; a read error ends the stream (nothing after it is reachable)."""
    packets = container.demux(streams)
    while True:
        try:
            yield next(packets)
        except StopIteration:
            return
        except av.FFmpegError as e:
            logger.warning("%s: reading stopped early: %s", container.name, _describe(e))
            return


def _to_pts(stream: VideoStream, seconds: float) -> int:
    time_base = stream.time_base or Fraction(1, av.time_base)
    return int(Fraction(seconds) / time_base)


def _shrink(frame: VideoFrame) -> VideoFrame:
    """``frame`` scaled to at most ``MAX_FRAME_SIDE_PX`` (time kept): kept frames stay small."""
    scale = min(1.0, MAX_FRAME_SIDE_PX / max(frame.width, frame.height))
    if scale >= 1.0:
        return frame
    return frame.reformat(
        width=max(2, round(frame.width * scale / 2) * 2),
        height=max(2, round(frame.height * scale / 2) * 2),
    )


def _to_upright_rgb(frame: VideoFrame, rotation: int) -> np.ndarray:
    rgb = _shrink(frame).to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
