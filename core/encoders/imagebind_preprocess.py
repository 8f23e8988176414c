"""ImageBind's own input preprocessing, reproduced without pytorchvideo or decord.

Mirrors ``imagebind/data.py`` (imagebind-unofficial 0.1.1, same as facebookresearch/ImageBind):
- vision (``load_and_transform_vision_data``): resize the shorter side to 224 (bicubic, PIL),
  centre crop 224, scale to [0, 1], normalise with the CLIP mean/std;
- audio (``load_and_transform_audio_data``): 3 clips of 2 s spread evenly over the track
  (pytorchvideo's ``ConstantClipsPerVideoSampler``), each turned into a 128-bin Kaldi fbank of
  204 frames (zero-padded or cut) and normalised with mean -4.268, std 9.138;
- text (``load_and_transform_text``): the CLIP BPE tokenizer, 77 tokens with start/end markers.
Deviations, both outside the original's domain: texts longer than 75 BPE tokens are split into
overlapping windows (the original truncates), and a clip shorter than one 25 ms fbank window
is zero-padded to one window (the original divides by zero).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch

from core.encoders.base import AUDIO_SAMPLE_RATE
from core.encoders.chunking import token_windows
from core.encoders.imagebind_import import imagebind_package_dir, import_imagebind_model

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VISION_SIZE = 224

NUM_MEL_BINS = 128
TARGET_FRAMES = 204
CLIP_SECONDS = 2
CLIPS_PER_VIDEO = 3
FBANK_MEAN = -4.268
FBANK_STD = 9.138
_FBANK_WINDOW_SAMPLES = AUDIO_SAMPLE_RATE * 25 // 1000

CONTEXT_LENGTH = 77
TEXT_WINDOW_OVERLAP = 16


def vision_tensor(frame: np.ndarray) -> torch.Tensor:
    """3x224x224 float tensor of one HxWx3 uint8 RGB frame, exactly as ImageBind prepares images."""
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose(
        [
            transforms.Resize(VISION_SIZE, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(VISION_SIZE),
            transforms.ToTensor(),
            transforms.Normalize(mean=CLIP_MEAN, std=CLIP_STD),
        ]
    )
    return transform(Image.fromarray(frame, mode="RGB"))


def clip_timepoints(duration: float) -> list[tuple[Fraction, Fraction]]:
    """(start, end) seconds of the audio clips, as ``ConstantClipsPerVideoSampler`` yields them.

    Starts are spread evenly over ``[0, duration - 2]``; a track shorter than 2 s yields
    CLIPS_PER_VIDEO clips all starting at 0.
    """
    max_start = Fraction(max(duration - CLIP_SECONDS, 0))
    step = max_start / max(CLIPS_PER_VIDEO - 1, 1)
    spans = []
    for index in range(CLIPS_PER_VIDEO):
        start = step * index
        spans.append((start, start + CLIP_SECONDS))
        if step * (index + 1) > max_start:
            break
    return spans


def fbank(clip: np.ndarray) -> torch.Tensor:
    """1x128x204 normalised log-mel filterbank of one clip of 16 kHz samples."""
    import torchaudio

    waveform = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32))[None]
    if waveform.shape[1] < _FBANK_WINDOW_SAMPLES:
        waveform = torch.nn.functional.pad(waveform, (0, _FBANK_WINDOW_SAMPLES - waveform.shape[1]))
    waveform = waveform - waveform.mean()
    features = torchaudio.compliance.kaldi.fbank(
        waveform,
        htk_compat=True,
        sample_frequency=AUDIO_SAMPLE_RATE,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=NUM_MEL_BINS,
        dither=0.0,
        frame_length=25,
        frame_shift=10,
    ).transpose(0, 1)
    missing = TARGET_FRAMES - features.shape[1]
    if missing > 0:
        features = torch.nn.functional.pad(features, (0, missing), mode="constant", value=0.0)
    else:
        features = features[:, :TARGET_FRAMES]
    return ((features - FBANK_MEAN) / FBANK_STD).unsqueeze(0)


def audio_clips(audio: np.ndarray) -> torch.Tensor:
    """(n_clips, 1, 128, 204) fbanks of a 16 kHz mono track."""
    # A float duration, as data.py computes it (waveform.size(1) / sample_rate).
    duration = audio.size / AUDIO_SAMPLE_RATE
    return torch.stack(
        [
            fbank(audio[int(start * AUDIO_SAMPLE_RATE) : int(end * AUDIO_SAMPLE_RATE)])
            for start, end in clip_timepoints(duration)
        ]
    )


@lru_cache(maxsize=1)
def tokenizer():
    """ImageBind's SimpleTokenizer with the BPE vocabulary shipped in the package."""
    import_imagebind_model()
    from imagebind.models.multimodal_preprocessors import SimpleTokenizer

    return SimpleTokenizer(
        bpe_path=str(imagebind_package_dir() / "bpe" / "bpe_simple_vocab_16e6.txt.gz")
    )


def text_tokens(text: str) -> torch.Tensor:
    """(n_windows, 77) token ids: one row for a short text, overlapping windows for a long one."""
    bpe = tokenizer()
    sot, eot = bpe.encoder["<|startoftext|>"], bpe.encoder["<|endoftext|>"]
    content = bpe.encode(text)
    spans = token_windows(len(content), CONTEXT_LENGTH - 2, TEXT_WINDOW_OVERLAP)
    if not spans:
        raise ValueError("text has no tokens; blank texts must be left out")
    rows = torch.zeros(len(spans), CONTEXT_LENGTH, dtype=torch.long)
    for row, (start, end) in enumerate(spans):
        window = [sot, *content[start:end], eot]
        rows[row, : len(window)] = torch.tensor(window)
    return rows
