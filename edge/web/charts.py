"""Small server-side SVG charts: line (and step) charts and bar charts.

Pure functions from numbers to an SVG string. No scripts, no fonts to fetch,
no external assets, so a page that embeds them works offline and costs the
board nothing but string building. Every chart carries a title, axis labels
with units, and a ``<title>`` tooltip on each point so a person can read exact
values by hovering.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40


@dataclass(frozen=True)
class Series:
    """One named line: x values (numbers, e.g. epoch ms or an index) and y values."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    step: bool = False


@dataclass(frozen=True)
class Axis:
    label: str
    unit: str = ""
    ticks: Sequence[tuple[float, str]] = field(default_factory=tuple)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def fmt(v: float) -> str:
    """A short human label: 1.2k, 3.4M, 0.25."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a == int(a):
        return str(int(v))
    return f"{v:.3g}"


def _frame(title: str, x: Axis, y: Axis, y_ticks: list[float], sy, body: str,
           legend: list[tuple[str, str]]) -> str:
    t = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {W} {H}" '
             f'font-family="sans-serif" width="100%" role="img" aria-label="{t(title)}">',
             f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{t(title)}</text>']
    for v in y_ticks:
        yy = sy(v)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
                     f'stroke="#ddd"/><text x="{LEFT - 4}" y="{yy + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{t(fmt(v))}</text>')
    for xx, lab in x.ticks:
        parts.append(f'<text x="{xx:.1f}" y="{H - BOTTOM + 14}" font-size="10" '
                     f'text-anchor="middle">{t(lab)}</text>')
    ylab = f"{y.label} ({y.unit})" if y.unit else y.label
    xlab = f"{x.label} ({x.unit})" if x.unit else x.label
    parts.append(f'<text x="12" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" font-size="11" '
                 f'transform="rotate(-90 12 {TOP + (H - TOP - BOTTOM) / 2:.0f})" '
                 f'text-anchor="middle">{t(ylab)}</text>')
    parts.append(f'<text x="{LEFT + (W - LEFT - RIGHT) / 2:.0f}" y="{H - 6}" font-size="11" '
                 f'text-anchor="middle">{t(xlab)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" '
                 f'height="{H - TOP - BOTTOM}" fill="none" stroke="#999"/>')
    parts.append(body)
    lx = W - RIGHT - 4
    for i, (name, colour) in enumerate(legend[:8]):
        ly = TOP + 12 + 13 * i
        parts.append(f'<text x="{lx}" y="{ly}" font-size="10" text-anchor="end" '
                     f'fill="{colour}">{t(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def empty_chart(title: str, why: str = "no data yet") -> str:
    t = html.escape
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart empty" viewBox="0 0 {W} 60" '
            f'width="100%" role="img" aria-label="{t(title)}">'
            f'<text x="8" y="18" font-size="13" font-weight="bold">{t(title)}</text>'
            f'<text x="8" y="42" font-size="12" fill="#777">{t(why)}</text></svg>')


def line_chart(title: str, series: Sequence[Series], x: Axis, y: Axis,
               x_labels: dict[float, str] | None = None) -> str:
    """Lines (or steps) over a shared numeric x axis; x_labels maps x values to tick labels."""
    pts = [(a, b) for s in series for a, b in zip(s.xs, s.ys, strict=True)
           if math.isfinite(a) and math.isfinite(b)]
    if not pts:
        return empty_chart(title)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y_ticks = nice_ticks(min(0.0, min(p[1] for p in pts)), max(p[1] for p in pts))
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1
    span_x = (x1 - x0) or 1.0

    def sx(v: float) -> float:
        return LEFT + (v - x0) / span_x * (W - LEFT - RIGHT)

    def sy(v: float) -> float:
        return H - BOTTOM - (v - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    if x_labels:
        keys = sorted(x_labels)
        every = max(1, len(keys) // 6)
        ticks = [(sx(k), x_labels[k]) for k in keys[::every]]
    else:
        ticks = [(sx(v), fmt(v)) for v in nice_ticks(x0, x1) if x0 <= v <= x1]
    body, legend = [], []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        xy = [(a, b) for a, b in zip(s.xs, s.ys, strict=True)
              if math.isfinite(a) and math.isfinite(b)]
        if not xy:
            continue
        legend.append((s.name, colour))
        d, prev = [], None
        for a, b in xy:
            if prev is None:
                d.append(f"M{sx(a):.1f},{sy(b):.1f}")
            elif s.step:
                d.append(f"H{sx(a):.1f}V{sy(b):.1f}")
            else:
                d.append(f"L{sx(a):.1f},{sy(b):.1f}")
            prev = (a, b)
        body.append(f'<path class="series" d="{"".join(d)}" fill="none" stroke="{colour}" '
                    f'stroke-width="1.6"/>')
        if len(xy) <= 200:
            for a, b in xy:
                lab = html.escape(f"{s.name}: {fmt(b)} {y.unit} at "
                                  f"{(x_labels or {}).get(a, fmt(a))}")
                body.append(f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="2" fill="{colour}">'
                            f"<title>{lab}</title></circle>")
    return _frame(title, Axis(x.label, x.unit, ticks), y, y_ticks, sy, "".join(body),
                  legend if len(series) > 1 else [])


def bar_chart(title: str, bars: Sequence[tuple[str, float]], y: Axis,
              x: Axis | None = None) -> str:
    """One bar per label (e.g. rejections by reason)."""
    bars = [(k, v) for k, v in bars if math.isfinite(v)]
    if not bars:
        return empty_chart(title, "nothing to show")
    y_ticks = nice_ticks(min(0.0, min(v for _, v in bars)), max(v for _, v in bars))
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1

    def sy(v: float) -> float:
        return H - BOTTOM - (v - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    slot = (W - LEFT - RIGHT) / len(bars)
    body, ticks = [], []
    for i, (k, v) in enumerate(bars):
        cx = LEFT + slot * (i + 0.5)
        top, base = sy(max(v, 0)), sy(min(v, 0))
        body.append(f'<rect class="bar" x="{cx - slot * 0.35:.1f}" y="{top:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{max(base - top, 0.5):.1f}" '
                    f'fill="{PALETTE[i % len(PALETTE)]}"><title>{html.escape(k)}: '
                    f"{html.escape(fmt(v))} {html.escape(y.unit)}</title></rect>")
        ticks.append((cx, k if len(k) <= 14 else k[:13] + "…"))
    return _frame(title, Axis(x.label if x else "", x.unit if x else "", ticks), y, y_ticks,
                  sy, "".join(body), [])


def heatmap(title: str, rows: Sequence[str], cols: Sequence[str],
            values: Sequence[Sequence[float]], unit: str, x_label: str = "",
            y_label: str = "") -> str:
    """A grid of coloured cells (rows x cols), white = lowest, dark red = highest.

    For space-time maps: buses x intervals of carbon intensity, entities x hours of an
    allocation. Each cell's exact value is in its tooltip.
    """
    cells = [v for row in values for v in row if math.isfinite(v)]
    if not rows or not cols or not cells:
        return empty_chart(title)
    lo, hi = min(cells), max(cells)
    span = (hi - lo) or 1.0
    t = html.escape
    left, top = 90, 28
    cw = (W - left - RIGHT) / len(cols)
    ch = min(14.0, max(3.0, 300 / len(rows)))
    height = top + ch * len(rows) + 44
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" '
             f'viewBox="0 0 {W} {height:.0f}" font-family="sans-serif" width="100%" role="img" '
             f'aria-label="{t(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{t(title)}</text>']
    for i, (name, row) in enumerate(zip(rows, values, strict=True)):
        y = top + ch * i
        if len(rows) <= 40 or i % max(1, len(rows) // 40) == 0:
            parts.append(f'<text x="{left - 4}" y="{y + ch * 0.8:.1f}" font-size="9" '
                         f'text-anchor="end">{t(name)}</text>')
        for j, v in enumerate(row):
            if not math.isfinite(v):
                continue
            f = (v - lo) / span
            r, g, b = 255, int(255 * (1 - 0.85 * f)), int(255 * (1 - f))
            parts.append(f'<rect class="cell" x="{left + cw * j:.1f}" y="{y:.1f}" '
                         f'width="{cw + 0.3:.1f}" height="{ch + 0.3:.1f}" '
                         f'fill="rgb({r},{g},{b})"><title>{t(name)}, {t(cols[j])}: '
                         f"{t(fmt(v))} {t(unit)}</title></rect>")
    every = max(1, len(cols) // 8)
    base = top + ch * len(rows)
    for j in range(0, len(cols), every):
        parts.append(f'<text x="{left + cw * (j + 0.5):.1f}" y="{base + 12:.1f}" font-size="9" '
                     f'text-anchor="middle">{t(cols[j])}</text>')
    parts.append(f'<text x="{left}" y="{base + 30:.1f}" font-size="10">{t(x_label)}  '
                 f'(white {t(fmt(lo))} to red {t(fmt(hi))} {t(unit)})</text>')
    if y_label:
        parts.append(f'<text x="4" y="{top - 4}" font-size="10">{t(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
