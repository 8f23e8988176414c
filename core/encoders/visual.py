"""A hand-made, numpy-only visual descriptor of a video's keyframes (lite backend).

What it captures, per keyframe (after an area-averaged resize to 128x128):
- colour: hue histogram weighted by saturation (so grey pixels do not vote), saturation and
  value histograms, globally and per 2x2 grid cell (layout: sky on top, pitch below, ...);
- texture/structure: Sobel edge-orientation histograms (8 bins, magnitude-weighted) globally
  and per grid cell, plus edge density;
- exposure: mean/std of brightness (contrast) and saturation, Hasler-Suesstrunk colourfulness;
- coverage: fraction of skin-tone, vegetation-green, sky/water-blue, near-black and
  near-white pixels.
Over the video: mean and standard deviation of the per-frame features across keyframes, plus
change between consecutive keyframes (mean abs pixel difference on a 32x32 grey thumbnail and
L1 hue-histogram distance: mean and max of each). With a single keyframe, change is 0.

What it cannot capture: semantics. It does not know a ball from an orange; it separates
videos by look (green pitch vs dark stage vs talking head on white) and pace, which correlates
with topic only loosely. Components lie in [0, 1] (histograms sum to 1) and the vector is not
L2-normalised, so each feature keeps its meaning. Deterministic; about 2-3 ms per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

DESCRIPTOR_VERSION = "visual-v1"

SIZE = 128
THUMB = 32
HUE_BINS, SAT_BINS, VAL_BINS = 12, 4, 4
CELL_HUE_BINS, CELL_VAL_BINS = 8, 4
EDGE_BINS = 8
_EDGE_THRESHOLD = 0.1  # Sobel magnitude (on [0, 1] grey) that counts as an edge
_CELLS = 4
COVERAGE = ("skin", "green", "blue", "black", "white")  # the last five per-frame features

_GLOBAL_COLOUR = HUE_BINS + SAT_BINS + VAL_BINS
_CELL_COLOUR = CELL_HUE_BINS + CELL_VAL_BINS
FRAME_DIM = (
    _GLOBAL_COLOUR
    + _CELLS * _CELL_COLOUR
    + (1 + _CELLS) * (EDGE_BINS + 1)  # orientation histogram + edge density
    + 5  # brightness mean/std, saturation mean/std, colourfulness
    + len(COVERAGE)
)
MOTION_DIM = 4
DESCRIPTOR_DIM = 2 * FRAME_DIM + MOTION_DIM


def _resize_area(frame: np.ndarray, size: int) -> np.ndarray:
    """Area-averaged resize to size x size float32 (nearest neighbour when enlarging)."""

    def reduce(array: np.ndarray, axis: int) -> np.ndarray:
        n = array.shape[axis]
        edges = np.arange(size + 1) * n // size
        counts = np.maximum(np.diff(edges), 1)
        sums = np.add.reduceat(array, np.minimum(edges[:-1], n - 1), axis=axis)
        shape = [1] * array.ndim
        shape[axis] = size
        return sums / counts.reshape(shape)

    return reduce(reduce(frame.astype(np.float32), 0), 1)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1) (fraction of the colour circle), saturation and value in [0, 1]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-6), 0.0)
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(
        value == r,
        ((g - b) / safe) % 6.0,
        np.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = np.where(chroma > 0, hue / 6.0, 0.0) % 1.0
    return hue, saturation, value


def _histogram(values: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    index = np.minimum((values * bins).astype(np.int64), bins - 1).ravel()
    hist = np.bincount(index, weights=None if weights is None else weights.ravel(), minlength=bins)
    total = hist.sum()
    return hist / total if total > 0 else hist.astype(np.float64)


def _cells(array: np.ndarray) -> list[np.ndarray]:
    half = array.shape[0] // 2
    return [array[:half, :half], array[:half, half:], array[half:, :half], array[half:, half:]]


def _edges(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel magnitude and orientation in [0, 1) (half circle: edge direction, not polarity)."""
    p = np.pad(grey, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    magnitude = np.hypot(gx, gy) / 4.0
    orientation = (np.arctan2(gy, gx) % np.pi) / np.pi
    return magnitude, orientation


def _edge_features(magnitude: np.ndarray, orientation: np.ndarray) -> list[np.ndarray]:
    return [
        _histogram(orientation, EDGE_BINS, magnitude),
        np.array([(magnitude > _EDGE_THRESHOLD).mean()]),
    ]


def frame_features(frame: np.ndarray) -> np.ndarray:
    """FRAME_DIM features of one HxWx3 uint8 RGB frame."""
    rgb = _resize_area(frame, SIZE) / 255.0
    hue, sat, val = _hsv(rgb)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    magnitude, orientation = _edges(grey)

    parts = [_histogram(hue, HUE_BINS, sat), _histogram(sat, SAT_BINS), _histogram(val, VAL_BINS)]
    for h, s, v in zip(_cells(hue), _cells(sat), _cells(val), strict=True):
        parts += [_histogram(h, CELL_HUE_BINS, s), _histogram(v, CELL_VAL_BINS)]
    parts += _edge_features(magnitude, orientation)
    for m, o in zip(_cells(magnitude), _cells(orientation), strict=True):
        parts += _edge_features(m, o)

    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    parts.append(np.array([grey.mean(), grey.std() * 2, sat.mean(), sat.std() * 2, colourfulness]))

    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    skin = (cb >= 77 / 255) & (cb <= 127 / 255) & (cr >= 133 / 255) & (cr <= 173 / 255)
    vivid = (sat > 0.25) & (val > 0.2)
    green = vivid & (hue >= 75 / 360) & (hue < 165 / 360)
    blue = vivid & (hue >= 180 / 360) & (hue < 260 / 360)
    black = val < 0.1
    white = (val > 0.9) & (sat < 0.1)
    parts.append(np.array([m.mean() for m in (skin, green, blue, black, white)]))

    features = np.concatenate(parts).astype(np.float32)
    return np.clip(features, 0.0, 1.0)


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    grey = _resize_area(frame, THUMB) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return grey / 255.0


def motion_features(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Mean/max pixel change and mean/max hue-histogram change between consecutive keyframes."""
    if len(frames) < 2:
        return np.zeros(MOTION_DIM, dtype=np.float32)
    thumbs = [_thumbnail(f) for f in frames]
    pixel = np.array([np.abs(a - b).mean() for a, b in pairwise(thumbs)])
    hists = []
    for f in frames:
        hue, sat, _ = _hsv(_resize_area(f, THUMB) / 255.0)
        hists.append(_histogram(hue, HUE_BINS, sat))
    colour = np.array([0.5 * np.abs(a - b).sum() for a, b in pairwise(hists)])
    return np.array([pixel.mean(), pixel.max(), colour.mean(), colour.max()], dtype=np.float32)


def describe_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """DESCRIPTOR_DIM vector of a video's keyframes (at least one frame)."""
    if not frames:
        raise ValueError("no keyframes to describe; a video without frames has no frames vector")
    per_frame = np.stack([frame_features(f) for f in frames])
    return np.concatenate(
        [per_frame.mean(axis=0), per_frame.std(axis=0), motion_features(frames)]
    ).astype(np.float32)
