"""Procedural frames for the demo corpus: one small drawing function per scene kind.

Each renderer draws a whole frame at time ``t`` (seconds into the shot) from a ``random.Random``
seeded per shot, so the layout stays put while objects move. Colours come from the topic's
palette (``scripts/demo/topics.py``); on-screen text uses Pillow's bundled font, folded to ASCII
because that font has no accented glyphs.
"""

from __future__ import annotations

import itertools
import math
import random
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
Size = tuple[int, int]
Renderer = Callable[
    [ImageDraw.ImageDraw, int, int, float, random.Random, tuple[RGB, ...], str, tuple[str, ...]],
    None,
]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
_CODE = (
    "import numpy as np",
    "x = load(path)",
    "if ok:",
    "    return y",
    "for i in range(n):",
    "class Model:",
    "def fit(self, X):",
    "# TODO: tests",
    "print(result)",
    "while True:",
)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def ascii_text(text: str) -> str:
    """Drop accents and symbols the bundled font cannot draw (``Café 😅`` -> ``Cafe``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.split())


def _pal(palette: tuple[RGB, ...], index: int, default: RGB) -> RGB:
    return tuple(palette[index]) if index < len(palette) else default  # type: ignore[return-value]


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(max(0, min(255, round(c * factor))) for c in color)  # type: ignore[return-value]


def _gradient(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], top: RGB, bottom: RGB
) -> None:
    x0, y0, x1, y1 = box
    steps = max(1, y1 - y0)
    for y in range(y0, y1, 2):
        f = (y - y0) / steps
        draw.rectangle(
            (x0, y, x1, y + 1), fill=tuple(round(a + (b - a) * f) for a, b in zip(top, bottom))
        )


def _wave(t: float, speed: float, phase: float = 0.0) -> float:
    return math.sin(t * speed + phase)


def _frac(value: float) -> float:
    return value - math.floor(value)


def _figure(
    draw: ImageDraw.ImageDraw, x: float, y: float, s: float, color: RGB, t: float, phase: float
) -> None:
    """A stick person whose limbs swing: the runners, players and musicians of the scenes."""
    swing = _wave(t, 8, phase) * s * 0.35
    draw.ellipse((x - s * 0.18, y - s, x + s * 0.18, y - s * 0.64), fill=color)
    draw.line((x, y - s * 0.64, x, y - s * 0.25), fill=color, width=max(1, round(s / 10)))
    for sign in (-1, 1):
        draw.line((x, y - s * 0.25, x + sign * swing, y), fill=color, width=max(1, round(s / 12)))
        draw.line(
            (x, y - s * 0.55, x - sign * swing, y - s * 0.35),
            fill=color,
            width=max(1, round(s / 14)),
        )


def _pitch(draw, w, h, t, r, pal, variant, words):
    grass, lines = _pal(pal, 0, (46, 139, 60)), _pal(pal, 1, WHITE)
    for i in range(10):
        draw.rectangle(
            (i * w / 10, 0, (i + 1) * w / 10, h), fill=grass if i % 2 else _shade(grass, 1.12)
        )
    m = h * 0.08
    draw.rectangle((m, m, w - m, h - m), outline=lines, width=2)
    draw.line((w / 2, m, w / 2, h - m), fill=lines, width=2)
    draw.ellipse(
        (w / 2 - h * 0.15, h / 2 - h * 0.15, w / 2 + h * 0.15, h / 2 + h * 0.15),
        outline=lines,
        width=2,
    )
    for x0, x1 in ((m, m + w * 0.12), (w - m - w * 0.12, w - m)):
        draw.rectangle((x0, h * 0.3, x1, h * 0.7), outline=lines, width=2)
    teams = ((220, 30, 40), (30, 60, 200))
    for k in range(10):
        px = w * (0.15 + 0.7 * r.random()) + _wave(t, 0.8 + r.random(), k) * w * 0.05
        py = h * (0.2 + 0.6 * r.random()) + _wave(t, 0.6 + r.random(), k * 2) * h * 0.05
        _figure(draw, px, py, h * 0.12, teams[k % 2], t, k)
    bx = w * (0.2 + 0.6 * (0.5 + 0.5 * _wave(t, 0.9, r.random() * 6)))
    by = h * (0.5 + 0.3 * _wave(t, 1.3, r.random() * 6))
    draw.ellipse((bx - 4, by - 4, bx + 4, by + 4), fill=WHITE, outline=BLACK)


def _court(draw, w, h, t, r, pal, variant, words):
    floor, lines = _pal(pal, 0, (205, 133, 63)), _pal(pal, 1, WHITE)
    draw.rectangle((0, 0, w, h), fill=_shade(floor, 0.7))
    m = h * 0.1
    draw.rectangle((m, m, w - m, h - m), fill=floor, outline=lines, width=2)
    if variant == "basketball":
        for x in range(int(m), int(w - m), 12):
            draw.line((x, m, x, h - m), fill=_shade(floor, 0.92))
        draw.line((w / 2, m, w / 2, h - m), fill=lines, width=2)
        for side, sign in ((m, 1), (w - m, -1)):
            key_x = side + sign * w * 0.15
            draw.rectangle(
                (min(side, key_x), h * 0.38, max(side, key_x), h * 0.62), outline=lines, width=2
            )
            start, end = (-90, 90) if sign > 0 else (90, 270)
            draw.arc(
                (side - w * 0.22, h * 0.15, side + w * 0.22, h * 0.85),
                start,
                end,
                fill=lines,
                width=2,
            )
            hoop = side + sign * 10
            draw.ellipse((hoop - 5, h / 2 - 5, hoop + 5, h / 2 + 5), outline=(255, 90, 0), width=2)
        ball = (230, 110, 20)
    else:
        draw.line((w / 2, m - 6, w / 2, h - m + 6), fill=(240, 240, 240), width=3)
        draw.line((m, h * 0.22, w - m, h * 0.22), fill=lines, width=1)
        draw.line((m, h * 0.78, w - m, h * 0.78), fill=lines, width=1)
        draw.line((w * 0.27, h * 0.5, w * 0.73, h * 0.5), fill=lines, width=1)
        ball = (220, 240, 60)
    n = 4 if variant == "tennis" else 10
    for k in range(n):
        px = w * (0.15 + 0.7 * r.random()) + _wave(t, 1.1, k) * w * 0.06
        _figure(
            draw,
            px,
            h * (0.3 + 0.5 * r.random()),
            h * 0.2,
            ((240, 240, 240), (20, 40, 140))[k % 2],
            t,
            k,
        )
    phase = _frac(t * 0.6)
    bx = w * (0.2 + 0.6 * phase) if int(t * 0.6) % 2 == 0 else w * (0.8 - 0.6 * phase)
    by = h * 0.65 - abs(math.sin(phase * math.pi * 2)) * h * 0.4
    draw.ellipse((bx - 4, by - 4, bx + 4, by + 4), fill=ball, outline=BLACK)


def _pool(draw, w, h, t, r, pal, variant, words):
    water, rope = _pal(pal, 0, (40, 140, 210)), _pal(pal, 1, WHITE)
    draw.rectangle((0, 0, w, h), fill=water)
    lanes = 6
    for lane in range(lanes + 1):
        y = lane * h / lanes
        for x in range(0, w, 8):
            draw.ellipse((x, y - 2, x + 5, y + 3), fill=rope if (x // 8) % 2 else (220, 40, 40))
        if lane < lanes:
            speed = 0.08 + 0.05 * r.random()
            x = w * (0.05 + 0.9 * abs(2 * _frac(t * speed + r.random()) - 1))
            cy = y + h / lanes / 2
            draw.ellipse((x - 14, cy - 4, x + 14, cy + 4), fill=_shade(water, 0.6))
            draw.ellipse((x - 4, cy - 5, x + 4, cy + 5), fill=(250, 200, 60))
    for k in range(12):
        y = h * r.random()
        x = _frac(r.random() + t * 0.05) * w
        draw.arc((x, y, x + 30, y + 6), 0, 180, fill=_shade(water, 1.25))


def _road(draw, w, h, t, r, pal, variant, words):
    asphalt, sky, accent = (
        _pal(pal, 0, (90, 90, 95)),
        _pal(pal, 1, (135, 190, 235)),
        _pal(pal, 2, (200, 30, 40)),
    )
    horizon = h * 0.55
    _gradient(draw, (0, 0, w, int(horizon)), sky, _shade(sky, 1.2))
    if variant == "coast":
        draw.rectangle((0, horizon - h * 0.08, w, horizon), fill=(40, 110, 180))
    scroll = t * w * 0.35
    for k in range(6):
        x = (k * w / 4 - scroll * 0.3) % (w * 1.5) - w * 0.25
        draw.ellipse(
            (x, horizon - h * 0.2, x + w * 0.45, horizon + h * 0.2),
            fill=_shade((90, 140, 80), 0.8 + 0.1 * (k % 3)),
        )
    draw.rectangle(
        (0, horizon, w, h), fill=(110, 150, 90) if variant != "coast" else (210, 190, 140)
    )
    draw.rectangle((0, h * 0.68, w, h * 0.95), fill=asphalt)
    for k in range(8):
        x = (k * w / 5 - scroll) % (w * 1.6) - w * 0.3
        draw.rectangle((x, h * 0.81, x + w * 0.08, h * 0.825), fill=WHITE)
    bob = _wave(t, 12) * 1.0
    cx, base = w * 0.45, h * 0.84 + bob
    if variant in ("motorbike", "bicycle"):
        for dx in (-h * 0.1, h * 0.1):
            draw.ellipse(
                (cx + dx - h * 0.06, base - h * 0.06, cx + dx + h * 0.06, base + h * 0.06),
                outline=BLACK,
                width=3,
            )
        draw.polygon(
            [(cx - h * 0.1, base), (cx, base - h * 0.1), (cx + h * 0.1, base)],
            outline=accent,
            width=3,
        )
        _figure(
            draw,
            cx,
            base - h * 0.08,
            h * 0.25,
            accent if variant == "motorbike" else (40, 40, 40),
            t * 0.2,
            0,
        )
    else:
        draw.rounded_rectangle(
            (cx - w * 0.14, base - h * 0.12, cx + w * 0.14, base), 4, fill=accent
        )
        draw.polygon(
            [
                (cx - w * 0.08, base - h * 0.12),
                (cx - w * 0.04, base - h * 0.2),
                (cx + w * 0.07, base - h * 0.2),
                (cx + w * 0.1, base - h * 0.12),
            ],
            fill=_shade(accent, 0.8),
        )
        draw.rectangle(
            (cx - w * 0.02, base - h * 0.185, cx + w * 0.06, base - h * 0.13), fill=(180, 210, 230)
        )
        for dx in (-w * 0.09, w * 0.09):
            draw.ellipse(
                (cx + dx - h * 0.045, base - h * 0.045, cx + dx + h * 0.045, base + h * 0.045),
                fill=(25, 25, 25),
            )


def _kitchen(draw, w, h, t, r, pal, variant, words):
    main, wall, accent = (
        _pal(pal, 0, (200, 60, 50)),
        _pal(pal, 1, (250, 240, 220)),
        _pal(pal, 2, (30, 140, 70)),
    )
    draw.rectangle((0, 0, w, h), fill=wall)
    for x in range(0, w, 16):
        draw.line((x, 0, x, h * 0.6), fill=_shade(wall, 0.9))
    for y in range(0, int(h * 0.6), 16):
        draw.line((0, y, w, y), fill=_shade(wall, 0.9))
    draw.rectangle((0, h * 0.6, w, h), fill=(150, 110, 70))
    draw.rectangle((0, h * 0.6, w, h * 0.64), fill=(120, 85, 55))
    cx, top = w * 0.5, h * 0.6
    if variant == "grill":
        draw.rectangle((w * 0.15, top - h * 0.05, w * 0.85, h * 0.9), fill=main)
        for k in range(14):
            fx = w * (0.18 + 0.64 * k / 13)
            fh = h * (0.1 + 0.06 * abs(_wave(t, 9, k)))
            draw.polygon(
                [(fx - 6, top + h * 0.2), (fx, top + h * 0.2 - fh), (fx + 6, top + h * 0.2)],
                fill=accent,
            )
        for x in range(int(w * 0.17), int(w * 0.83), 9):
            draw.line((x, top - h * 0.05, x, top + h * 0.12), fill=(20, 20, 20), width=2)
        for k in range(3):
            draw.rounded_rectangle(
                (w * (0.22 + 0.2 * k), top - h * 0.02, w * (0.34 + 0.2 * k), top + h * 0.08),
                5,
                fill=_pal(pal, 2, (120, 60, 40)) if k != 1 else (140, 50, 40),
            )
    elif variant == "cake":
        for k, color in enumerate((main, _pal(pal, 1, WHITE), _pal(pal, 2, (120, 70, 40)))):
            y = top - h * 0.12 * (k + 1)
            draw.rectangle(
                (cx - w * 0.18 + k * 8, y, cx + w * 0.18 - k * 8, y + h * 0.12),
                fill=color,
                outline=_shade(color, 0.8),
            )
        for k in range(5):
            x = cx - w * 0.1 + k * w * 0.05
            draw.rectangle((x, top - h * 0.45, x + 3, top - h * 0.36), fill=(240, 200, 80))
            flame = 3 + abs(_wave(t, 11, k)) * 3
            draw.ellipse(
                (x - 1, top - h * 0.45 - flame * 2, x + 4, top - h * 0.45), fill=(255, 160, 30)
            )
    else:
        vessel = {"pot": (60, 60, 65), "cup": WHITE, "salad": (240, 240, 240)}.get(
            variant, (60, 60, 65)
        )
        if variant == "pot":
            draw.rectangle((cx - w * 0.25, top - 4, cx + w * 0.25, top + 2), fill=(40, 40, 40))
        draw.chord(
            (cx - w * 0.16, top - h * 0.3, cx + w * 0.16, top + h * 0.02),
            0,
            180,
            fill=vessel,
            outline=BLACK,
        )
        draw.ellipse((cx - w * 0.16, top - h * 0.17, cx + w * 0.16, top - h * 0.11), fill=main)
        if variant in ("pot", "cup"):
            for k in range(4):
                phase = _frac(t * 0.4 + k / 4)
                sx = cx - w * 0.08 + k * w * 0.05 + _wave(t, 3, k) * 4
                sy = top - h * 0.18 - phase * h * 0.35
                draw.ellipse(
                    (sx - 5, sy - 5, sx + 5, sy + 5),
                    outline=_shade(wall, 0.8 + 0.2 * phase),
                    width=2,
                )
        for k in range(6):
            x = w * (0.08 + 0.14 * k) if k < 2 or k > 3 else w * (0.1 + 0.2 * r.random())
            if abs(x - cx) > w * 0.2:
                draw.ellipse(
                    (x - 8, h * 0.72 - 8, x + 8, h * 0.72 + 8), fill=accent if k % 2 else main
                )
    knife_x = w * (0.8 + 0.05 * _wave(t, 4))
    draw.rectangle((knife_x, h * 0.8, knife_x + w * 0.12, h * 0.83), fill=(200, 200, 210))


def _landscape(draw, w, h, t, r, pal, variant, words):
    sky, mid, far = _pal(pal, 0, (135, 190, 235)), _pal(pal, 1, (90, 120, 90)), _pal(pal, 2, WHITE)
    horizon = int(h * (0.55 if variant != "city" else 0.75))
    _gradient(draw, (0, 0, w, horizon), _shade(sky, 0.85), _shade(sky, 1.15))
    if variant != "rain":
        sx, sy = w * 0.8, h * 0.18
        draw.ellipse((sx - 14, sy - 14, sx + 14, sy + 14), fill=(255, 230, 140))
    for k in range(4):
        cx = (r.random() * w + t * (6 + 4 * k)) % (w + 80) - 40
        cy = h * (0.08 + 0.12 * r.random())
        draw.ellipse(
            (cx, cy, cx + 50, cy + 14),
            fill=(245, 245, 250) if variant != "rain" else (150, 155, 165),
        )
    if variant == "mountains":
        for k in range(5):
            x = w * (-0.1 + 0.3 * k) + r.uniform(-10, 10)
            peak = h * (0.15 + 0.2 * r.random())
            draw.polygon(
                [(x - w * 0.25, horizon), (x, peak), (x + w * 0.25, horizon)],
                fill=_shade(mid, 0.8 + 0.1 * (k % 3)),
            )
            draw.polygon(
                [
                    (x - w * 0.05, peak + (horizon - peak) * 0.2),
                    (x, peak),
                    (x + w * 0.05, peak + (horizon - peak) * 0.2),
                ],
                fill=far,
            )
        draw.rectangle((0, horizon, w, h), fill=_shade(mid, 1.1))
    elif variant == "city":
        x = 0.0
        while x < w:
            bw, bh = r.uniform(18, 40), r.uniform(0.25, 0.6) * h
            draw.rectangle(
                (x, horizon - bh, x + bw, horizon), fill=_shade(mid, 0.8 + 0.4 * r.random())
            )
            for wy in range(int(horizon - bh + 4), int(horizon - 4), 8):
                for wx in range(int(x + 3), int(x + bw - 4), 7):
                    if r.random() < 0.5:
                        draw.rectangle((wx, wy, wx + 3, wy + 4), fill=far)
            x += bw + 2
        draw.rectangle((0, horizon, w, h), fill=(70, 70, 75))
        for k in range(4):
            px = (r.random() * w + t * r.uniform(-30, 30)) % w
            _figure(draw, px, h * 0.95, h * 0.16, _shade(far, 0.6), t, k)
    elif variant == "forest":
        draw.rectangle((0, horizon, w, h), fill=_shade(mid, 1.3))
        for k in range(18):
            x, size = r.uniform(0, w), r.uniform(0.15, 0.35) * h
            base = horizon + r.uniform(0, h * 0.25)
            draw.polygon(
                [(x - size * 0.4, base), (x, base - size * 1.5), (x + size * 0.4, base)],
                fill=_shade(mid, 0.7 + 0.4 * r.random()),
            )
        tx = w * 0.6
        draw.polygon([(tx - 24, h * 0.9), (tx, h * 0.72), (tx + 24, h * 0.9)], fill=far)
        for k in range(3):
            bx = _frac(t * 0.08 + k * 0.3) * w
            by = h * 0.2 + 10 * k + _wave(t, 2, k) * 4
            flap = 4 * _wave(t, 14, k)
            draw.line((bx - 6, by - flap, bx, by, bx + 6, by - flap), fill=(40, 40, 40), width=2)
    else:  # beach, sea, rain
        sea_top = horizon
        draw.rectangle((0, sea_top, w, h), fill=mid)
        for k in range(8):
            y = sea_top + (k + 1) * (h - sea_top) / 9
            offset = _wave(t, 1.5, k) * 10
            for x in range(-20, w + 20, 24):
                draw.arc(
                    (x + offset, y - 3, x + 12 + offset, y + 3), 180, 360, fill=_shade(mid, 1.3)
                )
        if variant == "beach":
            shore = h * 0.78 + _wave(t, 0.8) * 4
            draw.rectangle((0, shore, w, h), fill=far)
            draw.polygon(
                [(w * 0.2, shore - 30), (w * 0.2 + 40, shore - 30), (w * 0.2 + 20, shore - 38)],
                fill=(230, 60, 60),
            )
            draw.line(
                (w * 0.2 + 20, shore - 30, w * 0.2 + 20, shore + 10), fill=(80, 60, 40), width=2
            )
        elif variant == "sea":
            sx = _frac(t * 0.03 + r.random()) * (w + 120) - 60
            draw.polygon(
                [
                    (sx - 50, horizon - 4),
                    (sx + 50, horizon - 4),
                    (sx + 40, horizon + 10),
                    (sx - 40, horizon + 10),
                ],
                fill=(40, 40, 60),
            )
            draw.rectangle((sx - 30, horizon - 18, sx + 25, horizon - 4), fill=far)
            draw.rectangle((sx - 5, horizon - 30, sx + 5, horizon - 18), fill=(200, 50, 40))
        else:
            draw.rectangle((0, horizon, w, h), fill=mid)
            for k in range(60):
                x = (r.random() * w + t * 30) % w
                y = (r.random() * h + t * 300) % h
                draw.line((x, y, x - 2, y + 8), fill=far)


def _screen(draw, w, h, t, r, pal, variant, words):
    bg, accent = _pal(pal, 0, (30, 30, 40)), _pal(pal, 1, (150, 220, 120))
    if variant == "circuit":
        draw.rectangle((0, 0, w, h), fill=bg)
        for k in range(30):
            x, y = r.uniform(0, w), r.uniform(0, h)
            draw.line((x, y, x + r.choice((-1, 1)) * r.uniform(20, 80), y), fill=accent, width=2)
            draw.line((x, y, x, y + r.choice((-1, 1)) * r.uniform(10, 50)), fill=accent, width=2)
        for k in range(6):
            x, y = r.uniform(0, w - 40), r.uniform(0, h - 30)
            draw.rectangle(
                (x, y, x + 40, y + 24), fill=(20, 20, 20), outline=_pal(pal, 2, (200, 200, 200))
            )
        for k in range(8):
            x, y = r.uniform(0, w), r.uniform(0, h)
            on = _wave(t, 3 + k, k) > 0
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(255, 60, 60) if on else (80, 20, 20))
        return
    if variant == "network":
        draw.rectangle((0, 0, w, h), fill=bg)
        layers = [
            [(w * (0.15 + 0.23 * i), h * (j + 1) / (n + 1)) for j in range(n)]
            for i, n in enumerate((4, 6, 6, 3))
        ]
        for a, b in itertools.pairwise(layers):
            for p in a:
                for q in b:
                    draw.line((*p, *q), fill=_shade(accent, 0.35))
        for i, layer in enumerate(layers):
            for j, (x, y) in enumerate(layer):
                lit = 0.5 + 0.5 * _wave(t, 2.5, i * 1.3 + j)
                draw.ellipse(
                    (x - 7, y - 7, x + 7, y + 7), fill=_shade(_pal(pal, 2, accent), 0.4 + 0.6 * lit)
                )
        return
    draw.rectangle((0, 0, w, h), fill=(70, 60, 55))
    if variant == "phone":
        pw, ph = h * 0.45, h * 0.85
        x0, y0 = w / 2 - pw / 2, h * 0.08
        draw.rounded_rectangle((x0, y0, x0 + pw, y0 + ph), 10, fill=(20, 20, 20))
        draw.rectangle((x0 + 5, y0 + 12, x0 + pw - 5, y0 + ph - 12), fill=bg)
        scroll = (t * 12) % 30
        for k in range(12):
            ix = x0 + 10 + (k % 3) * (pw - 20) / 3
            iy = y0 + 18 + (k // 3) * 28 - scroll
            if y0 + 12 < iy < y0 + ph - 30:
                draw.rounded_rectangle(
                    (ix, iy, ix + 16, iy + 16), 4, fill=_shade(accent, 0.5 + 0.15 * (k % 4))
                )
        return
    x0, y0, x1, y1 = w * 0.12, h * 0.08, w * 0.88, h * 0.78
    draw.rectangle((x0 - 6, y0 - 6, x1 + 6, y1 + 6), fill=(20, 20, 22))
    draw.rectangle((w * 0.45, y1 + 6, w * 0.55, h * 0.9), fill=(40, 40, 45))
    draw.rectangle((x0, y0, x1, y1), fill=bg)
    if variant == "tv":
        colors = [
            _pal(pal, 1, (200, 60, 90)),
            _pal(pal, 2, (240, 200, 80)),
            (60, 120, 200),
            (90, 180, 90),
        ]
        band = (x1 - x0) / 4
        for k, color in enumerate(colors):
            draw.rectangle(
                (x0 + k * band, y0, x0 + (k + 1) * band, y1),
                fill=_shade(color, 0.6 + 0.4 * abs(_wave(t, 0.5, k))),
            )
        _figure(
            draw,
            x0 + (x1 - x0) * (0.3 + 0.2 * _wave(t, 0.4)),
            y1 - 4,
            (y1 - y0) * 0.7,
            (20, 20, 20),
            t * 0.2,
            0,
        )
        return
    lines = list(words) + list(_CODE)
    offset = int(t * 2.5)
    for k in range(int((y1 - y0 - 6) // 12)):
        text = lines[(k + offset + r.randrange(len(lines))) % len(lines)]
        draw.text(
            (x0 + 6 + 8 * (k % 3), y0 + 4 + 12 * k),
            text,
            font=font(10),
            fill=accent if k % 4 else (230, 200, 110),
        )
    if _wave(t, 6) > 0:
        draw.rectangle((x0 + 8, y1 - 12, x0 + 14, y1 - 3), fill=accent)


def _chart(draw, w, h, t, r, pal, variant, words):
    bg, first, second = (
        _pal(pal, 0, (245, 245, 250)),
        _pal(pal, 1, (40, 200, 90)),
        _pal(pal, 2, (230, 60, 60)),
    )
    ink = (30, 30, 30) if sum(bg) > 380 else (220, 220, 220)
    draw.rectangle((0, 0, w, h), fill=bg)
    x0, y0, x1, y1 = w * 0.1, h * 0.12, w * 0.92, h * 0.8
    labels = [ascii_text(word) for word in words] or ["Q1", "Q2"]
    if variant == "pie":
        shares = [r.uniform(1, 3) for _ in labels]
        start = t * 20
        for k, share in enumerate(shares):
            extent = 360 * share / sum(shares)
            color = (first, second, _shade(first, 0.6), _shade(second, 0.6))[k % 4]
            draw.pieslice(
                (w * 0.3, h * 0.1, w * 0.3 + h * 0.75, h * 0.85),
                start,
                start + extent,
                fill=color,
                outline=bg,
            )
            draw.rectangle(
                (w * 0.72, h * (0.2 + 0.12 * k), w * 0.72 + 8, h * (0.2 + 0.12 * k) + 8), fill=color
            )
            draw.text((w * 0.72 + 12, h * (0.2 + 0.12 * k) - 2), labels[k], font=font(11), fill=ink)
            start += extent
        return
    for k in range(5):
        y = y0 + (y1 - y0) * k / 4
        draw.line((x0, y, x1, y), fill=_shade(bg, 0.85) if sum(bg) > 380 else _shade(ink, 0.3))
    draw.line((x0, y0, x0, y1), fill=ink)
    draw.line((x0, y1, x1, y1), fill=ink)
    reveal = min(1.0, 0.25 + t * 0.15)
    if variant == "bars":
        n = 8
        for k in range(n):
            value = (0.2 + 0.7 * r.random()) * min(1.0, reveal * 1.3)
            bx = x0 + (x1 - x0) * (k + 0.2) / n
            draw.rectangle(
                (bx, y1 - (y1 - y0) * value, bx + (x1 - x0) * 0.6 / n, y1),
                fill=first if k % 2 else second,
            )
    else:
        for color in (first, second):
            value, points = 0.5, []
            for k in range(41):
                value = min(0.95, max(0.05, value + r.uniform(-0.08, 0.09)))
                if k / 40 <= reveal:
                    points.append((x0 + (x1 - x0) * k / 40, y1 - (y1 - y0) * value))
            if len(points) > 1:
                draw.line(points, fill=color, width=2)
    ticker = "   ".join(f"{label} {r.uniform(-3, 3):+.2f}%" for label in labels)
    draw.rectangle((0, h * 0.86, w, h), fill=ink)
    draw.text((w - (t * 40) % (w + 200), h * 0.88), ticker, font=font(11), fill=bg)


def _stage(draw, w, h, t, r, pal, variant, words):
    bg, light, accent = (
        _pal(pal, 0, (20, 10, 40)),
        _pal(pal, 1, (250, 180, 60)),
        _pal(pal, 2, (180, 60, 200)),
    )
    draw.rectangle((0, 0, w, h), fill=bg)
    for k in range(4):
        x = w * (0.15 + 0.23 * k)
        swing = _wave(t, 0.8 + 0.3 * k, k) * w * 0.12
        intensity = 0.45 + 0.35 * abs(_wave(t, 2 + k, k))
        draw.polygon(
            [(x, 0), (x + swing - 25, h * 0.8), (x + swing + 25, h * 0.8)],
            fill=_shade(light if k % 2 else accent, intensity),
        )
    draw.rectangle((0, h * 0.78, w, h), fill=_shade(bg, 2.0))
    if variant == "esports":
        draw.rectangle(
            (w * 0.2, h * 0.1, w * 0.8, h * 0.45), fill=(10, 10, 10), outline=light, width=2
        )
        draw.text((w * 0.28, h * 0.22), "GRAND FINAL", font=font(16), fill=light)
    n = 12 if variant == "orchestra" else 4
    for k in range(n):
        x = w * (0.1 + 0.8 * (k + 0.5) / n)
        y = h * (0.78 if variant != "orchestra" or k % 2 else 0.7)
        _figure(
            draw,
            x,
            y,
            h * (0.18 if variant == "orchestra" else 0.32),
            (15, 15, 15),
            t * (0.3 if variant == "orchestra" else 1.0),
            k,
        )
    for k in range(16):
        level = 0.3 + 0.7 * abs(_wave(t, 5 + k % 5, k * 0.7))
        bx = w * k / 16
        draw.rectangle((bx + 2, h - level * h * 0.15, bx + w / 16 - 2, h), fill=accent)


def _space(draw, w, h, t, r, pal, variant, words):
    bg, planet, star = _pal(pal, 0, (20, 24, 48)), _pal(pal, 1, (230, 160, 90)), _pal(pal, 2, WHITE)
    draw.rectangle((0, 0, w, h), fill=bg)
    for k in range(120):
        x, y = r.uniform(0, w), r.uniform(0, h)
        twinkle = 0.5 + 0.5 * abs(_wave(t, 1 + r.random() * 3, k))
        draw.point((x, y), fill=_shade(star, twinkle))
    cx, cy, radius = w * 0.4, h * 0.55, h * 0.28
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=planet)
    for k in range(4):
        y = cy - radius * 0.7 + k * radius * 0.4
        draw.chord(
            (cx - radius, y - 5, cx + radius, y + 5), 0, 360, fill=_shade(planet, 0.8 + 0.1 * k)
        )
    draw.ellipse(
        (cx - radius * 1.6, cy - radius * 0.3, cx + radius * 1.6, cy + radius * 0.3),
        outline=_shade(planet, 1.2),
        width=2,
    )
    angle = t * 0.6
    mx, my = cx + math.cos(angle) * radius * 2.2, cy + math.sin(angle) * radius * 0.8
    draw.ellipse((mx - 6, my - 6, mx + 6, my + 6), fill=(200, 200, 210))
    shoot = _frac(t * 0.15)
    draw.line(
        (w * shoot, h * 0.1 + shoot * 30, w * shoot - 25, h * 0.1 + shoot * 30 - 8),
        fill=star,
        width=2,
    )


def _lab(draw, w, h, t, r, pal, variant, words):
    wall, liquid_a, liquid_b = (
        _pal(pal, 0, (235, 240, 245)),
        _pal(pal, 1, (80, 180, 220)),
        _pal(pal, 2, (220, 80, 160)),
    )
    draw.rectangle((0, 0, w, h), fill=wall)
    draw.rectangle((0, h * 0.7, w, h), fill=(60, 65, 75))
    for k, word in enumerate(words):
        draw.text(
            (w * (0.08 + 0.3 * k), h * 0.08), ascii_text(word), font=font(18), fill=(60, 60, 90)
        )
    for k in range(4):
        x = w * (0.12 + 0.22 * k)
        mix = 0.5 + 0.5 * _wave(t, 0.5, k)
        color = tuple(round(a + (b - a) * mix) for a, b in zip(liquid_a, liquid_b))
        draw.rectangle((x, h * 0.38, x + w * 0.12, h * 0.7), outline=(90, 90, 100), width=2)
        draw.rectangle(
            (x + 2, h * (0.5 + 0.05 * (k % 2)), x + w * 0.12 - 2, h * 0.7 - 2), fill=color
        )
        for b in range(3):
            by = h * 0.68 - _frac(t * 0.5 + b / 3 + k * 0.1) * h * 0.15
            draw.ellipse((x + 8 + b * 6, by - 2, x + 12 + b * 6, by + 2), outline=WHITE)


def _garden(draw, w, h, t, r, pal, variant, words):
    sky, soil, leaf = (
        _pal(pal, 0, (135, 190, 235)),
        _pal(pal, 1, (110, 80, 50)),
        _pal(pal, 2, (60, 160, 60)),
    )
    _gradient(draw, (0, 0, w, int(h * 0.45)), _shade(sky, 0.9), _shade(sky, 1.15))
    draw.ellipse((w * 0.82, h * 0.05, w * 0.82 + 26, h * 0.05 + 26), fill=(255, 225, 120))
    draw.rectangle((0, h * 0.45, w, h), fill=(90, 150, 70))
    growth = min(1.0, 0.3 + t * 0.08)
    for row in range(3):
        y = h * (0.58 + 0.14 * row)
        draw.rectangle((0, y, w, y + h * 0.07), fill=soil)
        for k in range(9):
            x = w * (0.06 + 0.11 * k) + row * 6
            height = h * 0.12 * growth * (0.7 + 0.6 * r.random())
            sway = _wave(t, 1.5, k + row) * 2
            draw.line((x, y + 2, x + sway, y + 2 - height), fill=_shade(leaf, 0.8), width=2)
            draw.ellipse((x + sway - 5, y - height - 3, x + sway + 5, y - height + 5), fill=leaf)
            if row == 0 and k % 3 == 0:
                draw.ellipse(
                    (x + sway - 3, y - height - 1, x + sway + 3, y - height + 5), fill=(220, 40, 40)
                )


def _room(draw, w, h, t, r, pal, variant, words):
    wall, floor, accent = (
        _pal(pal, 0, (230, 220, 200)),
        _pal(pal, 1, (190, 150, 110)),
        _pal(pal, 2, (90, 140, 120)),
    )
    draw.rectangle((0, 0, w, h * 0.65), fill=wall)
    draw.rectangle((0, h * 0.65, w, h), fill=floor)
    for x in range(0, w, 24):
        draw.line((x, h * 0.65, x - 30, h), fill=_shade(floor, 0.9))
    if variant == "living":
        draw.rectangle(
            (w * 0.62, h * 0.1, w * 0.9, h * 0.45), fill=(170, 210, 235), outline=WHITE, width=4
        )
        draw.rounded_rectangle((w * 0.1, h * 0.45, w * 0.55, h * 0.75), 8, fill=accent)
        draw.rounded_rectangle(
            (w * 0.1, h * 0.38, w * 0.55, h * 0.52), 8, fill=_shade(accent, 0.85)
        )
        glow = 0.7 + 0.3 * abs(_wave(t, 0.7))
        draw.line((w * 0.06, h * 0.75, w * 0.06, h * 0.3), fill=(60, 60, 60), width=2)
        draw.polygon(
            [(w * 0.02, h * 0.3), (w * 0.1, h * 0.3), (w * 0.08, h * 0.2), (w * 0.04, h * 0.2)],
            fill=_shade((255, 230, 120), glow),
        )
        draw.rectangle((w * 0.75, h * 0.6, w * 0.8, h * 0.75), fill=(150, 90, 60))
        for k in range(5):
            sway = _wave(t, 1, k) * 2
            draw.ellipse(
                (
                    w * 0.77 + (k - 2) * 6 + sway,
                    h * 0.45 + (k % 2) * 6,
                    w * 0.77 + (k - 2) * 6 + 12 + sway,
                    h * 0.45 + (k % 2) * 6 + 14,
                ),
                fill=(50, 130, 60),
            )
    elif variant == "gym":
        draw.rectangle((w * 0.25, h * 0.85, w * 0.75, h * 0.92), fill=accent)
        squat = 0.5 + 0.5 * _wave(t, 2.5)
        _figure(draw, w * 0.5, h * 0.86, h * (0.55 - 0.15 * squat), (40, 40, 50), t * 0.3, 0)
        for x in (w * 0.12, w * 0.85):
            draw.rectangle((x - 14, h * 0.82, x + 14, h * 0.84), fill=(60, 60, 60))
            draw.rectangle((x - 16, h * 0.78, x - 10, h * 0.88), fill=(30, 30, 30))
            draw.rectangle((x + 10, h * 0.78, x + 16, h * 0.88), fill=(30, 30, 30))
    else:  # garage, workshop
        for k in range(7):
            x = w * (0.1 + 0.12 * k)
            draw.line((x, h * 0.12, x, h * 0.12 + r.uniform(20, 40)), fill=(70, 70, 75), width=3)
        draw.rectangle((w * 0.05, h * 0.55, w * 0.95, h * 0.62), fill=_shade(floor, 0.7))
        if variant == "garage":
            draw.rounded_rectangle((w * 0.25, h * 0.62, w * 0.8, h * 0.85), 6, fill=accent)
            for dx in (0.35, 0.7):
                draw.ellipse((w * dx - 12, h * 0.8, w * dx + 12, h * 0.95), fill=(20, 20, 20))
            wrench = w * (0.5 + 0.1 * _wave(t, 3))
            draw.line((wrench, h * 0.5, wrench + 18, h * 0.4), fill=(190, 190, 200), width=4)
        else:
            draw.rectangle((w * 0.2, h * 0.5, w * 0.75, h * 0.55), fill=_shade(accent, 0.9))
            saw = w * (0.45 + 0.06 * _wave(t, 5))
            draw.polygon(
                [(saw, h * 0.3), (saw + 40, h * 0.36), (saw + 40, h * 0.5), (saw, h * 0.46)],
                fill=(190, 190, 200),
            )
            for k in range(6):
                dust = _frac(t * 0.8 + k / 6)
                draw.point((saw + 30 + k * 3, h * 0.55 + dust * h * 0.2), fill=(230, 210, 170))


def _board(draw, w, h, t, r, pal, variant, words):
    base, ink, frame = _pal(pal, 0, (40, 70, 50)), _pal(pal, 1, WHITE), _pal(pal, 2, (150, 100, 60))
    draw.rectangle((0, 0, w, h), fill=(200, 190, 170))
    if variant == "chess":
        cell = h * 0.1
        x0, y0 = w / 2 - cell * 4, h * 0.1
        for i in range(8):
            for j in range(8):
                draw.rectangle(
                    (x0 + i * cell, y0 + j * cell, x0 + (i + 1) * cell, y0 + (j + 1) * cell),
                    fill=base if (i + j) % 2 == 0 else ink,
                )
        for k in range(12):
            i, j = r.randrange(8), r.randrange(8)
            move = 0.5 + 0.5 * _wave(t, 0.6, k) if k == 0 else 0.0
            px, py = x0 + (i + 0.5) * cell, y0 + (j + 0.5 - move) * cell
            draw.ellipse(
                (px - cell * 0.3, py - cell * 0.3, px + cell * 0.3, py + cell * 0.3),
                fill=frame if k % 2 else WHITE,
                outline=BLACK,
            )
        return
    draw.rectangle((w * 0.08, h * 0.08, w * 0.92, h * 0.85), fill=frame)
    draw.rectangle((w * 0.1, h * 0.11, w * 0.9, h * 0.82), fill=base)
    if variant == "canvas":
        strokes = int(6 + t * 4)
        for k in range(strokes):
            x, y = w * (0.12 + 0.7 * r.random()), h * (0.15 + 0.6 * r.random())
            color = (ink, frame, _shade(ink, 0.6), (80, 160, 80))[k % 4]
            draw.line(
                (x, y, x + r.uniform(15, 50), y + r.uniform(-8, 8)),
                fill=color,
                width=r.randint(3, 8),
            )
        return
    shown = int(t * 12)
    for k, line in enumerate(words):
        text = ascii_text(line)[: max(0, shown - 8 * k)]
        draw.text((w * 0.14, h * (0.16 + 0.17 * k)), text, font=font(18), fill=ink)
    _figure(draw, w * (0.8 + 0.03 * _wave(t, 1)), h * 0.98, h * 0.5, (50, 50, 60), t * 0.2, 0)


def _track(draw, w, h, t, r, pal, variant, words):
    lane, lines, grass = (
        _pal(pal, 0, (190, 70, 50)),
        _pal(pal, 1, WHITE),
        _pal(pal, 2, (46, 139, 60)),
    )
    draw.rectangle((0, 0, w, h), fill=grass)
    draw.rounded_rectangle((w * 0.05, h * 0.1, w * 0.95, h * 0.9), int(h * 0.4), fill=lane)
    draw.rounded_rectangle((w * 0.2, h * 0.38, w * 0.8, h * 0.62), int(h * 0.12), fill=grass)
    for k in range(1, 4):
        inset = k * h * 0.07
        draw.rounded_rectangle(
            (w * 0.05 + inset, h * 0.1 + inset, w * 0.95 - inset, h * 0.9 - inset),
            int(h * 0.4 - inset),
            outline=lines,
        )
    for k in range(4):
        angle = t * (0.5 + 0.05 * k) + r.random()
        rx, ry = w * 0.45 - k * h * 0.07 - 6, h * 0.4 - k * h * 0.07 - 6
        x, y = w / 2 + math.cos(angle) * rx, h / 2 + math.sin(angle) * ry
        _figure(
            draw,
            x,
            y + 8,
            h * 0.14,
            ((250, 250, 250), (20, 20, 120), (240, 200, 0), (20, 20, 20))[k],
            t,
            k,
        )


def _pet(draw, w, h, t, r, pal, variant, words):
    ground, fur, sky = (
        _pal(pal, 0, (46, 139, 60)),
        _pal(pal, 1, (210, 160, 80)),
        _pal(pal, 2, (135, 190, 235)),
    )
    draw.rectangle((0, 0, w, h * 0.6), fill=sky)
    draw.rectangle((0, h * 0.6, w, h), fill=ground)
    cx, cy = w * (0.45 + 0.08 * _wave(t, 0.4)), h * 0.68
    body = h * 0.22
    draw.ellipse((cx - body, cy - body * 0.55, cx + body, cy + body * 0.45), fill=fur)
    for dx in (-0.7, -0.35, 0.35, 0.7):
        step = _wave(t, 6, dx * 4) * 3
        draw.rectangle(
            (
                cx + dx * body - 4 + step,
                cy + body * 0.2,
                cx + dx * body + 4 + step,
                cy + body * 0.8,
            ),
            fill=_shade(fur, 0.8),
        )
    hx, hy = cx + body * 1.05, cy - body * 0.55
    draw.ellipse((hx - body * 0.45, hy - body * 0.45, hx + body * 0.45, hy + body * 0.45), fill=fur)
    if variant == "cat":
        for ex in (-0.3, 0.2):
            draw.polygon(
                [
                    (hx + ex * body, hy - body * 0.3),
                    (hx + (ex + 0.12) * body, hy - body * 0.75),
                    (hx + (ex + 0.25) * body, hy - body * 0.3),
                ],
                fill=fur,
            )
    else:
        draw.ellipse(
            (hx - body * 0.5, hy - body * 0.2, hx - body * 0.2, hy + body * 0.45),
            fill=_shade(fur, 0.7),
        )
        draw.ellipse(
            (hx + body * 0.3, hy, hx + body * 0.62, hy + body * 0.25), fill=_shade(fur, 1.1)
        )
    draw.ellipse((hx + body * 0.1, hy - body * 0.12, hx + body * 0.2, hy - body * 0.02), fill=BLACK)
    wag = _wave(t, 9 if variant == "dog" else 2) * 0.5
    tx, ty = cx - body, cy - body * 0.2
    draw.line(
        (tx, ty, tx - body * 0.6 * math.cos(wag), ty - body * 0.6 * math.sin(wag + 1)),
        fill=_shade(fur, 0.9),
        width=5,
    )
    bx = w * (0.15 + 0.7 * _frac(t * 0.12 + r.random()))
    color = (230, 60, 60) if variant == "cat" else (220, 230, 40)
    draw.ellipse((bx - 6, h * 0.88 - 6, bx + 6, h * 0.88 + 6), fill=color)


def _aquarium(draw, w, h, t, r, pal, variant, words):
    water, fish, plant = (
        _pal(pal, 0, (20, 90, 140)),
        _pal(pal, 1, (230, 120, 30)),
        _pal(pal, 2, (40, 160, 70)),
    )
    _gradient(draw, (0, 0, w, h), _shade(water, 1.4), _shade(water, 0.7))
    draw.rectangle((0, h * 0.85, w, h), fill=(210, 190, 140))
    for k in range(9):
        x = w * (0.05 + 0.11 * k)
        for s in range(5):
            sway = _wave(t, 1.2, k + s * 0.4) * (s + 1) * 1.5
            draw.ellipse(
                (x + sway - 4, h * (0.82 - 0.09 * s) - 6, x + sway + 4, h * (0.82 - 0.09 * s) + 6),
                fill=plant,
            )
    for k in range(7):
        speed = 0.05 + 0.05 * r.random()
        direction = 1 if k % 2 else -1
        x = _frac(r.random() + direction * t * speed) * (w + 40) - 20
        y = h * (0.15 + 0.6 * r.random()) + _wave(t, 1.5, k) * 5
        size = 6 + 5 * r.random()
        color = fish if k % 3 else (40, 120, 230)
        draw.ellipse((x - size, y - size * 0.5, x + size, y + size * 0.5), fill=color)
        tail = x - direction * size
        draw.polygon(
            [
                (tail, y),
                (tail - direction * size * 0.7, y - size * 0.5),
                (tail - direction * size * 0.7, y + size * 0.5),
            ],
            fill=color,
        )
    for k in range(10):
        bx = w * r.random()
        by = h * 0.85 - _frac(t * 0.3 + r.random()) * h * 0.85
        draw.ellipse((bx - 2, by - 2, bx + 2, by + 2), outline=(220, 240, 255))


def _game(draw, w, h, t, r, pal, variant, words):
    bg, main, accent = (
        _pal(pal, 0, (100, 150, 250)),
        _pal(pal, 1, (160, 90, 40)),
        _pal(pal, 2, (250, 210, 0)),
    )
    draw.rectangle((0, 0, w, h), fill=bg)
    if variant == "platformer":
        tile, scroll = 16, int(t * 40)
        for x in range(-tile, w + tile, tile):
            gx = x - scroll % tile
            draw.rectangle(
                (gx, h - tile * 2, gx + tile - 1, h), fill=main, outline=_shade(main, 0.7)
            )
        for k in range(5):
            cx = (k * 70 - scroll) % (w + 40)
            draw.ellipse((cx, h * 0.45, cx + 8, h * 0.45 + 10), fill=accent)
        jump = abs(math.sin(t * 3)) * h * 0.25
        draw.rectangle(
            (w * 0.3, h - tile * 2 - 20 - jump, w * 0.3 + 14, h - tile * 2 - jump),
            fill=(220, 30, 30),
        )
    elif variant == "racing":
        draw.rectangle((w * 0.25, 0, w * 0.75, h), fill=main)
        for y in range(-40, h + 40, 30):
            ly = (y + t * 160) % (h + 40) - 20
            draw.rectangle((w / 2 - 2, ly, w / 2 + 2, ly + 14), fill=WHITE)
        px = w / 2 + _wave(t, 1.3) * w * 0.15
        draw.rectangle((px - 9, h * 0.7, px + 9, h * 0.86), fill=accent)
        for k in range(3):
            oy = (r.random() * h + t * 90) % (h + 40) - 20
            ox = w * (0.32 + 0.12 * k)
            draw.rectangle(
                (ox - 8, oy, ox + 8, oy + 16),
                fill=((60, 60, 200), (240, 240, 240), (60, 200, 60))[k],
            )
    elif variant == "puzzle":
        cell, colors = h * 0.1, (main, accent, (80, 220, 120), (250, 200, 60), (200, 120, 250))
        x0 = w / 2 - cell * 4
        step = int(t * 2)
        for i in range(8):
            for j in range(8):
                k = (r.randrange(5) + (step if (i + j) % 7 == step % 7 else 0)) % 5
                draw.rounded_rectangle(
                    (
                        x0 + i * cell + 1,
                        h * 0.1 + j * cell + 1,
                        x0 + (i + 1) * cell - 1,
                        h * 0.1 + (j + 1) * cell - 1,
                    ),
                    4,
                    fill=colors[k],
                )
    else:  # arena
        draw.rectangle((w * 0.05, h * 0.12, w * 0.95, h * 0.95), outline=main, width=2)
        for k in range(10):
            x = w * (0.1 + 0.8 * _frac(r.random() + _wave(t, 0.5 + r.random(), k) * 0.05))
            y = h * (0.2 + 0.7 * _frac(r.random() + _wave(t, 0.4, k) * 0.05))
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=main if k < 5 else accent)
    draw.rectangle((0, 0, w, 14), fill=(0, 0, 0))
    draw.text(
        (4, 1), f"SCORE {int(t * 130) + r.randrange(900):06d}   LIVES 3", font=font(10), fill=WHITE
    )


RENDERERS: dict[str, Renderer] = {
    "pitch": _pitch,
    "court": _court,
    "pool": _pool,
    "road": _road,
    "kitchen": _kitchen,
    "landscape": _landscape,
    "screen": _screen,
    "chart": _chart,
    "stage": _stage,
    "space": _space,
    "lab": _lab,
    "garden": _garden,
    "room": _room,
    "board": _board,
    "track": _track,
    "pet": _pet,
    "aquarium": _aquarium,
    "game": _game,
}
CARD_KINDS = ("card", "endcard")
# Kinds a SceneSpec may name: the procedural renderers, text cards, and real clips.
SCENE_KINDS = frozenset(RENDERERS) | frozenset(CARD_KINDS) | {"clip"}


def render(
    kind: str,
    variant: str,
    draw: ImageDraw.ImageDraw,
    size: Size,
    t: float,
    rng: random.Random,
    palette: tuple[RGB, ...],
    words: tuple[str, ...],
) -> None:
    """Draw one frame of scene ``kind`` onto ``draw`` (whose image is ``size``)."""
    try:
        renderer = RENDERERS[kind]
    except KeyError as e:
        raise ValueError(f"unknown scene kind {kind!r}; known: {sorted(RENDERERS)}") from e
    renderer(draw, size[0], size[1], t, rng, palette, variant, words)


def render_card(
    kind: str, words: tuple[str, ...], seed: int, t: float, width: int, height: int
) -> Image.Image:
    """Title card (title, channel) or end card (channel): gradient, wrapped text, a sliding bar."""
    rng = random.Random(seed)
    top = (rng.randrange(20, 120), rng.randrange(20, 120), rng.randrange(40, 160))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    _gradient(draw, (0, 0, width, height), top, _shade(top, 0.4))
    lines = (
        ["Thanks for watching!", "Subscribe to " + ascii_text(words[0])]
        if kind == "endcard"
        else _wrap(ascii_text(words[0]), max(8, width // 11))
    )
    size = max(12, min(22, width // 16))
    y = height * 0.3
    for line in lines[:4]:
        draw.text((width * 0.08, y), line, font=font(size), fill=WHITE)
        y += size * 1.3
    bar = min(1.0, t / 1.2)
    draw.rectangle((width * 0.08, y + 6, width * (0.08 + 0.5 * bar), y + 9), fill=(255, 200, 60))
    if kind == "card" and len(words) > 1:
        draw.text(
            (width * 0.08, height * 0.85),
            ascii_text(words[1]),
            font=font(max(10, size - 6)),
            fill=(220, 220, 220),
        )
    return image


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]
