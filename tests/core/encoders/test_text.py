import numpy as np
import pytest

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
