"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, nothing to download.

Each function returns inline SVG markup (safe to put in a template). Colours come from
attributes, not the portal's CSS, so a chart reads the same everywhere; every chart has a
<title> and <desc> for screen readers, and the page shows the same numbers as a table.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colour-blind-safe (Okabe-Ito) colours, in the dashboard's outcome order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#56B4E9", "#D55E00", "#999999", "#CC79A7", "#F0E442")
AXIS = "#555"
GRID = "#ddd"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    colour: str = PALETTE[0]


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _nice_step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


# Round durations in seconds for a time axis: 10 s ... 1 min ... 1 h ... 1 day.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


def _ticks(value: float, steps: Sequence[float] | None = None) -> list[float]:
    """Round axis ticks from 0 to at least `value`: at most 5 intervals, whole numbers."""
    if value <= 0:
        return [0.0, 1.0]
    wanted = value / 5
    if steps:
        step = next((s for s in steps if s >= wanted), _nice_step(wanted))
    else:
        step = max(1.0, _nice_step(wanted))
    count = max(1, math.ceil(value / step - 1e-9))
    return [step * k for k in range(count + 1)]


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f"{FONT}><title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 (every text is escaped)


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    out = []
    for s in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}">{escape(s.label)}</text>')
        x += 22 + 7 * len(s.label)
    return out


def _y_axis(
    ticks: Sequence[float], left: float, plot_top: float, plot_h: float, width: float, fmt: Callable
) -> list[str]:
    out = []
    top = ticks[-1]
    for value in ticks:
        y = plot_top + plot_h - plot_h * value / top
        out.append(
            f'<line x1="{left:.1f}" x2="{width - 10:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">'
            f"{escape(fmt(value))}</text>"
        )
    return out


def _x_labels(labels: Sequence[str], left: float, step: float, y: float) -> list[str]:
    # Show at most about 16 labels so that they never overlap.
    every = max(1, -(-len(labels) // 16))
    out = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = left + step * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="{AXIS}">'
            f"{escape(label)}</text>"
        )
    return out


# The plot area of the charts over labels: margins above, right and below (the left one varies).
PLOT_TOP, RIGHT, BOTTOM = 30.0, 10.0, 28.0


def _frame(
    labels: Sequence[str],
    series: Sequence[Series],
    ticks: Sequence[float],
    *,
    left: float,
    width: int,
    height: int,
    fmt: Callable,
) -> tuple[float, float, list[str]]:
    """The plot's height, the width per label, and the body with the legend and y axis."""
    plot_h = height - PLOT_TOP - BOTTOM
    step = (width - left - RIGHT) / max(len(labels), 1)
    body = _legend(series, left, 14)
    body += _y_axis(ticks, left, PLOT_TOP, plot_h, width, fmt)
    return plot_h, step, body


def _bar(x: float, y: float, width: float, height: float, colour: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{colour}"><title>{escape(title)}</title></rect>'
    )


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str = "",
    width: int = 760,
    height: int = 280,
) -> SafeString:
    """One bar per label, each series stacked on the previous one."""
    left = 48.0
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    ticks = _ticks(max(totals, default=0))
    top = ticks[-1]
    plot_h, step, body = _frame(
        labels, series, ticks, left=left, width=width, height=height, fmt=_number
    )
    bar_w = max(step * 0.7, 1.0)
    for i, label in enumerate(labels):
        y = PLOT_TOP + plot_h
        x = left + step * i + (step - bar_w) / 2
        for s in series:
            value = s.values[i] or 0
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            body.append(_bar(x, y, bar_w, h, s.colour, f"{label} · {s.label}: {_number(value)}"))
    body += _x_labels(labels, left, step, height - 10)
    return _svg(width, height, title, desc, body)


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str = "",
    fmt: Callable[[float], str] = _number,
    steps: Sequence[float] | None = None,
    width: int = 760,
    height: int = 260,
) -> SafeString:
    """Bars side by side per label (e.g. p50 and p90 per queue); None draws no bar."""
    left = 56.0
    values = [v for s in series for v in s.values if v is not None]
    ticks = _ticks(max(values, default=0), steps)
    top = ticks[-1]
    plot_h, step, body = _frame(
        labels, series, ticks, left=left, width=width, height=height, fmt=fmt
    )
    bar_w = step * 0.8 / max(len(series), 1)
    for i, label in enumerate(labels):
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            h = plot_h * max(value, 0) / top
            x = left + step * i + step * 0.1 + bar_w * j
            y = PLOT_TOP + plot_h - h
            body.append(_bar(x, y, bar_w, h, s.colour, f"{label} · {s.label}: {fmt(value)}"))
    body += _x_labels(labels, left, step, height - 10)
    return _svg(width, height, title, desc, body)


def horizontal_bars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    desc: str = "",
    colour: str = PALETTE[0],
    width: int = 370,
) -> SafeString:
    """One labelled bar per item, largest first as given: for breakdowns by topic, rule..."""
    row, label_w, plot_top = 22.0, 150.0, 6.0
    height = int(plot_top * 2 + row * max(len(items), 1))
    top = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - 60
    body = []
    for i, (label, value) in enumerate(items):
        y = plot_top + row * i
        w = plot_w * value / top
        short = label if len(label) <= 22 else label[:21] + "…"
        body.append(
            f'<text x="{label_w - 6:.1f}" y="{y + 15:.1f}" text-anchor="end">{escape(short)}'
            f"<title>{escape(label)}</title></text>"
        )
        body.append(
            f'<rect x="{label_w:.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="{row - 8:.1f}" '
            f'fill="{colour}"/>'
        )
        body.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15:.1f}" fill="{AXIS}">'
            f"{_number(value)}</text>"
        )
    return _svg(width, height, title, desc, body)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str = "",
    fmt: Callable[[float], str] = _number,
    top: float | None = None,
    width: int = 760,
    height: int = 220,
) -> SafeString:
    """A line per series; a None value breaks the line (no data that day)."""
    left = 48.0
    values = [v for s in series for v in s.values if v is not None]
    ticks = _ticks(top if top is not None else max(values, default=0))
    top = ticks[-1]
    plot_h, step, body = _frame(
        labels, series, ticks, left=left, width=width, height=height, fmt=fmt
    )
    for s in series:
        segments: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                segments.append([])
                continue
            x = left + step * (i + 0.5)
            y = PLOT_TOP + plot_h - plot_h * min(value, top) / top
            segments[-1].append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s.colour}">'
                f"<title>{escape(labels[i])} · {escape(s.label)}: {escape(fmt(value))}</title>"
                "</circle>"
            )
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline fill="none" stroke="{s.colour}" stroke-width="2" '
                    f'points="{" ".join(points)}"/>'
                )
    body += _x_labels(labels, left, step, height - 10)
    return _svg(width, height, title, desc, body)
