import numpy as np
import pytest

from core.encoders.base import (
    MODALITIES,
    EncoderInput,
    InvalidEncoderInput,
    l2_normalize,
    mean_normalized,
)


def test_modalities_are_the_six_the_classifier_expects():
    assert MODALITIES == (
        "title",
        "description",
        "frames",
        "subtitles",
        "audio",
        "onscreen_text",
    )


@pytest.mark.parametrize(
    ("frames", "times", "message"),
    [
        ([np.zeros((10, 10, 3), np.float32)], [0.0], "uint8"),
        ([np.zeros((10, 10), np.uint8)], [0.0], "HxWx3"),
        ([np.zeros((10, 10, 4), np.uint8)], [0.0], "HxWx3"),
        ([np.zeros((1, 10, 3), np.uint8)], [0.0], "too small"),
        ([np.zeros((10, 10, 3), np.uint8)], [], "frame_times"),
    ],
)
def test_bad_frames_are_rejected_on_construction(frames, times, message):
    with pytest.raises(InvalidEncoderInput, match=message):
        EncoderInput(title="t", frames=frames, frame_times=times)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(100, np.float64), "float32"),
        (np.zeros((2, 100), np.float32), "1-D"),
        (np.array([0.0, np.nan], np.float32), "NaN"),
    ],
)
def test_bad_audio_is_rejected_on_construction(audio, message):
    with pytest.raises(InvalidEncoderInput, match=message):
        EncoderInput(title="t", audio=audio)


def test_text_strips_and_only_serves_text_modalities():
    item = EncoderInput(title="  Goal!  ", description="\n", subtitles="")
    assert item.text("title") == "Goal!"
    assert item.text("description") == ""
    with pytest.raises(ValueError, match="text modalities"):
        item.text("frames")


def test_empty_audio_counts_as_missing():
    assert not EncoderInput(title="t", audio=np.zeros(0, np.float32)).has_audio
    assert not EncoderInput(title="t").has_audio
    assert EncoderInput(title="t", audio=np.zeros(10, np.float32)).has_audio


def test_l2_normalize_refuses_zero_vectors():
    assert np.linalg.norm(l2_normalize(np.array([3.0, 4.0]))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="norm"):
        l2_normalize(np.zeros(4))


def test_mean_normalized_pools_rows_to_a_unit_vector():
    pooled = mean_normalized(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(pooled, [2**-0.5, 2**-0.5], rtol=1e-6)
    assert pooled.dtype == np.float32
