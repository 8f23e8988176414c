"""Benchmark: on-screen text (Tesseract OCR) of videos' keyframes, working tree beside a git
revision's ``core/media/ocr.py``, alternating per video in one process.

The frames are the ones ingest reads (``onscreen_text_frames`` spread over ``num_keyframes``),
decoded once before timing. Prints wall and CPU seconds of the Tesseract processes per version,
their ratio, and whether both versions read the same lines:

    python -m scripts.bench.ocr --baseline df1ad94 --work-dir /tmp/bench-ocr --videos 24
    python -m scripts.bench.ocr --baseline df1ad94 --folder DIR_OF_VIDEOS

A baseline before the one-process reading imports pytesseract (``pip install pytesseract``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.config import get_settings
from core.ingest.extract import spread_frames
from core.media import decode, ocr
from core.media.transcript import Segment
from scripts.bench.common import children_cpu_s, demo_corpus_videos, module_at

OCR_MODULE = "core/media/ocr.py"
Frames = list[tuple[float, np.ndarray]]


def _video_frames(folder: Path) -> list[Frames]:
    """Each readable video's frames as ingest gives them to OCR (unreadable files are skipped)."""
    settings = get_settings()
    videos = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            frames = decode.sample_keyframes(path, settings.num_keyframes)
        except decode.MediaError:
            continue
        times = [f.timestamp_s for f in frames]
        images = [f.image for f in frames]
        videos.append(spread_frames(times, images, settings.onscreen_text_frames))
    return videos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision whose ocr.py is compared")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="folder of videos to read")
    source.add_argument("--work-dir", type=Path, help="where the demo corpus is rendered (kept)")
    parser.add_argument("--videos", type=int, default=24, help="demo-corpus size (--work-dir)")
    args = parser.parse_args()
    folder = args.folder or demo_corpus_videos(args.work_dir, args.videos)
    videos = _video_frames(folder)
    readers: dict[str, Callable[..., list[Segment]]] = {
        f"at {args.baseline}": module_at(
            args.baseline, OCR_MODULE, "ocr_baseline"
        ).read_onscreen_text,
        "working tree": ocr.read_onscreen_text,
    }
    wall = dict.fromkeys(readers, 0.0)
    cpu = dict.fromkeys(readers, 0.0)
    texts: dict[str, list[list[str]]] = {label: [] for label in readers}
    for frames in videos:
        for label, read in readers.items():
            start_wall, start_cpu = time.perf_counter(), children_cpu_s()
            segments = read(frames)
            wall[label] += time.perf_counter() - start_wall
            cpu[label] += children_cpu_s() - start_cpu
            texts[label].append([s.text for s in segments])
    n_frames = sum(len(frames) for frames in videos)
    before, after = readers
    print(f"{len(videos)} videos, {n_frames} frames (Tesseract processes' CPU, all videos)")
    print("| version | wall s | CPU s |\n|---|---:|---:|")
    for label in readers:
        print(f"| {label} | {wall[label]:.2f} | {cpu[label]:.2f} |")
    print(
        f"ratio working tree / {before}: wall {wall[after] / wall[before]:.2f}, "
        f"CPU {cpu[after] / cpu[before]:.2f}"
    )
    same = sum(a == b for a, b in zip(texts[before], texts[after], strict=True))
    print(f"same lines read: {same} of {len(videos)} videos")


if __name__ == "__main__":
    main()
