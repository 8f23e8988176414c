import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from core.encoders.bert import BertConfig, BertMeanEncoder, load_bert_mean_encoder
from core.errors import ConfigurationError

TINY = {
    "vocab_size": 40,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 32,
    "max_position_embeddings": 24,
}


@pytest.fixture
def random_model() -> BertMeanEncoder:
    torch.manual_seed(0)
    model = BertMeanEncoder(BertConfig.from_dict(TINY)).eval()
    for parameter in model.parameters():  # LayerNorms start at 1/0; make every weight count
        torch.nn.init.normal_(parameter, std=0.3)
    return model


def _save_dir(folder: Path, model: BertMeanEncoder) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**TINY, "model_type": "bert"}))
    save_file(model.state_dict(), folder / "model.safetensors")
    return folder


def _ids() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[2, 11, 12, 13, 3, 0, 0], [2, 20, 21, 22, 23, 24, 3]])
    return ids, (ids != 0).long()


def test_rows_are_unit_vectors_and_padding_changes_nothing(random_model):
    ids, mask = _ids()
    with torch.inference_mode():
        batch = random_model(ids, mask)
        alone = random_model(ids[:1, :5], mask[:1, :5])
    assert batch.shape == (2, 16)
    assert torch.allclose(batch.norm(dim=1), torch.ones(2), atol=1e-6)
    assert torch.allclose(batch[0], alone[0], atol=1e-6)
    assert not torch.allclose(batch[0], batch[1], atol=1e-2)


def test_safetensors_weights_load_as_saved(tmp_path, random_model):
    loaded = load_bert_mean_encoder(_save_dir(tmp_path / "model", random_model))
    ids, mask = _ids()
    with torch.inference_mode():
        assert torch.equal(loaded(ids, mask), random_model(ids, mask))


def test_pickled_task_checkpoint_with_bert_prefix_loads(tmp_path, random_model):
    folder = _save_dir(tmp_path / "model", random_model)
    (folder / "model.safetensors").unlink()
    prefixed = {f"bert.{name}": tensor for name, tensor in random_model.state_dict().items()}
    prefixed["cls.predictions.bias"] = torch.zeros(40)  # a task head is left out
    torch.save(prefixed, folder / "pytorch_model.bin")
    loaded = load_bert_mean_encoder(folder)
    ids, mask = _ids()
    with torch.inference_mode():
        assert torch.equal(loaded(ids, mask), random_model(ids, mask))


def test_missing_tensors_are_named(tmp_path, random_model):
    folder = _save_dir(tmp_path / "model", random_model)
    weights = random_model.state_dict()
    del weights["encoder.layer.1.output.dense.weight"]
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ConfigurationError, match=r"lack 1 tensors.*layer\.1\.output\.dense"):
        load_bert_mean_encoder(folder)


def test_missing_weight_file_and_config_key_are_errors(tmp_path, random_model):
    folder = _save_dir(tmp_path / "model", random_model)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ConfigurationError, match="neither model.safetensors nor pytorch_model"):
        load_bert_mean_encoder(folder)
    with pytest.raises(ConfigurationError, match="lacks 'hidden_size'"):
        BertConfig.from_dict({k: v for k, v in TINY.items() if k != "hidden_size"})
