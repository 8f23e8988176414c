import numpy as np
import pytest

from core.encoders.audio import MAX_AUDIO_SECONDS, WhisperAudioEmbedder, default_whisper_model_path
from core.encoders.base import AUDIO_SAMPLE_RATE

# One worker loads the module's model once (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("audio-encoder")]


@pytest.fixture(scope="module")
def embedder() -> WhisperAudioEmbedder:
    return WhisperAudioEmbedder(default_whisper_model_path())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_windows_cover_the_capped_audio_in_30s_pieces(embedder, rng):
    audio = (0.1 * rng.standard_normal(65 * AUDIO_SAMPLE_RATE)).astype(np.float32)
    windows, valid = embedder.windows(audio)
    assert windows.shape == (3, 80, 3000)
    assert valid == [1500, 1500, 250]
    long = np.zeros((MAX_AUDIO_SECONDS + 40) * AUDIO_SAMPLE_RATE, np.float32)
    assert len(embedder.windows(long)[0]) == MAX_AUDIO_SECONDS // 30


def test_speech_embeddings_are_closer_to_each_other_than_to_cartoon_audio(
    embedder, speak, bigbuckbunny, decode_audio
):
    first = speak("The quarterly results show strong growth in every region of the business.")
    second = speak("Today we will learn how to bake a simple loaf of bread at home.")
    cartoon = decode_audio(bigbuckbunny)
    a, b, c = embedder.embed([first, second, cartoon])
    assert embedder.dim == 768
    for vector in (a, b, c):
        assert vector.shape == (768,) and np.isfinite(vector).all()
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert _cosine(a, b) > _cosine(a, c)
    assert _cosine(a, b) > _cosine(b, c)


def test_batch_matches_one_by_one(embedder, rng):
    audios = [
        (0.1 * rng.standard_normal(n * AUDIO_SAMPLE_RATE)).astype(np.float32) for n in (3, 40)
    ]
    batched = embedder.embed(audios)
    for audio, vector in zip(audios, batched):
        np.testing.assert_allclose(embedder.embed([audio])[0], vector, atol=1e-4)


def test_empty_audio_is_an_error(embedder):
    with pytest.raises(ValueError, match="empty"):
        embedder.embed([np.zeros(0, np.float32)])


def test_transcription_and_embedding_share_one_encoder_pass(embedder, speak, monkeypatch):
    from core.media.transcribe import FasterWhisperTranscriber

    transcriber = FasterWhisperTranscriber()
    assert transcriber._model is embedder.model  # one copy of the weights
    audio = speak("The home team scores a late goal in the final minute of the match.")
    alone = embedder.embed([audio])[0]
    encoded = []
    encode = embedder.model._encode_windows
    monkeypatch.setattr(
        embedder.model, "_encode_windows", lambda w: encoded.append(len(w)) or encode(w)
    )
    assert "match" in transcriber.transcribe(audio).text.lower()
    assert encoded == [1]
    shared = embedder.embed([audio])[0]
    assert encoded == [1]  # the transcriber's window was reused, not encoded again
    np.testing.assert_allclose(shared, alone, atol=1e-6)
    embedder.embed([audio])
    assert encoded == [1, 1]  # a remembered window is used once
