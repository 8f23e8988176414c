"""Line charts as PNG with Pillow (already a dependency through torchvision and Streamlit).

Neither matplotlib nor Altair's PNG renderer (vl-convert) is installed, and benchmark plots need
no more than a few labelled panels of lines: one panel per data set, one line per series, a
shared legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PANEL_W, PANEL_H = 420, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 60, 15, 30, 45
COLUMNS = 2
LEGEND_H = 30
TICKS = 5
COLOURS = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

Series = tuple[Sequence[float], Sequence[float]]  # (x values, y values)


def line_charts(
    path: str | Path,
    panels: Mapping[str, Mapping[str, Series]],
    *,
    x_label: str,
    y_label: str,
) -> Path:
    """Write one panel per ``panels`` entry (title -> {series name: (xs, ys)}) to ``path``."""
    if not panels:
        raise ValueError("nothing to plot: no panels")
    names = list(dict.fromkeys(name for series in panels.values() for name in series))
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}
    rows = -(-len(panels) // COLUMNS)
    width = PANEL_W * min(COLUMNS, len(panels))
    image = Image.new("RGB", (width, PANEL_H * rows + LEGEND_H), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    for i, (title, series) in enumerate(panels.items()):
        left, top = PANEL_W * (i % COLUMNS), LEGEND_H + PANEL_H * (i // COLUMNS)
        _panel(draw, font, (left, top), title, series, colour, x_label, y_label)
    x = 10
    for name in names:
        draw.line([(x, LEGEND_H // 2), (x + 20, LEGEND_H // 2)], fill=colour[name], width=3)
        draw.text((x + 25, LEGEND_H // 2 - 7), name, fill="black", font=font)
        x += 35 + int(draw.textlength(name, font=font))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _panel(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    origin: tuple[int, int],
    title: str,
    series: Mapping[str, Series],
    colour: Mapping[str, str],
    x_label: str,
    y_label: str,
) -> None:
    left, top = origin
    x0, x1 = left + MARGIN_L, left + PANEL_W - MARGIN_R
    y0, y1 = top + PANEL_H - MARGIN_B, top + MARGIN_T
    xs = [float(x) for xv, _ in series.values() for x in xv]
    ys = [float(y) for _, yv in series.values() for y in yv]
    x_min, x_max = _span(min(xs), max(xs))
    y_min, y_max = _span(min(ys), max(ys))

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            x0 + (x - x_min) / (x_max - x_min) * (x1 - x0),
            y0 - (y - y_min) / (y_max - y_min) * (y0 - y1),
        )

    draw.rectangle([x0, y1, x1, y0], outline="black")
    for k in range(TICKS + 1):
        yv = y_min + (y_max - y_min) * k / TICKS
        _, yp = at(x_min, yv)
        draw.line([(x0, yp), (x1, yp)], fill="#e5e5e5")
        draw.text((x0 - 42, yp - 7), f"{yv:.3f}", fill="black", font=font)
        xv = x_min + (x_max - x_min) * k / TICKS
        xp, _ = at(xv, y_min)
        draw.text((xp - 10, y0 + 4), f"{xv:.0f}", fill="black", font=font)
    for name, (xv, yv) in series.items():
        points = [at(float(x), float(y)) for x, y in zip(xv, yv)]
        if len(points) > 1:
            draw.line(points, fill=colour[name], width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour[name])
    draw.text((x0, top + 8), f"{title}: {y_label}", fill="black", font=font)
    draw.text((x0 + (x1 - x0) // 2 - 40, y0 + 22), x_label, fill="black", font=font)


def _span(low: float, high: float) -> tuple[float, float]:
    """A non-empty axis range: a flat series gets a small margin around its value."""
    if high - low < 1e-9:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad
