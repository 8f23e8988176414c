import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.encoders.sentence_model import (
    PlainBertSentenceModel,
    TransformersSentenceModel,
    is_plain_bert_mean_model,
    load_sentence_model,
)
from core.encoders.text import default_text_model_path
from core.errors import ConfigurationError

VARIED_TEXTS = [
    "hello",
    "Football match highlights",
    "Привет, мир! Сегодня большой футбольный матч в Москве.",
    "Café naïve résumé Ångström Straße ÄÖÜ",
    "日本語のテキスト 中文字符 한국어 😀🎉",
    "tab\tzero\u200bwidth control\x07 and  double  spaces ",
    "supercalifragilisticexpialidocious" * 4,
    "Whisk the eggs with sugar, fold in the flour and bake the sponge. " * 60,
]
# Module type names as sentence-transformers 2-4 wrote them in modules.json.
_MODULES = "sentence_transformers.models"


def _files(**overrides: Any) -> dict[str, Any]:
    """The JSON files of a BERT + mean pooling directory as sentence-transformers 2 wrote them."""
    files: dict[str, Any] = {
        "modules.json": [
            {"idx": 0, "path": "", "type": f"{_MODULES}.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": f"{_MODULES}.Pooling"},
            {"idx": 2, "path": "2_Normalize", "type": f"{_MODULES}.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": 256, "do_lower_case": False},
        "config.json": {"model_type": "bert", "hidden_act": "gelu", "hidden_size": 384},
        "1_Pooling/config.json": {
            "word_embedding_dimension": 384,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
        },
        "tokenizer_config.json": {"do_lower_case": True, "tokenizer_class": "BertTokenizer"},
        "tokenizer.json": {
            "normalizer": {
                "type": "BertNormalizer",
                "clean_text": True,
                "handle_chinese_chars": True,
                "strip_accents": None,
                "lowercase": True,
            },
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece"},
        },
    }
    files.update(overrides)
    return files


def _write(folder: Path, files: dict[str, Any], weights: str = "model.safetensors") -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content))
    (folder / weights).write_bytes(b"")
    return folder


def test_bert_with_mean_pooling_runs_in_plain_torch(tmp_path):
    assert is_plain_bert_mean_model(_write(tmp_path, _files()))


def test_pickled_weights_and_the_sentence_transformers_5_layout_are_accepted(tmp_path):
    files = _files(
        **{
            "modules.json": [
                {"path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
                {
                    "path": "1_Pooling",
                    "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
                },
            ],
            "sentence_bert_config.json": {
                "transformer_task": "feature-extraction",
                "module_output_name": "token_embeddings",
            },
            "1_Pooling/config.json": {"embedding_dimension": 384, "pooling_mode": "mean"},
            "config_sentence_transformers.json": {"default_prompt_name": None, "prompts": {}},
        }
    )
    assert is_plain_bert_mean_model(_write(tmp_path, files, weights="pytorch_model.bin"))


@pytest.mark.parametrize(
    "overrides",
    [
        {"config.json": {"model_type": "xlm-roberta", "hidden_act": "gelu", "hidden_size": 384}},
        {"config.json": {"model_type": "bert", "hidden_act": "relu", "hidden_size": 384}},
        {"1_Pooling/config.json": {"word_embedding_dimension": 384, "pooling_mode_cls_token": 1}},
        {"1_Pooling/config.json": {"embedding_dimension": 384, "pooling_mode": "max"}},
        {"sentence_bert_config.json": {"max_seq_length": 256, "do_lower_case": True}},
        {"sentence_bert_config.json": {"max_seq_length": 256, "processing_kwargs": {}}},
        {"config_sentence_transformers.json": {"default_prompt_name": "query"}},
        {"tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizer"}},
        {"tokenizer_config.json": {"tokenizer_class": "BertTokenizer", "strip_accents": True}},
        {
            "modules.json": [
                {"path": "", "type": f"{_MODULES}.Transformer"},
                {"path": "1_Pooling", "type": f"{_MODULES}.Pooling"},
                {"path": "2_Dense", "type": f"{_MODULES}.Dense"},
            ]
        },
    ],
    ids=[
        "xlm-r",
        "relu",
        "cls-pooling",
        "max-pooling",
        "st-lowercases",
        "unknown-option",
        "default-prompt",
        "other-tokenizer",
        "normaliser-disagrees",
        "dense-head",
    ],
)
def test_anything_else_keeps_sentence_transformers(tmp_path, overrides):
    assert not is_plain_bert_mean_model(_write(tmp_path, _files(**overrides)))


def test_without_weights_or_tokenizer_json_keeps_sentence_transformers(tmp_path):
    folder = _write(tmp_path, _files())
    (folder / "model.safetensors").unlink()
    assert not is_plain_bert_mean_model(folder)
    folder = _write(tmp_path / "other", _files())
    (folder / "tokenizer.json").unlink()
    assert not is_plain_bert_mean_model(folder)


def test_broken_json_is_named(tmp_path):
    folder = _write(tmp_path, _files())
    (folder / "modules.json").write_text("[{")
    with pytest.raises(ConfigurationError, match="modules.json is not valid JSON"):
        is_plain_bert_mean_model(folder)


def _assert_same_model(plain: PlainBertSentenceModel, reference: TransformersSentenceModel):
    assert (plain.dim, plain.max_seq_length) == (reference.dim, reference.max_seq_length)
    for text in VARIED_TEXTS:
        assert plain.token_offsets(text) == reference.token_offsets(text), text
    # Texts beyond max_seq_length are truncated the same way.
    np.testing.assert_allclose(
        plain.encode(VARIED_TEXTS), reference.encode(VARIED_TEXTS), rtol=0, atol=1e-5
    )


@pytest.mark.slow
def test_bundled_minilm_equals_sentence_transformers():
    model_dir = default_text_model_path()
    plain = load_sentence_model(model_dir)
    assert isinstance(plain, PlainBertSentenceModel)
    _assert_same_model(plain, TransformersSentenceModel(model_dir))


@pytest.mark.slow
def test_tiny_bert_equals_sentence_transformers(tiny_multilingual_model):
    """Saved by sentence-transformers 6 (new file layout), window 16: long texts truncate."""
    plain = load_sentence_model(tiny_multilingual_model)
    assert isinstance(plain, PlainBertSentenceModel) and plain.max_seq_length == 16
    _assert_same_model(plain, TransformersSentenceModel(tiny_multilingual_model))


@pytest.mark.slow
def test_tiny_bert_from_pickled_weights_equals_sentence_transformers(
    tiny_multilingual_model, tmp_path
):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_multilingual_model, model_dir)
    torch.save(load_file(model_dir / "model.safetensors"), model_dir / "pytorch_model.bin")
    (model_dir / "model.safetensors").unlink()
    plain = load_sentence_model(model_dir)
    assert isinstance(plain, PlainBertSentenceModel)
    _assert_same_model(plain, TransformersSentenceModel(model_dir))
