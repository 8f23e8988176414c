"""Small synthetic videos (PyAV, milliseconds to make), espeak speech, a tiny Whisper checkpoint."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from scripts.mediagen import gradient_frames, speak_to_wav, tone, write_video


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name, seconds=2, fps=10, audio=True, **write_video_kwargs)`` -> mp4 path."""

    def make(
        name: str = "clip.mp4",
        seconds: float = 2.0,
        fps: float = 10.0,
        audio: bool = True,
        **kwargs,
    ) -> Path:
        count = max(1, round(seconds * fps))
        frames = kwargs.pop("frames", None) or gradient_frames(count)
        sound = tone(seconds) if audio else None
        return write_video(tmp_path / name, frames, fps, audio=sound, **kwargs)

    return make


@pytest.fixture
def speech(tmp_path: Path) -> Callable[[str], Path]:
    """espeak-ng speech as a WAV file; skips when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")

    def say(text: str) -> Path:
        return speak_to_wav(text, tmp_path / "speech.wav", words_per_minute=140)

    return say


@pytest.fixture(scope="session")
def tiny_whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer English-only openai-whisper checkpoint (a few MB)."""
    torch = pytest.importorskip("torch")
    model_module = pytest.importorskip("whisper.model")
    dims = model_module.ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51864,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = model_module.Whisper(dims)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path
