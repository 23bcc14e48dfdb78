"""A small, dependency-free SVG line plot: panels side by side, each with axes,
ticks (linear or log), labelled series, horizontal reference lines, labelled points
and a legend.

Benchmarks use it to draw their results without matplotlib, which gradc does not
depend on. Example:

    svg = figure([Panel("memory", "snapshots s", "MB",
                        series=[Series("Revolve(s)", [2, 4, 8], [5, 7, 11])],
                        hlines=[HLine("store-all", 401)], ylog=True)],
                 title="checkpointing")
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
FONT = "font-family='Helvetica, Arial, sans-serif'"


@dataclass
class Series:
    """A line through (xs[i], ys[i]) with a marker on each point."""
    label: str
    xs: list
    ys: list
    color: str | None = None


@dataclass
class HLine:
    """A dashed horizontal reference line across the panel (e.g. a baseline's value),
    labelled at its left end and in the legend."""
    label: str
    y: float
    color: str | None = None


@dataclass
class Point:
    """One marked point, named in the legend (a result that is not part of a sweep)."""
    label: str
    x: float
    y: float
    color: str | None = None


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list = field(default_factory=list)
    hlines: list = field(default_factory=list)
    points: list = field(default_factory=list)
    xlog: bool = False
    ylog: bool = False


# -- scales and ticks ----------------------------------------------------------------

def nice_ticks(lo: float, hi: float, target: int = 6) -> list:
    """Round linear ticks (1-2-5 steps) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, target - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(k * mag for k in (1, 2, 2.5, 5, 10) if k * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo: float, hi: float) -> list:
    """Ticks at 1, 2, 5 x 10^k covering [lo, hi] (only decades when the range is wide)."""
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1,) if hi_e - lo_e > 4 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(lo_e, hi_e + 1) for m in mults]
    inside = [t for t in ticks if lo <= t <= hi]
    below = [t for t in ticks if t < lo]
    above = [t for t in ticks if t > hi]
    return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])


def fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:.10g}"


class Scale:
    """Maps data values in [lo, hi] onto pixels [p0, p1], linearly or logarithmically."""

    def __init__(self, lo, hi, p0, p1, log=False):
        self.log, self.p0, self.p1 = log, p0, p1
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)

    def __call__(self, v: float) -> float:
        v = math.log10(v) if self.log else v
        return self.p0 + (v - self.lo) / ((self.hi - self.lo) or 1.0) * (self.p1 - self.p0)


def axis_range(values: list, log: bool) -> tuple:
    """(ticks, lo, hi): ticks that cover the values, and the span they define."""
    values = [v for v in values if v is not None and (v > 0 or not log)]
    lo, hi = min(values), max(values)
    if log:
        ticks = log_ticks(lo, hi)
    else:
        ticks = nice_ticks(min(lo, 0.0) if lo >= 0 and lo < 0.25 * hi else lo, hi)
    return ticks, ticks[0], ticks[-1]


# -- drawing ---------------------------------------------------------------------------

def _text(x, y, s, size=12, anchor="middle", extra=""):
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' {FONT} "
            f"{extra}>{escape(str(s))}</text>")


def _colors(panel: Panel) -> list:
    """Every drawn item with its colour: the palette in order where none is given."""
    items = [*panel.series, *panel.hlines, *panel.points]
    return [(it, it.color or PALETTE[i % len(PALETTE)]) for i, it in enumerate(items)]


