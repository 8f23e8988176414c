import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from core.encoders import text as text_module
from core.encoders.sentence_model import TransformersSentenceModel
from core.encoders.text import WINDOW_TOKENS, MiniLMTextEmbedder, default_text_model_path

# One worker loads the module's model once (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("text-encoder")]


@pytest.fixture(scope="module")
def embedder() -> MiniLMTextEmbedder:
    return MiniLMTextEmbedder(default_text_model_path())


def test_semantically_close_titles_are_closer_than_unrelated_ones(embedder):
    football, soccer, cake = embedder.embed(
        ["football match highlights", "soccer game goals", "chocolate cake recipe"]
    )
    assert football @ soccer > football @ cake + 0.2
    assert football @ soccer > soccer @ cake + 0.2


def test_vectors_are_unit_float32_of_the_model_width(embedder):
    (vector,) = embedder.embed(["hello"])
    assert embedder.dim == 384
    assert vector.shape == (384,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_long_text_is_windowed_not_truncated(embedder):
    cooking = "Whisk the eggs with sugar, fold in the flour and bake the sponge. " * 40
    football = "The striker shoots and scores in the final minute of the match. " * 40
    windows = embedder.windows(cooking + football)
    assert len(windows) > 2
    assert all(window in cooking + football for window in windows)
    tokenizer = Tokenizer.from_file(str(default_text_model_path() / "tokenizer.json"))
    assert all(
        len(tokenizer.encode(w, add_special_tokens=False).ids) <= WINDOW_TOKENS for w in windows
    )
    # a truncating encoder would only ever see the cooking half
    mixed, only_cooking, only_football = embedder.embed([cooking + football, cooking, football])
    assert mixed @ only_football > 0.5
    assert only_cooking @ only_football < mixed @ only_football


def test_default_model_gives_the_vectors_sentence_transformers_gave(embedder, monkeypatch):
    """The embedding cache keeps vectors made with SentenceTransformer under the same version:
    the plain-torch path must cut the same windows and give the same vectors (1e-5)."""
    monkeypatch.setattr(text_module, "load_sentence_model", TransformersSentenceModel)
    reference = MiniLMTextEmbedder(default_text_model_path())
    texts = [
        "hello",
        "Лучшие голы футбольного матча",
        "Crème brûlée à la française, naïve café, Straße 😀",
        "Whisk the eggs with sugar, fold in the flour and bake the sponge. " * 40
        + "Привет, мир! Сегодня большой футбольный матч в Москве. " * 30,
    ]
    assert len(embedder.windows(texts[-1])) >= 4
    for text in texts:
        assert embedder.windows(text) == reference.windows(text)
    np.testing.assert_allclose(
        np.stack(embedder.embed(texts)), np.stack(reference.embed(texts)), rtol=0, atol=1e-5
    )
    assert embedder.fingerprint == reference.fingerprint


def test_default_model_loads_without_importing_transformers():
    """Start-up: ``import sentence_transformers`` costs ~8 s of CPU in a fresh process."""
    script = (
        "import sys\n"
        "from core.encoders.text import MiniLMTextEmbedder, default_text_model_path\n"
        "MiniLMTextEmbedder(default_text_model_path()).embed(['hello'])\n"
        "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.strip() == "[]"


def test_blank_text_is_an_error(embedder):
    with pytest.raises(ValueError, match="no tokens"):
        embedder.embed(["   "])


def test_another_local_model_with_a_short_window_embeds_cyrillic(tiny_multilingual_model):
    """The text_model_path option: a (here tiny, random) multilingual model; windows follow its
    max_seq_length and Cyrillic text is read as letters, not unknown tokens."""
    embedder = MiniLMTextEmbedder(tiny_multilingual_model)
    assert embedder.dim == 32 and embedder.window_tokens == 10
    title = "Привет, мир! Сегодня большой футбольный матч в Москве. " * 3
    windows = embedder.windows(title)
    assert len(windows) > 3 and all(w in title for w in windows)
    tokenizer = Tokenizer.from_file(str(tiny_multilingual_model / "tokenizer.json"))
    for window in windows:
        ids = tokenizer.encode(window, add_special_tokens=False).ids
        assert 0 < len(ids) <= 10 and tokenizer.token_to_id("[UNK]") not in ids
    russian, german = embedder.embed([title, "Guten Tag, das Wetter in Berlin ist schön."])
    assert russian.shape == (32,) and np.linalg.norm(russian) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(russian, german)


def test_configured_multilingual_model_matches_translations(settings):
    """A real multilingual model (TAGGER_TEXT_MODEL_PATH) puts a Russian title next to its
    English translation. None ships in a package (PyPI has no paraphrase-multilingual-MiniLM
    wheel), so this runs only where one was copied in by hand."""
    if settings.text_model_path is None:
        pytest.skip(
            "no multilingual sentence-transformers model here; set TAGGER_TEXT_MODEL_PATH to "
            "one (e.g. paraphrase-multilingual-MiniLM-L12-v2)"
        )
    embedder = MiniLMTextEmbedder(settings.text_model_path)
    russian, english, cake = embedder.embed(
        ["Лучшие голы футбольного матча", "Best goals of the football match", "Chocolate cake"]
    )
    assert russian @ english > russian @ cake + 0.2
