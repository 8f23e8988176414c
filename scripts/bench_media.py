"""Benchmark the front of the pipeline and print a markdown table (all figures from this run).

Keyframe sampling (core.media.sample_keyframes) is compared side by side with two baselines on
the same clip: decoding every frame, and exact seeking (seek + decode forward to each point).
Audio decoding and faster-whisper speed are reported as multiples of real time.

    .venv/bin/python -m scripts.bench_media                    # generated 1-min 720p clips
    .venv/bin/python -m scripts.bench_media --video some.mp4   # a real file
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from core.media import load_audio, probe, sample_keyframes
from core.transcribe import FasterWhisperTranscriber
from scripts.bench_common import best_of
from scripts.mediagen import read_wav, speak_to_wav, write_video

SPEECH = (
    "Welcome back to the stadium. The home team kicks off the second half and pushes forward. "
    "A long pass finds the striker, who shoots and scores a wonderful goal. The crowd is on its "
    "feet. The referee checks the replay and the goal stands. Ten minutes left in the match."
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="benchmark this file instead of generated clips")
    parser.add_argument(
        "--gop", type=int, action="append", help="GOP sizes of generated clips (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of generated clips")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        speech = read_wav(speak_to_wav(SPEECH, Path(tmp) / "speech.wav"))
        if args.video:
            clips = {args.video.name: args.video}
        else:
            clips = {
                f"generated 1280x720 25 fps, GOP {gop}": generate_clip(
                    Path(tmp) / f"gop{gop}.mp4", gop, args.seconds, speech
                )
                for gop in (args.gop or [48, 250])
            }
        print("| clip | step | time (s) | relative |")
        print("|---|---|---:|---:|")
        for label, path in clips.items():
            for row in _video_rows(path, args.samples, args.repeat):
                print(f"| {label} | " + " | ".join(row) + " |")
        for row in _whisper_rows(speech, args.repeat):
            print("| espeak speech | " + " | ".join(row) + " |")


def _video_rows(path: Path, samples: int, repeat: int) -> Iterator[tuple[str, str, str]]:
    info = probe(path)
    probe_s = best_of(lambda: probe(path), repeat)
    keyframes_s = best_of(lambda: sample_keyframes(path, samples, info), repeat)
    exact_s = best_of(lambda: _exact_seek(path, samples, info.duration_s), repeat)
    all_s = best_of(lambda: decode_every_frame(path, samples, info.duration_s), repeat)
    got = len(sample_keyframes(path, samples, info))
    yield "probe", f"{probe_s:.3f}", ""
    yield f"keyframe sampling ({got}/{samples} distinct frames)", f"{keyframes_s:.3f}", "1.0x"
    yield (
        f"exact seek sampling ({samples} frames)",
        f"{exact_s:.3f}",
        f"{exact_s / keyframes_s:.1f}x",
    )
    yield "decode every frame", f"{all_s:.3f}", f"{all_s / keyframes_s:.1f}x"
    if info.has_audio:
        audio_s = best_of(lambda: load_audio(path), repeat)
        yield (
            f"audio decode to 16 kHz mono ({info.duration_s:.0f} s)",
            f"{audio_s:.3f}",
            (f"{info.duration_s / audio_s:.0f}x real time"),
        )


def _whisper_rows(speech: np.ndarray, repeat: int) -> Iterator[tuple[str, str, str]]:
    started = time.perf_counter()
    transcriber = FasterWhisperTranscriber()
    load_s = time.perf_counter() - started
    seconds = speech.size / 16000
    transcribe_s = best_of(lambda: transcriber.transcribe(speech), repeat)
    yield "faster-whisper tiny.en int8 load", f"{load_s:.3f}", ""
    yield (
        f"faster-whisper transcribe ({seconds:.0f} s speech)",
        f"{transcribe_s:.3f}",
        (f"RTF {transcribe_s / seconds:.3f}"),
    )


def _targets(duration: float, samples: int) -> list[float]:
    return [duration * (i + 0.5) / samples for i in range(samples)]


def _exact_seek(path: Path, samples: int, duration: float) -> list[np.ndarray]:
    """Baseline: for each point seek to the previous keyframe and decode up to the point."""
    images = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for target in _targets(duration, samples):
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time >= target:
                    images.append(frame.to_ndarray(format="rgb24"))
                    break
    return images


def decode_every_frame(path: Path, samples: int, duration: float) -> list[np.ndarray]:
    """The naive baseline keyframe sampling is compared with: decode every frame of ``path`` and
    convert the ``samples`` evenly spaced over ``duration`` seconds to RGB arrays."""
    pending = _targets(duration, samples)
    images = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if pending and frame.time >= pending[0]:
                images.append(frame.to_ndarray(format="rgb24"))
                pending.pop(0)
    return images


def generate_clip(path: Path, gop: int, seconds: float, speech: np.ndarray) -> Path:
    """Write a 1280x720 25 fps h264 clip of ``seconds`` with a keyframe every ``gop`` frames,
    motion everywhere (so frames have realistic sizes) and ``speech`` (16 kHz) looped as audio."""
    fps = 25
    rng = np.random.default_rng(0)
    texture = rng.integers(
        0, 256, (720 // 8, (1280 + 4 * fps * int(seconds)) // 8, 3), dtype=np.uint8
    )
    texture = np.repeat(np.repeat(texture, 8, axis=0), 8, axis=1)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(seconds * fps)):
            yield texture[:, 4 * i : 4 * i + 1280]

    audio = np.resize(speech, int(seconds * 16000))
    return write_video(path, frames(), fps, audio=audio, gop=gop)


if __name__ == "__main__":
    main()
