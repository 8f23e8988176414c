"""On-screen text of a video: Tesseract OCR of its keyframes, deduplicated across frames.

Captions burned into the picture, score boards, channel names and title cards say a lot about a
video's topic and are in no other modality. Each keyframe is read with Tesseract (Debian's
``tesseract-ocr`` with English and Russian data, through pytesseract); words below
``MIN_CONFIDENCE`` are dropped (Tesseract reads texture as letters), and the same line seen on
consecutive keyframes becomes one :class:`~core.media.transcript.Segment` spanning them, so a
caption shown for a minute counts once. A keyframe nearly identical to the previous one is not
read again (static shots cost one OCR call).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytesseract
from pytesseract import Output, TesseractError, TesseractNotFoundError

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


class OcrError(TaggerError, RuntimeError):
    """Tesseract is missing or lacks the requested language data."""


def read_onscreen_text(
    frames: Sequence[tuple[float, np.ndarray]], *, languages: str = DEFAULT_LANGUAGES
) -> list[Segment]:
    """Lines of text seen on the ``(timestamp, HxWx3 uint8 RGB)`` keyframes, in time order.

    A line on several consecutive keyframes is one segment from its first to its last one.
    """
    open_lines: dict[str, Segment] = {}
    done: list[Segment] = []
    order: dict[str, int] = {}  # reading order (top to bottom) where lines start together
    previous: np.ndarray | None = None
    lines: list[str] = []
    for time, image in sorted(frames, key=lambda f: f[0]):
        if previous is None or _changed(previous, image):
            lines = _read_lines(image, languages)
        previous = image
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


def _read_lines(image: np.ndarray, languages: str) -> list[str]:
    if not _may_hold_text(image):
        return []
    try:
        data = pytesseract.image_to_data(image, lang=languages, output_type=Output.DICT)
    except TesseractNotFoundError as e:
        raise OcrError("tesseract is not installed (apt-get install tesseract-ocr)") from e
    except TesseractError as e:
        raise OcrError(f"tesseract failed ({languages}): {e.message.strip()}") from e
    lines: dict[tuple[int, int, int], list[str]] = {}
    for i, word in enumerate(data["text"]):
        word = word.strip()
        if float(data["conf"][i]) < MIN_CONFIDENCE or sum(c.isalnum() for c in word) < (
            MIN_WORD_LETTERS
        ):
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
    return list(dict.fromkeys(" ".join(words) for words in lines.values()))


def _may_hold_text(image: np.ndarray) -> bool:
    grey = image[..., :3].astype(np.int16).sum(axis=2) // 3
    edges = np.abs(np.diff(grey, axis=1)) >= EDGE_STEP
    return float(edges.mean()) >= MIN_EDGE_SHARE


def _changed(before: np.ndarray, after: np.ndarray) -> bool:
    if before.shape != after.shape:
        return True
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16))
    return float(diff.mean()) >= SAME_FRAME_MAD
