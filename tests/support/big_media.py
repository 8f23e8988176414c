"""Inputs that are big by nature but cheap to make: an 8K clip of flat frames and a 30-minute
audio track written as PCM (no encoder run), for the memory-bound tests."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def eight_k_clip(path: Path, *, frames: int = 4, fps: int = 2) -> Path:
    """7680x4320 h264, flat grey levels fed as yuv420p (no RGB conversion): seconds to make."""
    width, height = 7680, 4320
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": f"keyint={fps}"}
        for i in range(frames):
            planes = np.full((height * 3 // 2, width), 128, np.uint8)
            planes[:height] = 40 + 50 * i
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def long_audio_track(path: Path, *, minutes: float = 30.0, sample_rate: int = 16000) -> Path:
    """A quiet 220 Hz tone as 16-bit mono WAV, written in one-minute blocks."""
    block = 0.05 * 32767 * np.sin(2 * np.pi * 220 * np.arange(60 * sample_rate) / sample_rate)
    pcm = block.astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        whole, rest = divmod(minutes, 1.0)
        for _ in range(int(whole)):
            out.writeframes(pcm)
        out.writeframes(pcm[: int(rest * 60 * sample_rate) * 2])
    return path
