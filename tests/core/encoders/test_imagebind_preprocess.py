from fractions import Fraction

import numpy as np
import pytest
import torch
import torchaudio

from core.encoders import imagebind_preprocess as prep


def test_vision_tensor_is_clip_normalised_224_square(synth):
    rgb = (200, 100, 50)
    tensor = prep.vision_tensor(synth.solid(rgb, 300, 500))
    assert tensor.shape == (3, 224, 224)
    for channel in range(3):
        expected = (rgb[channel] / 255.0 - prep.CLIP_MEAN[channel]) / prep.CLIP_STD[channel]
        np.testing.assert_allclose(tensor[channel].numpy(), expected, atol=1e-5)


def test_vision_tensor_resizes_the_short_side_and_crops_the_centre(synth):
    frame = synth.solid((255, 0, 0), 112, 448)  # short side 112 -> 224, long side 448 -> 896
    frame[:, 112:336] = (0, 255, 0)  # the middle half, which the centre crop must keep
    tensor = prep.vision_tensor(frame)
    green = (1.0 - prep.CLIP_MEAN[1]) / prep.CLIP_STD[1]
    # bicubic smears the red/green boundary over a few pixels at each edge only
    np.testing.assert_allclose(tensor[1, :, 8:-8].numpy(), green, atol=1e-5)


def test_clip_timepoints_match_pytorchvideo_constant_clips_per_video():
    assert prep.clip_timepoints(10.0) == [(0, 2), (4, 6), (8, 10)]
    assert prep.clip_timepoints(1.0) == [(0, 2), (0, 2), (0, 2)]
    assert prep.clip_timepoints(3.0) == [
        (Fraction(0), Fraction(2)),
        (Fraction(1, 2), Fraction(5, 2)),
        (Fraction(1), Fraction(3)),
    ]


def test_fbank_matches_imagebind_waveform2melspec(rng):
    clip = (0.1 * rng.standard_normal(2 * 16000) + 0.02).astype(np.float32)
    # data.py's waveform2melspec + Normalize, written out by hand
    waveform = torch.from_numpy(clip)[None]
    waveform = waveform - waveform.mean()
    reference = torchaudio.compliance.kaldi.fbank(
        waveform,
        htk_compat=True,
        sample_frequency=16000,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=128,
        dither=0.0,
        frame_length=25,
        frame_shift=10,
    ).transpose(0, 1)
    reference = torch.nn.functional.pad(reference, (0, 204 - reference.shape[1]))
    reference = ((reference - (-4.268)) / 9.138).unsqueeze(0)
    features = prep.fbank(clip)
    assert features.shape == (1, 128, 204)
    torch.testing.assert_close(features, reference)


def test_fbank_pads_short_clips_and_cuts_long_ones(rng):
    short = prep.fbank((0.1 * rng.standard_normal(8000)).astype(np.float32))
    assert short.shape == (1, 128, 204)
    padding = (0.0 - prep.FBANK_MEAN) / prep.FBANK_STD
    np.testing.assert_allclose(short[0, :, 100:].numpy(), padding, rtol=1e-6)
    assert prep.fbank((0.1 * rng.standard_normal(48000)).astype(np.float32)).shape == (1, 128, 204)
    assert prep.fbank(np.zeros(10, np.float32)).shape == (1, 128, 204)


def test_audio_clips_are_three_fbanks_spread_over_the_track(rng):
    audio = (0.1 * rng.standard_normal(10 * 16000)).astype(np.float32)
    clips = prep.audio_clips(audio)
    assert clips.shape == (3, 1, 128, 204)
    torch.testing.assert_close(clips[1], prep.fbank(audio[4 * 16000 : 6 * 16000]))


def test_text_tokens_wrap_a_short_text_like_simple_tokenizer():
    tokens = prep.text_tokens("a dog barking")
    assert tokens.shape == (1, 77)
    reference = prep.tokenizer()("a dog barking")
    torch.testing.assert_close(tokens[0], reference)


def test_long_text_becomes_overlapping_windows_each_with_start_and_end():
    text = " ".join(f"word{i}" for i in range(200))
    tokens = prep.text_tokens(text)
    assert tokens.shape[0] > 1 and tokens.shape[1] == 77
    sot, eot = 49406, 49407
    assert (tokens[:, 0] == sot).all()
    assert ((tokens == eot).sum(dim=1) == 1).all()
    first_tail = tokens[0, 1 + 75 - prep.TEXT_WINDOW_OVERLAP : 1 + 75]
    assert torch.equal(tokens[1, 1 : 1 + prep.TEXT_WINDOW_OVERLAP], first_tail)


def test_blank_text_has_no_tokens():
    with pytest.raises(ValueError, match="no tokens"):
        prep.text_tokens("   ")
