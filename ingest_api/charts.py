"""Server-rendered SVG charts for the dashboard: line and grouped bar charts with axes, tick labels, a legend and
a <title> per point (the browser shows it on hover). Every text is escaped; the SVG uses presentation attributes
only, so the page's Content-Security-Policy needs no inline style."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Colour-blind-safe (Okabe-Ito), in the order series get them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Sized for a panel a phone or a third of a laptop screen wide, so that text shows at about its own size.
WIDTH, HEIGHT = 480, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 24, 28, 44
MAX_X_LABELS = 6
Y_TICKS = 4


@dataclass(frozen=True)
class Series:
    """One named line or set of bars; None where there is no value (a gap, not a zero)."""

    name: str
    values: Sequence[float | None]


def format_number(value: float) -> str:
    """1234567 -> 1,234,567; 0.1234 -> 0.123; 12.5 -> 12.5."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def nice_ticks(top: float, count: int = Y_TICKS) -> list[float]:
    """0 and count ticks up to at least `top`, at a step of 1, 2 or 5 times a power of ten."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    rough = top / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    steps = math.ceil(top / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def _label_every(labels: Sequence[str]) -> int:
    return max(1, math.ceil(len(labels) / MAX_X_LABELS))


def _svg_open(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]


def _y_axis(ticks: list[float], scale, width: int, y_label: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#d0d7de" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">'
                     f"{escape(format_number(tick))}</text>")
    if y_label:
        parts.append(f'<text x="{MARGIN_LEFT}" y="{MARGIN_TOP - 12}" fill="#57606a">{escape(y_label)}</text>')
    return parts


def _shortened(label: str, room: float) -> str:
    """The label cut to the characters `room` pixels hold (about 6.5 each), with an ellipsis when cut; the full
    label stays in each point's <title>."""
    fits = max(3, int(room / 6.5))
    return label if len(label) <= fits else label[:fits - 1] + "…"


def _x_labels(labels: Sequence[str], x_of, height: int, room: float) -> list[str]:
    every = _label_every(labels)
    y = height - MARGIN_BOTTOM + 16
    return [f'<text x="{x_of(i):.1f}" y="{y}" text-anchor="middle" fill="#57606a">'
            f"{escape(_shortened(label, room * every))}</text>"
            for i, label in enumerate(labels) if i % every == 0]


def _legend(series: Sequence[Series], width: int, height: int) -> list[str]:
    if len(series) < 2:
        return []
    parts, x, y = [], MARGIN_LEFT, height - 8
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" fill="#24292f">{escape(one.name)}</text>')
        x += 24 + 7 * len(one.name)
        if x > width - 60:
            break
    return parts


def _empty(title: str, width: int, height: int, message: str) -> Markup:
    return Markup("".join([
        *_svg_open(title, width, height),
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#57606a">{escape(message)}</text>',
        "</svg>",
    ]))


def _top(series: Sequence[Series]) -> float:
    return max((v for one in series for v in one.values if v is not None), default=0.0)


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, y_label: str = "",
               width: int = WIDTH, height: int = HEIGHT, empty: str = "No data yet") -> Markup:
    """One line per series over the x labels (equally spaced), a dot with its <title> per value."""
    if not labels or all(v is None for one in series for v in one.values):
        return _empty(title, width, height, empty)
    ticks = nice_ticks(_top(series))
    plot_w, plot_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM

    def x_of(i: int) -> float:
        return MARGIN_LEFT + (plot_w * i / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - value / ticks[-1])

    room = plot_w / max(1, len(labels) - 1)
    parts = [*_svg_open(title, width, height), *_y_axis(ticks, y_of, width, y_label),
             *_x_labels(labels, x_of, height, room)]
    dot = 3 if len(labels) <= 24 else 2  # smaller dots where they would touch, still a target for hover
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = [(x_of(i), y_of(v), labels[i], v) for i, v in enumerate(one.values) if v is not None]
        for segment in _segments(one.values):
            path = " ".join(f"{x_of(i):.1f},{y_of(one.values[i]):.1f}" for i in segment)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, label, value in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{dot}" fill="{colour}">'
                         f"<title>{escape(one.name)} · {escape(label)}: {escape(format_number(value))}</title>"
                         "</circle>")
    parts += [*_legend(series, width, height), "</svg>"]
    return Markup("".join(parts))


def _segments(values: Sequence[float | None]) -> list[list[int]]:
    """The runs of consecutive indexes with a value: a None breaks the line."""
    runs: list[list[int]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(i)
    return [run for run in runs if run]


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, y_label: str = "",
              width: int = WIDTH, height: int = HEIGHT, empty: str = "No data yet") -> Markup:
    """Grouped bars: one group per label, one bar per series in it, each with its <title>."""
    if not labels or all(v is None for one in series for v in one.values):
        return _empty(title, width, height, empty)
    ticks = nice_ticks(_top(series))
    plot_w, plot_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    group_w = plot_w / len(labels)
    bar_w = group_w * 0.8 / max(1, len(series))

    def x_of(i: int) -> float:
        return MARGIN_LEFT + group_w * (i + 0.5)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - value / ticks[-1])

    parts = [*_svg_open(title, width, height), *_y_axis(ticks, y_of, width, y_label),
             *_x_labels(labels, x_of, height, group_w)]
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for i, value in enumerate(one.values):
            if value is None:
                continue
            x = MARGIN_LEFT + group_w * (i + 0.1) + bar_w * index
            y = y_of(max(value, 0))
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{y_of(0) - y:.1f}" '
                         f'fill="{colour}"><title>{escape(one.name)} · {escape(labels[i])}: '
                         f"{escape(format_number(value))}</title></rect>")
    parts.append(f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{y_of(0):.1f}" y2="{y_of(0):.1f}" '
                 'stroke="#57606a" stroke-width="1"/>')
    parts += [*_legend(series, width, height), "</svg>"]
    return Markup("".join(parts))
