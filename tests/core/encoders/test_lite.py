import numpy as np
import pytest

from core.encoders.base import MODALITIES, EncoderInput
from core.encoders.lite import LiteEncoder
from core.encoders.visual import DESCRIPTOR_DIM

# One worker loads the module's model once (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lite-encoder")]


@pytest.fixture(scope="module")
def encoder() -> LiteEncoder:
    return LiteEncoder()


def test_dims_and_identity(encoder):
    assert encoder.id == "lite"
    assert encoder.dims == {
        "title": 384,
        "description": 384,
        "subtitles": 384,
        "frames": DESCRIPTOR_DIM,
        "audio": 768,
        "onscreen_text": 384,
    }
    assert encoder.version == LiteEncoder().version


def test_real_video_encodes_every_modality(encoder, bigbuckbunny, decode_audio, decode_frames):
    frames, times = decode_frames(bigbuckbunny, 8)
    item = EncoderInput(
        title="Big Buck Bunny",
        description="A giant rabbit takes revenge on three bullying rodents.",
        frames=frames,
        frame_times=times,
        subtitles="",
        audio=decode_audio(bigbuckbunny),
    )
    embeddings = encoder.encode(item)
    assert set(embeddings) == set(MODALITIES) - {"subtitles", "onscreen_text"}
    for modality, vector in embeddings.items():
        assert vector.shape == (encoder.dims[modality],) and vector.dtype == np.float32
        assert np.isfinite(vector).all()
    for modality in ("title", "description", "audio"):
        assert np.linalg.norm(embeddings[modality]) == pytest.approx(1.0, abs=1e-5)


def test_missing_modalities_are_absent(encoder, title_only_item):
    assert set(encoder.encode(title_only_item)) == {"title"}


def test_batch_matches_one_by_one(encoder, full_item, title_only_item):
    items = [full_item, title_only_item]
    for item, batched in zip(items, encoder.encode_batch(items)):
        single = encoder.encode(item)
        assert set(single) == set(batched)
        for modality in single:
            np.testing.assert_allclose(batched[modality], single[modality], atol=1e-4)
