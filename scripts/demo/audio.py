"""Sound beds for the demo corpus: crowd, engine, kitchen sizzle, birds, simple music, ...

The audio modality should carry topic information even under the narration (and on its own in
"ambience" videos), so every topic names one of :data:`AMBIENCES`. Everything is synthesised
from a seeded ``numpy`` generator: same seed, same samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Synth = Callable[[int, int, np.random.Generator], np.ndarray]


def _lowpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    """First-order low-pass applied in the frequency domain (no scipy import for the demo)."""
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    return np.fft.irfft(np.fft.rfft(x) / (1 + 1j * freqs / cutoff), n=x.size)


def _highpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    return x - _lowpass(x, sr, cutoff)


def _time(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _slow(n: int, sr: int, rng: np.random.Generator, rate: float) -> np.ndarray:
    """A smooth random envelope in [0, 1] changing about ``rate`` times per second."""
    points = max(2, int(n / sr * rate) + 2)
    knots = rng.random(points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)


def _events(
    n: int, sr: int, rng: np.random.Generator, per_second: float, sound: Callable[[], np.ndarray]
) -> np.ndarray:
    out = np.zeros(n)
    for _ in range(rng.poisson(per_second * n / sr)):
        clip = sound()
        start = int(rng.integers(0, max(1, n - clip.size)))
        out[start : start + clip.size] += clip[: n - start]
    return out


def _chirp(sr: int, rng: np.random.Generator) -> np.ndarray:
    length = rng.uniform(0.05, 0.15)
    t = _time(int(length * sr), sr)
    f0, f1 = rng.uniform(2500, 4500), rng.uniform(2000, 6000)
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * length))
    return np.sin(phase) * np.hanning(t.size)


def _tone(sr: int, freq: float, length: float, decay: float) -> np.ndarray:
    t = _time(int(length * sr), sr)
    return np.sin(2 * np.pi * freq * t) * np.exp(-t * decay)


def _crowd(n, sr, rng):
    base = _lowpass(rng.standard_normal(n), sr, 700) * (0.6 + 0.4 * _slow(n, sr, rng, 0.5))
    cheers = _lowpass(rng.standard_normal(n), sr, 1500) * (_slow(n, sr, rng, 0.3) > 0.8)
    return base + 1.5 * cheers


def _street(n, sr, rng):
    passes = _slow(n, sr, rng, 0.4) ** 3
    rumble = _lowpass(rng.standard_normal(n), sr, 300) * (0.4 + 2 * passes)
    return rumble + 0.3 * _events(n, sr, rng, 0.3, lambda: _tone(sr, rng.uniform(400, 500), 0.3, 3))


def _engine(n, sr, rng):
    rpm = rng.uniform(35, 60) * (1 + 0.3 * _slow(n, sr, rng, 0.3))
    phase = 2 * np.pi * np.cumsum(rpm) / sr
    saw = (phase / (2 * np.pi)) % 1.0 - 0.5
    return _lowpass(saw + 0.3 * np.sin(2 * phase), sr, 400) + 0.2 * _lowpass(
        rng.standard_normal(n), sr, 900
    )


def _kitchen(n, sr, rng):
    sizzle = _highpass(rng.standard_normal(n), sr, 3000) * (0.3 + 0.7 * _slow(n, sr, rng, 2))
    clinks = _events(n, sr, rng, 0.5, lambda: _tone(sr, rng.uniform(2000, 3500), 0.4, 12))
    return sizzle + 2 * clinks


def _nature(n, sr, rng):
    wind = _lowpass(rng.standard_normal(n), sr, 250) * (0.3 + 0.7 * _slow(n, sr, rng, 0.2))
    return wind + 0.6 * _events(n, sr, rng, 1.5, lambda: _chirp(sr, rng))


def _birds(n, sr, rng):
    return 0.3 * _lowpass(rng.standard_normal(n), sr, 200) + _events(
        n, sr, rng, 5, lambda: _chirp(sr, rng)
    )


def _waves(n, sr, rng):
    t = _time(n, sr)
    swell = 0.2 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.08, 0.14) * t + rng.uniform(0, 6)) ** 2
    return _lowpass(rng.standard_normal(n), sr, 900) * swell


def _bubble(sr: int, rng: np.random.Generator) -> np.ndarray:
    size = int(0.06 * sr)
    sweep = np.linspace(rng.uniform(250, 400), rng.uniform(700, 1000), size)
    return np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.hanning(size)


def _brush(sr: int, rng: np.random.Generator) -> np.ndarray:
    size = int(0.1 * sr)
    return _lowpass(rng.standard_normal(size), sr, 5000) * np.hanning(size) * 0.4


def _water(n, sr, rng):
    return 0.4 * _lowpass(rng.standard_normal(n), sr, 1200) + _events(
        n, sr, rng, 4, lambda: _bubble(sr, rng)
    )


def _rain(n, sr, rng):
    drops = _events(n, sr, rng, 30, lambda: _tone(sr, rng.uniform(1500, 4000), 0.02, 150))
    return _highpass(rng.standard_normal(n), sr, 1000) * 0.5 + drops


def _room(n, sr, rng):
    t = _time(n, sr)
    return _lowpass(rng.standard_normal(n), sr, 400) + 0.2 * np.sin(2 * np.pi * 50 * t)


def _electronic(n, sr, rng):
    t = _time(n, sr)
    root = rng.choice((110.0, 130.8, 146.8))
    pad = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1, 1.5, 2, 2.52)) * (
        0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t)
    )
    beeps = _events(
        n, sr, rng, 0.8, lambda: _tone(sr, rng.choice((880.0, 1320.0, 1760.0)), 0.12, 20)
    )
    return pad / 4 + beeps


_PROGRESSIONS = {
    "jazz": ((0, 4, 7, 11), (5, 9, 12, 16), (2, 5, 9, 12), (7, 11, 14, 17)),
    "rock": ((0, 7, 12), (5, 12, 17), (7, 14, 19), (3, 10, 15)),
    "classical": ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)),
    "pop": ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)),
    "chiptune": ((0, 4, 7), (5, 9, 12), (7, 11, 14), (4, 7, 11)),
}
_STYLE = {  # bpm, waveform, drums, distortion
    "jazz": (100, "sine", "brush", 1.0),
    "rock": (120, "saw", "kick", 4.0),
    "classical": (72, "strings", "", 1.0),
    "pop": (118, "square", "kick", 1.0),
    "chiptune": (140, "square", "", 1.0),
}


def _wave(kind: str, phase: np.ndarray) -> np.ndarray:
    if kind == "sine":
        return np.sin(phase) + 0.3 * np.sin(2 * phase)
    if kind == "square":
        return np.sign(np.sin(phase)) * 0.6
    if kind == "strings":
        return sum(np.sin(k * phase) / k for k in range(1, 6))
    return ((phase / (2 * np.pi)) % 1.0 - 0.5) * 2


def _music(style: str) -> Synth:
    def synth(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
        bpm, waveform, drums, drive = _STYLE[style]
        beat = 60 / bpm
        t = _time(n, sr)
        root = rng.choice((196.0, 220.0, 246.9, 261.6))
        out = np.zeros(n)
        progression = _PROGRESSIONS[style]
        bar = 4 * beat
        for index, chord in enumerate(progression * (int(n / sr / bar) // len(progression) + 1)):
            start, end = int(index * bar * sr), min(n, int((index + 1) * bar * sr))
            if start >= n:
                break
            seg = t[start:end] - t[start]
            if style == "chiptune":
                notes = [chord[int(x / (beat / 4)) % len(chord)] for x in seg]
                freqs = root * 2 ** (np.asarray(notes) / 12)
                out[start:end] += _wave(waveform, 2 * np.pi * np.cumsum(freqs) / sr)
                continue
            for semitone in chord:
                out[start:end] += _wave(
                    waveform, 2 * np.pi * root * 2 ** (semitone / 12) * seg
                ) / len(chord)
            bass = root / 2 * 2 ** (chord[0] / 12)
            out[start:end] += 0.5 * np.sin(2 * np.pi * bass * seg)
        out = np.tanh(out * drive) / max(1.0, np.tanh(drive))
        if drums:
            for k in range(int(n / sr / beat)):
                clip = _tone(sr, 60, 0.2, 25) if drums == "kick" else _brush(sr, rng)
                start = int(k * beat * sr)
                out[start : start + clip.size] += clip[: n - start]
        return out

    return synth


AMBIENCES: dict[str, Synth] = {
    "crowd": _crowd,
    "street": _street,
    "engine": _engine,
    "kitchen": _kitchen,
    "nature": _nature,
    "birds": _birds,
    "waves": _waves,
    "water": _water,
    "rain": _rain,
    "room": _room,
    "electronic": _electronic,
    "music_jazz": _music("jazz"),
    "music_rock": _music("rock"),
    "music_classical": _music("classical"),
    "music_pop": _music("pop"),
    "chiptune": _music("chiptune"),
}
# "none": the video keeps only narration (and real clip audio where it has one).
AMBIENCE_KINDS = frozenset(AMBIENCES) | {"none"}


def ambience(kind: str, n_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` of the ``kind`` bed at unit RMS (float32); ``"none"`` is silence."""
    if kind == "none":
        return np.zeros(n_samples, dtype=np.float32)
    try:
        synth = AMBIENCES[kind]
    except KeyError as e:
        raise ValueError(f"unknown ambience {kind!r}; known: {sorted(AMBIENCE_KINDS)}") from e
    samples = np.asarray(synth(n_samples, sample_rate, rng), dtype=np.float64)
    rms = float(np.sqrt(np.mean(samples**2)))
    if rms == 0.0:
        raise ValueError(f"ambience {kind!r} produced silence for {n_samples} samples")
    return (samples / rms).astype(np.float32)
