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
    assert counting_lite == ["cpu", "cuda"]


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
