"""The multilingual speech model that the backfills of processed videos need
(``tagger detect-language``, ``tagger retranscribe``): refused in words when it is English-only,
loaded on the first video that needs it."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigurationError
from core.ingest.pipeline import load_model
from core.media.transcribe import Transcriber, english_only, load_transcriber


class EnglishOnlyModelError(ConfigurationError):
    """The configured speech model is English-only: it hears every language as English."""

    def __init__(self, model: str, cannot: str = "detect languages") -> None:
        super().__init__(
            f"the speech model ({model}) is English-only and cannot {cannot}; configure a"
            " multilingual Whisper model (e.g. TAGGER_WHISPER_MODEL=packaged-base) and run again"
        )


class MultilingualModel:
    """The given speech model, else the configured one loaded on first use; either is refused
    with :class:`EnglishOnlyModelError` when English-only (``cannot``: what it cannot do).

    Construction raises at once when that is known without loading the model (the default
    tiny.en, a model given), so a backfill stops before reading anything.
    """

    def __init__(
        self, settings: Settings, given: Transcriber | None, *, cannot: str = "detect languages"
    ) -> None:
        if given is None and english_only(settings):
            raise EnglishOnlyModelError(
                settings.whisper_model or "the bundled tiny.en, the default", cannot
            )
        if given is not None and not given.multilingual:
            raise EnglishOnlyModelError(f"{given.name} {given.version}", cannot)
        self._settings = settings
        self._transcriber = given
        self._cannot = cannot

    def get(self) -> Transcriber:
        if self._transcriber is None:
            loaded = load_model("speech model", lambda: load_transcriber(self._settings))
            if not loaded.multilingual:  # e.g. an English-only openai-whisper checkpoint
                raise EnglishOnlyModelError(f"{loaded.name} {loaded.version}", self._cannot)
            self._transcriber = loaded
        return self._transcriber