def draw_panel(panel: Panel, x0: float, y0: float, w: float, h: float) -> list:
    """SVG elements of one panel whose outer box is (x0, y0, w, h)."""
    left, right, top, legend_h = 64, 16, 28, 18 * (len(_colors(panel)))
    bottom = 46 + legend_h
    px0, px1, py0, py1 = x0 + left, x0 + w - right, y0 + h - bottom, y0 + top
    xs = [x for s in panel.series for x in s.xs] + [p.x for p in panel.points]
    ys = ([y for s in panel.series for y in s.ys] + [l.y for l in panel.hlines]
          + [p.y for p in panel.points])
    xticks, xlo, xhi = axis_range(xs, panel.xlog)
    yticks, ylo, yhi = axis_range(ys, panel.ylog)
    sx, sy = Scale(xlo, xhi, px0, px1, panel.xlog), Scale(ylo, yhi, py0, py1, panel.ylog)

    out = [_text((px0 + px1) / 2, y0 + 16, panel.title, 14, extra="font-weight='bold'"),
           f"<rect x='{px0:.1f}' y='{py1:.1f}' width='{px1 - px0:.1f}' height='{py0 - py1:.1f}' "
           "fill='none' stroke='#333'/>"]
    for t in xticks:
        X = sx(t)
        out.append(f"<line x1='{X:.1f}' y1='{py1:.1f}' x2='{X:.1f}' y2='{py0:.1f}' stroke='#e5e5e5'/>")
        out.append(_text(X, py0 + 15, fmt_tick(t), 11))
    for t in yticks:
        Y = sy(t)
        out.append(f"<line x1='{px0:.1f}' y1='{Y:.1f}' x2='{px1:.1f}' y2='{Y:.1f}' stroke='#e5e5e5'/>")
        out.append(_text(px0 - 6, Y + 4, fmt_tick(t), 11, anchor="end"))
    out.append(_text((px0 + px1) / 2, py0 + 33, panel.xlabel, 12))
    yl = ((py0 + py1) / 2)
    out.append(_text(x0 + 14, yl, panel.ylabel, 12, extra=f"transform='rotate(-90 {x0 + 14:.1f} {yl:.1f})'"))

    legend_y = py0 + 52
    for i, (item, color) in enumerate(_colors(panel)):
        out += _draw_item(item, color, sx, sy, px0, px1)
        out += _legend_entry(item, color, px0, legend_y + 18 * i)
    return out


def _draw_item(item, color, sx, sy, px0, px1) -> list:
    if isinstance(item, Series):
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(item.xs, item.ys))
        return ([f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'/>"]
                + [f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{color}'/>"
                   for x, y in zip(item.xs, item.ys)])
    if isinstance(item, HLine):
        Y = sy(item.y)
        return [f"<line x1='{px0:.1f}' y1='{Y:.1f}' x2='{px1:.1f}' y2='{Y:.1f}' stroke='{color}' "
                "stroke-width='1.5' stroke-dasharray='6 4'/>",
                _text(px0 + 4, Y - 5, item.label, 11, anchor="start", extra=f"fill='{color}'")]
    X, Y = sx(item.x), sy(item.y)  # a point is named in the legend only: labels beside it collide
    return [f"<rect x='{X - 4:.1f}' y='{Y - 4:.1f}' width='8' height='8' fill='{color}'/>"]


def _legend_entry(item, color, x, y) -> list:
    if isinstance(item, Series):
        mark = (f"<line x1='{x:.1f}' y1='{y:.1f}' x2='{x + 24:.1f}' y2='{y:.1f}' stroke='{color}' "
                f"stroke-width='2'/><circle cx='{x + 12:.1f}' cy='{y:.1f}' r='3' fill='{color}'/>")
    elif isinstance(item, HLine):
        mark = (f"<line x1='{x:.1f}' y1='{y:.1f}' x2='{x + 24:.1f}' y2='{y:.1f}' stroke='{color}' "
                "stroke-width='1.5' stroke-dasharray='6 4'/>")
    else:
        mark = f"<rect x='{x + 8:.1f}' y='{y - 4:.1f}' width='8' height='8' fill='{color}'/>"
    return [mark, _text(x + 32, y + 4, item.label, 11, anchor="start")]


def figure(panels: list, title: str = "", panel_width: int = 440, panel_height: int = 400,
           note: str = "") -> str:
    """The whole SVG document: `panels` side by side under `title`, `note` in small print below."""
    head = 30 if title else 0
    foot = 20 if note else 0
    width, height = panel_width * len(panels), panel_height + head + foot
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}'>",
           f"<rect width='{width}' height='{height}' fill='white'/>"]
    if title:
        out.append(_text(width / 2, 20, title, 15, extra="font-weight='bold'"))
    for i, panel in enumerate(panels):
        out += draw_panel(panel, i * panel_width, head, panel_width, panel_height)
    if note:
        out.append(_text(8, height - 6, note, 10, anchor="start", extra="fill='#555'"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
