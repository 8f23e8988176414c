"""On-screen text of a video: Tesseract OCR of its keyframes, deduplicated across frames.

Captions burned into the picture, score boards, channel names and title cards say a lot about a
video's topic and are in no other modality. The keyframes are read with Tesseract (Debian's
``tesseract-ocr`` with English and Russian data); words below ``MIN_CONFIDENCE`` are dropped
(Tesseract reads texture as letters), and the same line seen on consecutive keyframes becomes one
:class:`~core.media.transcript.Segment` spanning them, so a caption shown for a minute counts once.
A keyframe nearly identical to the previous one is not read again (static shots cost one read).

All of a video's frames go to one ``tesseract`` process with one OpenMP thread: loading the
language models is most of the cost of reading a small frame, and on such frames Tesseract's
thread team costs more CPU than it saves (8 demo frames: ~1.5 CPU s as one process each with
default threads, ~0.1-0.3 s this way; ``docs/BENCHMARKS.md``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import TaggerError
from core.media.transcript import Segment

DEFAULT_LANGUAGES = "eng+rus"
MIN_CONFIDENCE = 60  # Tesseract's per-word confidence (0-100)
MIN_WORD_LETTERS = 2  # single letters are mostly noise read from texture
SAME_FRAME_MAD = 2.0  # mean absolute difference (0-255) below which a frame is not read again
# Letters are sharp strokes: a frame where fewer than this share of pixels sit on a strong
# horizontal edge (flat colour, gradients, soft footage) is not given to Tesseract at all.
MIN_EDGE_SHARE = 0.002
EDGE_STEP = 48  # grey-level jump between neighbouring pixels that counts as a strong edge
SECONDS_PER_FRAME = 30  # a Tesseract run longer than this per frame is stopped (hostile images)


class OcrError(TaggerError, RuntimeError):
    """Tesseract is missing or lacks the requested language data."""


def read_onscreen_text(
    frames: Sequence[tuple[float, np.ndarray]], *, languages: str = DEFAULT_LANGUAGES
) -> list[Segment]:
    """Lines of text seen on the ``(timestamp, HxWx3 uint8 RGB)`` keyframes, in time order.

    A line on several consecutive keyframes is one segment from its first to its last one.
    """
    ordered = sorted(frames, key=lambda f: f[0])
    # which earlier frame's reading each frame shows: itself, or the one it did not change from
    shown: list[int] = []
    for i, (_, image) in enumerate(ordered):
        if i == 0 or _changed(ordered[i - 1][1], image):
            shown.append(i)
        else:
            shown.append(shown[-1])
    to_read = [i for i in dict.fromkeys(shown) if _may_hold_text(ordered[i][1])]
    read = dict(zip(to_read, _read_pages([ordered[i][1] for i in to_read], languages), strict=True))

    open_lines: dict[str, Segment] = {}
    done: list[Segment] = []
    order: dict[str, int] = {}  # reading order (top to bottom) where lines start together
    for (time, _), source in zip(ordered, shown, strict=True):
        lines = read.get(source, [])
        for key in [k for k in open_lines if k not in lines]:
            done.append(open_lines.pop(key))
        for line in lines:
            order.setdefault(line, len(order))
            seen = open_lines.get(line)
            start = seen.start if seen is not None else time
            open_lines[line] = Segment(start=start, end=time, text=line)
    done.extend(open_lines.values())
    return sorted(done, key=lambda s: (s.start, order[s.text]))


def onscreen_text(segments: Sequence[Segment]) -> str:
    """The distinct lines in order of first appearance (the text encoder's input)."""
    return " ".join(dict.fromkeys(s.text for s in segments))


def _read_pages(images: list[np.ndarray], languages: str) -> list[list[str]]:
    """The confident lines of each image, read by one Tesseract process."""
    if not images:
        return []
    with tempfile.TemporaryDirectory(prefix="tagger-ocr-") as folder:
        listing = Path(folder) / "frames.txt"
        paths = [_write_ppm(Path(folder) / f"{i:03d}.ppm", image) for i, image in enumerate(images)]
        listing.write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
        command = ["tesseract", str(listing), "stdout", "-l", languages, "tsv"]
        limit = SECONDS_PER_FRAME * len(images)
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                timeout=limit,
                check=False,
            )
        except FileNotFoundError as e:
            raise OcrError("tesseract is not installed (apt-get install tesseract-ocr)") from e
        except subprocess.TimeoutExpired as e:
            raise OcrError(f"tesseract took over {limit} s on {len(images)} frames") from e
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.splitlines() if not _progress(line)]
        problem = " ".join(line for line in said if line) or f"exit status {done.returncode}"
        raise OcrError(f"tesseract failed ({languages}): {problem}")
    return _lines_per_page(done.stdout, len(images))


def _lines_per_page(tsv: str, n_pages: int) -> list[list[str]]:
    """Tesseract's TSV (one row per word, pages numbered from 1) -> each page's lines."""
    pages: list[dict[tuple[str, str, str], list[str]]] = [{} for _ in range(n_pages)]
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":  # level 5: a word
            continue
        page, block, paragraph, line, conf, word = (*fields[1:5], fields[10], fields[11].strip())
        if float(conf) < MIN_CONFIDENCE or sum(c.isalnum() for c in word) < MIN_WORD_LETTERS:
            continue
        pages[int(page) - 1].setdefault((block, paragraph, line), []).append(word)
    return [list(dict.fromkeys(" ".join(words) for words in lines.values())) for lines in pages]


def _progress(line: str) -> bool:
    """Tesseract's lines on stderr that are not about a problem."""
    return line.startswith(("Page ", "Estimating resolution"))


def _write_ppm(path: Path, image: np.ndarray) -> Path:
    """Binary PPM: the cheapest image file Tesseract reads (no compression to pay for)."""
    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    height, width = rgb.shape[:2]
    path.write_bytes(f"P6\n{width} {height}\n255\n".encode("ascii") + rgb.tobytes())
    return path


def _may_hold_text(image: np.ndarray) -> bool:
    grey = image[..., :3].astype(np.int16).sum(axis=2) // 3
    edges = np.abs(np.diff(grey, axis=1)) >= EDGE_STEP
    return edges.size > 0 and float(edges.mean()) >= MIN_EDGE_SHARE  # 1 pixel wide: no edges


def _changed(before: np.ndarray, after: np.ndarray) -> bool:
    if before.shape != after.shape:
        return True
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16))
    return float(diff.mean()) >= SAME_FRAME_MAD
