import inspect
import sys

import numpy as np
import pytest
import torch

from core.config import Settings
from core.encoders.base import MODALITIES, EncoderInput
from core.encoders.imagebind import (
    ImageBindCheckpointError,
    ImageBindConfig,
    ImageBindEncoder,
    build_imagebind,
    load_imagebind,
)
from core.encoders.imagebind_import import import_imagebind_model


@pytest.fixture(scope="module")
def tiny_encoder(tiny_checkpoint) -> ImageBindEncoder:
    return ImageBindEncoder(tiny_checkpoint, config=ImageBindConfig.tiny())


def test_model_code_imports_without_pytorchvideo():
    module = import_imagebind_model()
    assert hasattr(module, "ImageBindModel")
    assert "pytorchvideo" not in sys.modules
    assert "imagebind.data" not in sys.modules


def test_huge_config_is_exactly_imagebind_huge(monkeypatch):
    module = import_imagebind_model()
    captured = {}
    monkeypatch.setattr(module, "ImageBindModel", lambda **kwargs: captured.update(kwargs))
    module.imagebind_huge(pretrained=False)
    monkeypatch.undo()
    defaults = {
        name: p.default
        for name, p in inspect.signature(module.ImageBindModel.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    upstream = {**defaults, **captured}
    ours = ImageBindConfig.huge().model_kwargs()
    assert set(captured) <= set(ours)
    assert {key: upstream[key] for key in ours} == ours


def test_tiny_checkpoint_loads_through_the_product_path(tiny_checkpoint):
    model = load_imagebind(ImageBindConfig.tiny(), tiny_checkpoint)
    assert not model.training
    saved = torch.load(tiny_checkpoint, weights_only=True)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])


def test_encodes_every_modality_into_one_unit_norm_space(tiny_encoder, full_item):
    embeddings = tiny_encoder.encode(full_item)
    assert set(embeddings) == set(MODALITIES)
    assert tiny_encoder.dims == {m: 16 for m in MODALITIES}
    for modality, vector in embeddings.items():
        assert vector.shape == (16,) and vector.dtype == np.float32, modality
        assert np.isfinite(vector).all(), modality
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5), modality


def test_missing_modalities_are_absent_not_zero(tiny_encoder, title_only_item):
    assert set(tiny_encoder.encode(title_only_item)) == {"title"}
    no_title = EncoderInput(title="", subtitles="some words")
    assert set(tiny_encoder.encode(no_title)) == {"subtitles"}


def test_encoding_is_deterministic_across_loads(tiny_checkpoint, full_item):
    first = ImageBindEncoder(tiny_checkpoint, config=ImageBindConfig.tiny()).encode(full_item)
    second = ImageBindEncoder(tiny_checkpoint, config=ImageBindConfig.tiny()).encode(full_item)
    for modality in first:
        np.testing.assert_array_equal(first[modality], second[modality])


def test_batch_matches_one_by_one(tiny_encoder, full_item, title_only_item, synth):
    other = EncoderInput(
        title="Concert", frames=[synth.stage()] * 14, frame_times=[float(i) for i in range(14)]
    )
    items = [full_item, title_only_item, other]  # 3 + 14 frames: crosses a vision batch
    batched = tiny_encoder.encode_batch(items)
    for item, result in zip(items, batched):
        single = tiny_encoder.encode(item)
        assert set(single) == set(result)
        for modality in single:
            np.testing.assert_allclose(result[modality], single[modality], atol=1e-5)


def test_frames_embedding_is_the_normalised_mean_of_frame_embeddings(tiny_encoder, synth):
    a, b = synth.pitch(), synth.stage()
    video = tiny_encoder.encode(EncoderInput(title="", frames=[a, b], frame_times=[0.0, 1.0]))
    ea = tiny_encoder.encode(EncoderInput(title="", frames=[a], frame_times=[0.0]))["frames"]
    eb = tiny_encoder.encode(EncoderInput(title="", frames=[b], frame_times=[0.0]))["frames"]
    expected = (ea + eb) / np.linalg.norm(ea + eb)
    np.testing.assert_allclose(video["frames"], expected, atol=1e-5)


def test_version_changes_with_weights(tiny_checkpoint, tmp_path):
    torch.manual_seed(1)
    other = tmp_path / "other.pth"
    torch.save(build_imagebind(ImageBindConfig.tiny()).state_dict(), other)
    a = ImageBindEncoder(tiny_checkpoint, config=ImageBindConfig.tiny())
    b = ImageBindEncoder(other, config=ImageBindConfig.tiny())
    assert a.id == b.id == "imagebind-tiny"
    assert a.version != b.version


def test_missing_checkpoint_names_the_setting(tmp_path):
    with pytest.raises(ImageBindCheckpointError, match="TAGGER_IMAGEBIND_CHECKPOINT"):
        ImageBindEncoder(None, config=ImageBindConfig.tiny())
    with pytest.raises(ImageBindCheckpointError, match="does not exist"):
        ImageBindEncoder(tmp_path / "nope.pth", config=ImageBindConfig.tiny())


def test_checkpoint_of_another_architecture_is_refused(tiny_checkpoint, tmp_path):
    wider = ImageBindConfig(
        **{**ImageBindConfig.tiny().model_kwargs(), "name": "tiny", "out_embed_dim": 8}
    )
    with pytest.raises(ImageBindCheckpointError, match="not an ImageBind"):
        load_imagebind(wider, tiny_checkpoint)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ImageBindCheckpointError):
        load_imagebind(ImageBindConfig.tiny(), garbage)


@pytest.mark.slow
def test_real_imagebind_huge_checkpoint(synth):
    checkpoint = Settings().imagebind_checkpoint
    if checkpoint is None or not checkpoint.is_file():
        pytest.skip("no ImageBind weights: set TAGGER_IMAGEBIND_CHECKPOINT to imagebind_huge.pth")
    encoder = ImageBindEncoder(checkpoint)
    assert encoder.id == "imagebind-huge"
    red = encoder.encode(
        EncoderInput(title="a red image", frames=[synth.solid((220, 20, 20))], frame_times=[0.0])
    )
    green = encoder.encode(
        EncoderInput(title="a green image", frames=[synth.solid((20, 200, 20))], frame_times=[0.0])
    )
    assert red["title"].shape == (1024,)
    # the joint space: each caption is closer to its own image than to the other one
    assert red["title"] @ red["frames"] > red["title"] @ green["frames"]
    assert green["title"] @ green["frames"] > green["title"] @ red["frames"]
