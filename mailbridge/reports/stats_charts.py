"""Inline SVG charts for the HTML report: a line chart of series over buckets and a bar chart of counts.

Pure: values in, SVG markup out (every label escaped). No external assets and no script, so the page that
embeds them is one self-contained file. Called by `reports.stats_html`.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

COLORS = ("#2f6fad", "#d9822b", "#3f9142", "#8e44ad")
# A narrow drawing scales up on a desk and stays readable on a phone (about 0.8 of its size at 390 px).
WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 38, 32
MAX_X_LABELS = 6
MAX_VALUE_LABELS = 12  # more points than this: values in the tooltips and the table below the chart


def nice_ceiling(value: float) -> float:
    """Round a chart's top value up to 1, 2, 2.5 or 5 times a power of ten (1 for nothing to show)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if value <= m * power)


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0") if value < 100 else f"{value:.0f}"


def _frame(top_value: float, unit: str) -> list[str]:
    plot_bottom = HEIGHT - BOTTOM
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="xMidYMid meet" '
        f'font-size="13" font-family="system-ui,sans-serif">'
    ]
    for fraction in (0, 0.5, 1):
        y = plot_bottom - (plot_bottom - TOP) * fraction
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d9e2ec"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#52606d">'
            f"{_number(top_value * fraction)}</text>"
        )
    parts.append(
        f'<text x="12" y="{(TOP + plot_bottom) / 2:.0f}" transform="rotate(-90 12 {(TOP + plot_bottom) / 2:.0f})" '
        f'text-anchor="middle" fill="#52606d">{escape(unit)}</text>'
    )
    return parts


def _x(index: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (index + 0.5) / max(count, 1)


def _y(value: float, top_value: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * value / top_value


def _x_labels(labels: list[str]) -> list[str]:
    step = max(math.ceil(len(labels) / MAX_X_LABELS), 1)
    return [
        f'<text class="xlabel" x="{_x(i, len(labels)):.1f}" y="{HEIGHT - BOTTOM + 19}" text-anchor="middle" '
        f'fill="#52606d">{escape(labels[i])}</text>'
        for i in range(0, len(labels), step)
    ]


def svg_lines(labels: list[str], series: list[tuple[str, list[float | None]]], unit: str) -> Markup:
    """A line chart of named series over labelled buckets; a None value leaves a gap in its line."""
    known = [v for _, values in series for v in values if v is not None]
    top_value = nice_ceiling(max(known, default=0))
    parts = _frame(top_value, unit)
    for k, (name, values) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        parts.append(f'<rect x="{LEFT + k * 130}" y="6" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{LEFT + k * 130 + 17}" y="17">{escape(name)}</text>')
        parts.append(_path(values, top_value, color))
        for i, value in enumerate(values):
            if value is None:
                continue
            x, y = _x(i, len(values)), _y(value, top_value)
            parts.append(
                f'<circle class="point" data-series="{escape(name)}" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                f'fill="{color}"><title>{escape(labels[i])}: {_number(value)} {escape(unit)}</title></circle>'
            )
            if value and len(values) <= MAX_VALUE_LABELS:
                parts.append(
                    f'<text class="value" x="{x:.1f}" y="{y - 7:.1f}" text-anchor="middle" fill="{color}">'
                    f"{_number(value)}</text>"
                )
    parts += _x_labels(labels)
    parts.append("</svg>")
    return Markup("".join(parts))


def _path(values: list[float | None], top_value: float, color: str) -> str:
    commands: list[str] = []
    pen_down = False
    for i, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{_x(i, len(values)):.1f} {_y(value, top_value):.1f}")
        pen_down = True
    return f'<path d="{" ".join(commands)}" fill="none" stroke="{color}" stroke-width="2"/>' if commands else ""


def svg_bars(counts: dict[str, int], unit: str) -> Markup:
    """A bar chart of counts, each bar labelled below and its value above."""
    top_value = nice_ceiling(max(counts.values(), default=0))
    parts = _frame(top_value, unit)
    slot = (WIDTH - LEFT - RIGHT) / max(len(counts), 1)
    for i, (label, value) in enumerate(counts.items()):
        x, y = _x(i, len(counts)), _y(value, top_value)
        parts.append(
            f'<rect class="bar" x="{x - slot * 0.35:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLORS[0]}"><title>{escape(label)}: {value}</title></rect>'
        )
        parts.append(f'<text class="value" x="{x:.1f}" y="{y - 5:.1f}" text-anchor="middle">{value}</text>')
    parts += _x_labels(list(counts))
    parts.append("</svg>")
    return Markup("".join(parts))
