"""The hostile media corpus: files a careless or malicious uploader could hand the ingest.

Built from :mod:`scripts.mediagen` clips plus byte surgery on the MP4 boxes (``mvhd``/``mdhd``
durations, ``tkhd`` sizes, ``stts`` frame deltas, the ``mdat`` payload). Each input says what
ingest must do with it: ``ok`` (processed), ``failed`` (stored as failed with a one-line
reason) or ``either`` (one of the two; never a crash, a hang, or a file outside ``data_dir``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from scripts.mediagen import gradient_frames, tone, write_video

OK, FAILED, EITHER = "ok", "failed", "either"
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}

# Upload file names that try to escape the media folder or reach a shell.
HOSTILE_UPLOAD_NAMES = (
    "../../evil.mp4",
    "/etc/cron.d/evil.mp4",
    "..\\..\\evil.mp4",
    "a;rm -rf ~;.mp4",
    "$(touch pwned).mp4",
    "`touch pwned`.mp4",
    "quo\"te's.mp4",
    "new\nline.mp4",
    "видео 日本語 فيديو 🎬.mp4",
    "clip.mp4;.sh",
    "." * 300 + ".mp4",
)


@dataclass(frozen=True)
class HostileInput:
    kind: str  # short identifier of the case
    path: Path
    expect: str  # OK, FAILED or EITHER


def clip(
    path: Path,
    shade: int,
    *,
    seconds: float = 1.0,
    audio: bool = True,
    size: tuple[int, int] = (48, 64),
    **kwargs,
) -> Path:
    """A small valid mp4; ``shade`` makes its bytes unique."""
    count = max(1, round(seconds * 10))
    frames = [
        np.clip(f.astype(np.int16) + shade, 0, 255).astype(np.uint8)
        for f in gradient_frames(count, *size)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(
        path, frames, 10, audio=tone(seconds, 200 + shade) if audio else None, threads=1, **kwargs
    )


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An mp4 with one AAC stream and no video."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            tone(seconds).reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def other_container(path: Path, fmt: str, codec: str, shade: int) -> Path:
    """A video in another container/codec (mkv, webm) whatever the name says."""
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, image in enumerate(gradient_frames(10)):
            frame = av.VideoFrame.from_ndarray(
                np.clip(image.astype(np.int16) + shade, 0, 255).astype(np.uint8), format="rgb24"
            )
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def damaged_packets(path: Path, kind: str, *, every: int = 1, seed: int = 0) -> Path:
    """A 2 s mp4 (video 10 fps + AAC) in which every ``every``-th packet of the ``kind``
    ("video", "audio" or "both") stream is replaced by random bytes of the same size, timing kept:
    what a bad transfer or a failing disk leaves in one stream while the other is intact."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=Fraction(10))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono")
        packets = []
        for i, image in enumerate(gradient_frames(20)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            packets.extend(video.encode(frame))
        packets.extend(video.encode(None))
        sound = av.AudioFrame.from_ndarray(tone(2.0).reshape(1, -1), format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 16000, 0
        packets.extend([*audio.encode(sound), *audio.encode(None)])
        count = 0
        for packet in packets:
            if kind in (packet.stream.type, "both"):
                if count % every == 0:
                    broken = av.Packet(rng.integers(0, 256, packet.size, np.uint8).tobytes())
                    broken.stream, broken.time_base = packet.stream, packet.time_base
                    broken.pts, broken.dts = packet.pts, packet.dts
                    broken.duration = packet.duration
                    packet = broken
                count += 1
            container.mux(packet)
    return path


# --- MP4 box surgery ----------------------------------------------------------------------------


def boxes(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """``(type, offset, size)`` of every box, depth first (container boxes are descended)."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset, size
        if kind in _CONTAINERS:
            yield from boxes(data, offset + header, offset + size)
        offset += size


def _find(data: bytearray, kind: bytes) -> list[tuple[int, int]]:
    return [(offset, size) for k, offset, size in boxes(data) if k == kind]


def patch_durations(data: bytearray, *, movie: bool, media: bool) -> bytearray:
    """Claim a 136-year duration: timescale 1 and duration 2**32-1 in mvhd and/or every mdhd."""
    for kind, wanted in ((b"mvhd", movie), (b"mdhd", media)):
        if not wanted:
            continue
        for offset, _ in _find(data, kind):
            version = data[offset + 8]
            if version == 0:
                struct.pack_into(">II", data, offset + 20, 1, 0xFFFFFFFF)
            else:
                struct.pack_into(">IQ", data, offset + 28, 1, 0xFFFFFFFFFFFFFFFF)
    return data


def patch_track_size(data: bytearray, width: int, height: int) -> bytearray:
    """Claim a display size in every tkhd (16.16 fixed point)."""
    for offset, _ in _find(data, b"tkhd"):
        base = offset + (84 if data[offset + 8] == 0 else 96)
        struct.pack_into(">II", data, base, width << 16, height << 16)
    return data


def patch_zero_frame_deltas(data: bytearray) -> bytearray:
    """Every sample lasts 0 ticks: all frames at time 0, 0 fps."""
    for offset, _ in _find(data, b"stts"):
        (count,) = struct.unpack_from(">I", data, offset + 12)
        for i in range(count):
            struct.pack_into(">I", data, offset + 16 + 8 * i + 4, 0)
    return data


def corrupt_mdat(data: bytearray, seed: int = 0) -> bytearray:
    """Overwrite the middle 40% of the media payload with random bytes (the index stays valid)."""
    [(offset, size)] = _find(data, b"mdat")
    start, stop = offset + 8 + (size - 8) * 3 // 10, offset + 8 + (size - 8) * 7 // 10
    data[start:stop] = (
        np.random.default_rng(seed).integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    )
    return data


# --- the corpus ---------------------------------------------------------------------------------


def build_corpus(folder: Path, *, full: bool = True) -> list[HostileInput]:
    """Write the hostile inputs into ``folder`` (created); distinct bytes unless a case is about
    duplicates. ``full=False`` leaves out the cases that cost real decoding (damaged streams,
    odd timing, other codecs), for the fast suite."""
    folder.mkdir(parents=True, exist_ok=True)
    work = folder.parent / f".{folder.name}-sources"
    work.mkdir(exist_ok=True)
    corpus: list[HostileInput] = []
    shade = iter(range(3, 250, 7))

    def add(
        kind: str, name: str, expect: str, data: bytes | None = None, source: Path | None = None
    ) -> Path:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        elif source is not None:
            path.write_bytes(source.read_bytes())
        corpus.append(HostileInput(kind, path, expect))
        return path

    plain = clip(work / "plain.mp4", next(shade), seconds=2.0)  # index (moov) at the end
    add("zero-byte", "empty.mp4", FAILED, b"")
    for percent in (10, 50, 90):
        raw = plain.read_bytes()
        add(f"truncated-{percent}%", f"cut{percent}.mp4", FAILED, raw[: len(raw) * percent // 100])
    add(
        "random-bytes",
        "noise.mp4",
        FAILED,
        np.random.default_rng(1).integers(0, 256, 65536, np.uint8).tobytes(),
    )
    add(
        "random-bytes-mkv",
        "noise.mkv",
        FAILED,
        np.random.default_rng(2).integers(0, 256, 4096, np.uint8).tobytes(),
    )
    add("text-as-video", "page.webm", FAILED, b"<html><script>alert(1)</script></html>\n" * 50)
    add(
        "1x1-px",
        "dot.mp4",
        EITHER,
        source=clip(work / "dot.mp4", next(shade), size=(1, 1), pix_fmt="yuv444p"),
    )
    add(
        "huge-resolution-sps",
        "wide.mp4",
        FAILED,
        source=clip(work / "w.mp4", next(shade), seconds=0.2, audio=False, size=(16, 8200)),
    )
    add(
        "avi-holding-mp4",
        "really-mp4.avi",
        OK,
        source=clip(work / "x.mp4", next(shade), audio=False),
    )
    for kind, name in (
        ("name-semicolon", "a;rm -rf ~;.mp4"),
        ("name-subshell", "$(touch pwned).mp4"),
        ("name-backticks", "`touch pwned`.mp4"),
        ("name-quotes", "quo\"te's.mp4"),
        ("name-newline", "new\nline.mp4"),
        ("name-non-ascii", "видео 日本語 فيديو 🎬.mp4"),
        ("name-leading-dash", "-rf.mp4"),
    ):
        add(
            kind,
            name,
            OK,
            source=clip(work / f"n{len(corpus)}.mp4", next(shade), seconds=0.5, audio=False),
        )
    first = add(
        "duplicate-a", "original.mp4", OK, source=clip(work / "dup.mp4", next(shade), audio=False)
    )
    add("duplicate-b", "same bytes other name.mkv", OK, first.read_bytes())
    (folder / "folder.mp4").mkdir()  # a directory with a video name: not an input
    os.mkfifo(folder / "pipe.mp4")  # would block a reader forever: must never be opened
    if not full:
        return corpus
    streamable = clip(work / "fast.mp4", next(shade), seconds=2.0, faststart=True)  # moov first
    for percent in (10, 50, 90):
        raw = streamable.read_bytes()
        add(
            f"truncated-faststart-{percent}%",
            f"fastcut{percent}.mp4",
            EITHER,
            raw[: len(raw) * percent // 100],
        )
    add(
        "corrupt-mdat",
        "broken-stream.mp4",
        EITHER,
        bytes(corrupt_mdat(bytearray(clip(work / "c.mp4", next(shade), seconds=2.0).read_bytes()))),
    )
    add("audio-only", "sound.mp4", EITHER, source=audio_only(work / "a.mp4"))
    add("video-only", "silent.mp4", OK, source=clip(work / "v.mp4", next(shade), audio=False))
    add(
        "0-fps",
        "frozen.mp4",
        EITHER,
        bytes(
            patch_zero_frame_deltas(
                bytearray(clip(work / "z.mp4", next(shade), audio=False).read_bytes())
            )
        ),
    )
    add(
        "long-duration-mvhd",
        "forever.mp4",
        EITHER,
        bytes(
            patch_durations(
                bytearray(clip(work / "l1.mp4", next(shade)).read_bytes()), movie=True, media=False
            )
        ),
    )
    add(
        "long-duration-mdhd",
        "forever2.mp4",
        EITHER,
        bytes(
            patch_durations(
                bytearray(clip(work / "l2.mp4", next(shade)).read_bytes()), movie=True, media=True
            )
        ),
    )
    add(
        "huge-resolution-tkhd",
        "tall.mp4",
        EITHER,
        bytes(
            patch_track_size(
                bytearray(clip(work / "t.mp4", next(shade)).read_bytes()), 65535, 65535
            )
        ),
    )
    add(
        "mp4-holding-mkv",
        "really-mkv.mp4",
        OK,
        source=other_container(work / "m.mkv", "matroska", "libx264", next(shade)),
    )
    add(
        "mp4-holding-webm",
        "really-webm.mp4",
        OK,
        source=other_container(work / "w.webm", "webm", "libvpx", next(shade)),
    )
    return corpus
