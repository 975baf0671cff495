"""Line plots as inline SVG, drawn on the server (no script, no external files)."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from streams.ui.activity import MINUTE_MS
from streams.ui.model import Plot

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 10, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%H:%M")


def svg(plot: Plot) -> str:
    """The plot as an ``<svg>`` element; a series' missing minutes are gaps in its line."""
    n = max((len(s.points) for s in plot.series), default=0)
    top = nice_max(max((p for s in plot.series for p in s.points if p is not None), default=0.0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return TOP + inner_h * (1 - v / top)

    parts = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(plot.title)}" xmlns="http://www.w3.org/2000/svg">']
    for frac in (0.0, 0.5, 1.0):
        yy = y(top * frac)
        parts.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                     f'{_label(top * frac)}</text>')
    if n:
        for i in range(0, n, max(n // 4, 1)):
            parts.append(f'<text x="{x(i):.1f}" y="{TOP + inner_h + 14}" text-anchor="middle" font-size="11" '
                         f'fill="#555">{_clock(plot.start_ms + i * MINUTE_MS)}</text>')
    for k, series in enumerate(plot.series):
        colour = COLOURS[k % len(COLOURS)]
        segments: list[list[str]] = [[]]
        for i, v in enumerate(series.points):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(seg)}"/>')
            elif seg:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        lx = LEFT + k * 150
        parts.append(f'<rect x="{lx}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="{HEIGHT - 5}" font-size="11" fill="#333">{escape(series.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
