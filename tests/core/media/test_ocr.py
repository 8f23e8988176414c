"""On-screen text: burned-in English and Russian captions read from keyframes, deduplicated
across frames with their time span; frames without text give nothing."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.media.ocr import OcrError, onscreen_text, read_onscreen_text

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _frame(*lines: str, shade: int = 30) -> np.ndarray:
    image = Image.new("RGB", (640, 360), (shade, 60, 40))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(lines):
        draw.text((40, 60 + 90 * i), line, font=font, fill="white")
    return np.asarray(image)


def test_captions_in_two_languages_deduplicated_with_times():
    score = _frame("FINAL SCORE 3:1", "Прямой эфир")
    frames = [
        (0.0, _frame()),
        (2.0, score),
        (4.0, score.copy()),  # the same picture: read once
        (6.0, _frame("FINAL SCORE 3:1", shade=80)),  # a new shot, the same caption
        (8.0, _frame()),
    ]
    segments = read_onscreen_text(frames)
    spans = {s.text: (s.start, s.end) for s in segments}
    assert spans == {"FINAL SCORE 3:1": (2.0, 6.0), "Прямой эфир": (2.0, 4.0)}
    assert onscreen_text(segments) == "FINAL SCORE 3:1 Прямой эфир"


def test_no_text_gives_nothing():
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), np.uint8)
    assert read_onscreen_text([(0.0, _frame()), (1.0, noise)]) == []


def test_missing_language_data_is_a_clear_error():
    with pytest.raises(
        OcrError, match="tesseract failed .*Failed loading language 'xx_not_installed'"
    ):
        read_onscreen_text([(0.0, _frame("HELLO"))], languages="xx_not_installed")


def _count_tesseract_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The commands of the Tesseract processes started from now on (they still run)."""
    commands: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr("core.media.ocr.subprocess.run", run)
    return commands


def test_one_tesseract_process_reads_every_frame_of_a_video(monkeypatch):
    commands = _count_tesseract_runs(monkeypatch)
    names = ["ONE", "TWO", "THREE", "FOUR"]
    frames = [
        (float(i), _frame(f"SCENE {name}", shade=20 + 30 * i)) for i, name in enumerate(names)
    ]
    segments = read_onscreen_text(frames)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (float(i), float(i), f"SCENE {name}") for i, name in enumerate(names)
    ]
    assert len(commands) == 1 and commands[0][0] == "tesseract"


def test_tesseract_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(OcrError, match="tesseract is not installed"):
        read_onscreen_text([(0.0, _frame("HELLO"))])


def test_frames_without_sharp_strokes_never_reach_tesseract(monkeypatch):
    calls = _count_tesseract_runs(monkeypatch)
    ramp = np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 360, 0)
    flat = [(float(i), np.full((360, 640, 3), 20 * i, np.uint8)) for i in range(5)]
    assert read_onscreen_text([*flat, (9.0, np.repeat(ramp, 3, 2))]) == []
    assert calls == []


def test_a_frame_one_pixel_wide_holds_no_text_and_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_onscreen_text([(0.0, np.full((16, 1, 3), 255, np.uint8))]) == []
