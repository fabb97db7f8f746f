"""Small charts rendered on the server as SVG: vertical bars, horizontal bars and lines.

Each chart is one `<svg role="img">` with a `<title>` and a `<desc>` (named by
`aria-labelledby`), a white background of its own, and a `viewBox` only (no fixed size), so it
scales to the width of its box (390 px phones included). Every text is XML-escaped; there is no
script. Colours (on the white background): text #1a1a1a (17:1), axes #595959 (7:1), series
#1d4f91 (8.1:1), #b04a00 (5.5:1), #2f6b2f (6.4:1): bars and lines pass 3:1, text 4.5:1.
Series differ in more than colour (line dash and point shape), and the data always comes as a
table beside the chart.

Values are integers (counts, or base units with `step` 100 so the ticks fall on whole HEIT);
`label` turns a value into the text shown on the axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count

from markupsafe import Markup, escape

BACKGROUND = "#ffffff"
TEXT = "#1a1a1a"
AXIS = "#595959"
GRID = "#d0d0d0"
SERIES = (
    ("#1d4f91", "", "circle"),
    ("#b04a00", "6 4", "square"),
    ("#2f6b2f", "2 3", "triangle"),
)
"""(colour, stroke-dasharray, point shape) of the first, second and third series."""

WIDTH = 400
FONT = 13
SMALL_FONT = 11
"""The months under the x axis."""
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 34

_ids = count(1)


def _e(text: object) -> str:
    return str(escape(str(text)))


def nice_ticks(top: int, step_min: int = 1, parts: int = 4) -> list[int]:
    """Tick values from 0 up to at least `top`, about `parts` steps of a 1-2-5 multiple of
    `step_min` (integers: a count never gets a tick at 2.5)."""
    top = max(top, step_min)
    step = step_min
    while step * parts < top:
        for factor in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10 (times step_min's power of ten)
            step = int(step * factor)
            if step * parts >= top:
                break
    last = -(-top // step) * step
    return list(range(0, last + 1, step))


def _open(title: str, desc: str, height: int) -> tuple[str, list[str]]:
    uid = f"chart{next(_ids)}"
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heitje-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-family="inherit" font-size="{FONT}">',
        f'<title id="{uid}-title">{_e(title)}</title>',
        f'<desc id="{uid}-desc">{_e(desc)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="{BACKGROUND}"/>',
    ]
    return uid, head


def _y_axis(ticks: list[int], label: Callable[[int], str], height: int) -> list[str]:
    plot_h = height - TOP - BOTTOM
    out = []
    for t in ticks:
        y = TOP + plot_h - plot_h * t / ticks[-1]
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID if t else AXIS}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{_e(label(t))}</text>"
        )
    return out


def _x_labels(labels: Sequence[str], height: int) -> list[str]:
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    widest = max((len(text) for text in labels), default=1) * SMALL_FONT * 0.6
    every = 1 if slot >= widest + 3 else 2  # thin out what would touch its neighbour
    out = []
    for i, text in enumerate(labels):
        if i % every:
            continue
        x = LEFT + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="{SMALL_FONT}" fill="{TEXT}">{_e(text)}</text>'
        )
    return out


def bar_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[int],
    label: Callable[[int], str] = str,
    step: int = 1,
    height: int = 240,
) -> Markup:
    """Vertical bars, one per label (e.g. a month), on a 0-based axis."""
    _, out = _open(title, desc, height)
    ticks = nice_ticks(max(values, default=0), step)
    out += _y_axis(ticks, label, height)
    plot_h = height - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    colour = SERIES[0][0]
    for i, value in enumerate(values):
        h = plot_h * value / ticks[-1]
        x = LEFT + slot * i + slot * 0.15
        out.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{colour}"/>'
        )
    out += _x_labels(labels, height)
    out.append("</svg>")
    return Markup("\n".join(out))


def hbar_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[int],
    label: Callable[[int], str] = str,
    step: int = 1,
) -> Markup:
    """Horizontal bars (long names, e.g. neighbourhoods): the name above its bar, the value
    at its end."""
    row = 34
    height = TOP + row * max(1, len(labels)) + 8
    _, out = _open(title, desc, height)
    top = nice_ticks(max(values, default=0), step)[-1]
    widest = max((len(label(v)) for v in values), default=1)
    width = WIDTH - 16 - 8 - int(widest * FONT * 0.62)  # room for the value after the bar
    colour = SERIES[0][0]
    for i, (name, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        w = width * value / top
        out.append(f'<text x="8" y="{y + 10}" fill="{TEXT}">{_e(name)}</text>')
        out.append(
            f'<rect x="8" y="{y + 14}" width="{w:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{8 + w + 6:.1f}" y="{y + 26}" fill="{TEXT}">{_e(label(value))}</text>'
        )
    out.append("</svg>")
    return Markup("\n".join(out))


def line_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int | None]]],
    label: Callable[[int], str] = str,
    step: int = 1,
    height: int = 260,
) -> Markup:
    """Lines, one per (name, values) series (at most three; None: no value, the line breaks),
    with a legend above the plot naming each with its colour, dash and point shape."""
    if not 1 <= len(series) <= len(SERIES):
        raise ValueError(f"1 to {len(SERIES)} series")
    legend_h = 20 * len(series)
    _, out = _open(title, desc, height + legend_h)
    for k, (name, _) in enumerate(series):
        colour, dash, shape = SERIES[k]
        y = 12 + 20 * k
        out.append(
            f'<line x1="8" y1="{y}" x2="36" y2="{y}" stroke="{colour}" stroke-width="3" '
            f'stroke-dasharray="{dash}"/>' + _point(shape, 22, y, colour)
        )
        out.append(f'<text x="44" y="{y + 4}" fill="{TEXT}">{_e(name)}</text>')
    out.append(f'<g transform="translate(0 {legend_h})">')
    top = max((v for _, vs in series for v in vs if v is not None), default=0)
    ticks = nice_ticks(top, step)
    out += _y_axis(ticks, label, height)
    plot_h = height - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for k, (_, values) in enumerate(series):
        colour, dash, shape = SERIES[k]
        points: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                points.append([])
                continue
            points[-1].append((LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * value / ticks[-1]))
        for run in points:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5" stroke-dasharray="{dash}"/>'
                )
            out += [_point(shape, x, y, colour) for x, y in run]
    out += _x_labels(labels, height)
    out.append("</g></svg>")
    return Markup("\n".join(out))


def _point(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "triangle":
        corners = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}"
        return f'<polygon points="{corners}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
