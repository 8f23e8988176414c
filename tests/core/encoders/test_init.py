import pytest

from core import encoders
from core.config import Settings
from core.encoders.imagebind import ImageBindCheckpointError


class _Loaded:
    def __init__(self, settings):
        self.device = settings.device


@pytest.fixture
def counting_lite(monkeypatch):
    """Replace the lite loader by a cheap one that counts its calls (the cache is under test)."""
    calls = []

    def loader(settings):
        calls.append(settings.device)
        return _Loaded(settings)

    monkeypatch.setitem(encoders._BACKENDS, "lite", (loader, encoders._BACKENDS["lite"][1]))
    monkeypatch.setattr(encoders, "_loaded", {})
    return calls


def test_unknown_encoder_lists_the_valid_ones():
    settings = Settings.model_construct(encoder="clip")
    with pytest.raises(ValueError, match="imagebind, lite"):
        encoders.load_encoder(settings)


def test_encoders_are_loaded_once_per_configuration(counting_lite):
    first = encoders.load_encoder(Settings(encoder="lite", device="cpu"))
    assert encoders.load_encoder(Settings(encoder="lite", device="cpu")) is first
    other = encoders.load_encoder(Settings(encoder="lite", device="cuda"))
    assert other is not first
    whisper_on_cpu = encoders.load_encoder(
        Settings(encoder="lite", device="cuda", whisper_device="cpu")
    )
    assert whisper_on_cpu is not other
    assert counting_lite == ["cpu", "cuda", "cuda"]


def test_the_lite_audio_s_whisper_runs_on_the_whisper_device(monkeypatch):
    """MiniLM on the device, the audio's Whisper where ``whisper_device`` says (a GPU whose CUDA
    libraries CTranslate2 cannot load can still run the rest)."""
    from core.encoders import lite

    built = []
    monkeypatch.setattr(lite, "LiteEncoder", lambda **kwargs: built.append(kwargs))
    encoders._load_lite(Settings(encoder="lite", device="cuda", whisper_device="cpu"))
    encoders._load_lite(Settings(encoder="lite", device="cuda"))
    assert [(b["device"], b["whisper_device"]) for b in built] == [
        ("cuda", "cpu"),
        ("cuda", "cuda"),
    ]


def test_imagebind_without_checkpoint_says_which_setting_to_set(monkeypatch):
    monkeypatch.setattr(encoders, "_loaded", {})
    with pytest.raises(ImageBindCheckpointError, match="TAGGER_IMAGEBIND_CHECKPOINT"):
        encoders.load_encoder(Settings(encoder="imagebind", imagebind_checkpoint=None))


def test_lite_refuses_a_whisper_model_it_would_have_to_download(monkeypatch):
    monkeypatch.setattr(encoders, "_loaded", {})
    with pytest.raises(ValueError, match="local faster-whisper cache"):
        encoders.load_encoder(Settings(encoder="lite", whisper_model="base"))


def test_cache_key_without_loading_lists_the_valid_names():
    with pytest.raises(ValueError, match="imagebind, lite"):
        encoders.encoder_cache_key(Settings.model_construct(encoder="clip"))


@pytest.mark.slow
def test_lite_cache_key_without_loading_equals_the_loaded_encoders(monkeypatch):
    monkeypatch.setattr(encoders, "_loaded", {})
    settings = Settings(encoder="lite")
    cheap = encoders.encoder_cache_key(settings)
    assert encoders._loaded == {}  # nothing was loaded to compute it
    assert cheap == encoders.load_encoder(settings).cache_key


@pytest.mark.slow
def test_lite_audio_follows_the_packaged_multilingual_whisper(
    monkeypatch, tmp_path, whisper_base_dir
):
    """``whisper_model=packaged-base``: the audio embedding pools Whisper base's encoder (width
    512) and shares its model with transcription."""
    from core.media.transcribe import load_transcriber

    monkeypatch.setattr(encoders, "_loaded", {})
    settings = Settings(encoder="lite", whisper_model="packaged-base", data_dir=tmp_path)
    encoder = encoders.load_encoder(settings)
    assert encoder.dims["audio"] == 2 * 512
    assert encoders.encoder_cache_key(settings) == encoder.cache_key
    assert encoder.audio.model is load_transcriber(settings)._model
