from pathlib import Path

import numpy as np
import pytest
import torch

from core.encoders.text import WINDOW_TOKENS, MiniLMTextEmbedder, default_text_model_path

pytestmark = pytest.mark.slow


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
    tokenizer = embedder.model.tokenizer
    assert all(
        len(tokenizer(w, add_special_tokens=False)["input_ids"]) <= WINDOW_TOKENS for w in windows
    )
    # a truncating encoder would only ever see the cooking half
    mixed, only_cooking, only_football = embedder.embed([cooking + football, cooking, football])
    assert mixed @ only_football > 0.5
    assert only_cooking @ only_football < mixed @ only_football


def test_blank_text_is_an_error(embedder):
    with pytest.raises(ValueError, match="no tokens"):
        embedder.embed(["   "])


def _tiny_multilingual_model(folder: Path, max_seq_length: int = 16) -> Path:
    """A randomly initialised one-layer BERT sentence-transformer whose character vocabulary
    covers Latin and Cyrillic letters: the shape of a multilingual model, weights meaningless."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

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
    transformer = models.Transformer(str(raw), max_seq_length=max_seq_length)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling]).save(str(folder / "model"))
    return folder / "model"


def test_another_local_model_with_a_short_window_embeds_cyrillic(tmp_path):
    """The text_model_path option: a (here tiny, random) multilingual model; windows follow its
    max_seq_length and Cyrillic text is read as letters, not unknown tokens."""
    embedder = MiniLMTextEmbedder(_tiny_multilingual_model(tmp_path, max_seq_length=16))
    assert embedder.dim == 32 and embedder.window_tokens == 10
    title = "Привет, мир! Сегодня большой футбольный матч в Москве. " * 3
    windows = embedder.windows(title)
    assert len(windows) > 3 and all(w in title for w in windows)
    tokenizer = embedder.model.tokenizer
    for window in windows:
        ids = tokenizer(window, add_special_tokens=False)["input_ids"]
        assert 0 < len(ids) <= 10 and tokenizer.unk_token_id not in ids
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
