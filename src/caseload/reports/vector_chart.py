"""Score-over-sessions charts drawn straight into a PDF with fpdf2's vector primitives.

Why not Altair + vl-convert here: on the 2-core reference machine vl-convert needs 0.5-2 s to start and
0.3-0.8 s per chart of this kind, which alone would break the report targets (summary < 2 s, 30-client
packet < 20 s). Drawn as vectors, a chart costs milliseconds, prints sharp at any size, keeps the PDF small,
and its words are real text (so tests can check them). The elements are the ones charts.py draws for the
dashboard (scores, clinical cutoff, reliable-change band around the intake, expected band with median,
alert markers); the words on them come from the caller, so the client summary can speak plainly.
Greys and dash patterns only: every element stays distinct on a black-and-white printer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from caseload.reports import pdf as P

BLACK = (0, 0, 0)
DARK = (60, 60, 60)
MID = (120, 120, 120)
GRID = (225, 225, 225)
BAND_FILL = (200, 200, 200)
RC_FILL = (238, 238, 238)


@dataclass(frozen=True)
class BandPoint:
    """The expected range at one session: low and high edges, optional middle."""

    session: int
    low: float
    high: float
    mid: float | None = None


@dataclass(frozen=True)
class ScoreChart:
    """What one chart shows. ``label_values`` prints each score above its point (the client summary does)."""

    sessions: Sequence[int]
    scores: Sequence[float]
    y_min: float
    y_max: float
    y_title: str
    decimals: int = 0
    x_max: int | None = None
    title: str = ""
    subtitle: str = ""
    cutoff: float | None = None
    cutoff_label: str = ""
    band: Sequence[BandPoint] = ()
    rc_band: tuple[float, float] | None = None
    rc_label: str = ""
    marks: Sequence[int] = ()  # sessions with an alert (a triangle above the point)
    label_values: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def nice_step(span: float, max_ticks: int = 8) -> float:
    """A round tick step (1, 2, 2.5, 5 x 10^k) giving at most ``max_ticks`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def draw_score_chart(
    pdf: Any, x: float, y: float, w: float, h: float, chart: ScoreChart, font_size: float = 7
) -> None:
    """Draw ``chart`` in the box (x, y, w, h) in mm: title lines, axes with ticks, then the layers."""
    top = y
    if chart.title:
        pdf.set_font(P.FONT, "B", font_size + 1.5)
        pdf.set_xy(x, top)
        pdf.cell(w, (font_size + 1.5) * 0.45, chart.title)
        top += (font_size + 1.5) * 0.45 + 0.6
    if chart.subtitle:
        pdf.set_font(P.FONT, "", font_size - 0.5)
        pdf.set_text_color(*DARK)
        pdf.set_xy(x, top)
        pdf.multi_cell(w, (font_size - 0.5) * 0.42, chart.subtitle)
        top = pdf.get_y() + 0.6
        pdf.set_text_color(*P.INK)
    label_h = font_size * 0.42
    left = x + label_h + 1.2 + _tick_label_width(pdf, chart, font_size) + 1.5
    right = x + w - 1.5
    bottom = y + h - 2 * label_h - 1.5
    top += 1.5
    if bottom - top < 10:
        raise ValueError("chart box too small")
    sessions = [int(s) for s in chart.sessions]
    x_lo = min(sessions) if sessions else 1
    x_hi = max([*sessions, chart.x_max or 0, *(b.session for b in chart.band)]) if sessions else 2
    x_hi = max(x_hi, x_lo + 1)

    def px(s: float) -> float:
        return left + (s - x_lo) / (x_hi - x_lo) * (right - left)

    def py(v: float) -> float:
        v = min(max(v, chart.y_min), chart.y_max)
        return bottom - (v - chart.y_min) / (chart.y_max - chart.y_min) * (bottom - top)

    pdf.set_line_width(0.15)
    # Grid and y ticks.
    step = nice_step(chart.y_max - chart.y_min)
    pdf.set_font(P.FONT, "", font_size)
    tick = chart.y_min
    while tick <= chart.y_max + 1e-9:
        pdf.set_draw_color(*GRID)
        pdf.line(left, py(tick), right, py(tick))
        text = _fmt(tick, 1)
        pdf.set_xy(left - 1 - pdf.get_string_width(text), py(tick) - label_h / 2)
        pdf.cell(pdf.get_string_width(text), label_h, text)
        tick += step
    # x ticks: every session up to 20, then a round step.
    x_step = 1 if x_hi - x_lo <= 20 else int(nice_step(x_hi - x_lo, 12))
    for s in range(x_lo, x_hi + 1, x_step):
        text = str(s)
        pdf.set_xy(px(s) - pdf.get_string_width(text) / 2, bottom + 0.6)
        pdf.cell(pdf.get_string_width(text), label_h, text)
    pdf.set_font(P.FONT, "B", font_size)
    title_w = pdf.get_string_width("Session")
    pdf.set_xy((left + right - title_w) / 2, bottom + 0.6 + label_h)
    pdf.cell(title_w, label_h, "Session")
    with pdf.rotation(90, x + label_h, (top + bottom) / 2):
        yt_w = pdf.get_string_width(chart.y_title)
        pdf.set_xy(x + label_h - yt_w / 2, (top + bottom) / 2 - label_h)
        pdf.cell(yt_w, label_h, chart.y_title)

    # Reliable-change band around the intake: light fill, dotted edges.
    if chart.rc_band is not None:
        lo, hi = chart.rc_band
        pdf.set_fill_color(*RC_FILL)
        pdf.rect(left, py(hi), right - left, py(lo) - py(hi), style="F")
        pdf.set_draw_color(*MID)
        pdf.set_dash_pattern(dash=0.4, gap=0.6)
        pdf.line(left, py(lo), right, py(lo))
        pdf.line(left, py(hi), right, py(hi))
        pdf.set_dash_pattern()
        if chart.rc_label:
            _small_label(pdf, left + 1, py(hi) - label_h - 0.2, chart.rc_label, font_size - 1, MID)
    # Expected band: mid-grey fill with thin edges, dotted middle.
    band = sorted(chart.band, key=lambda b: b.session)
    if len(band) >= 2:
        upper = [(px(b.session), py(b.high)) for b in band]
        lower = [(px(b.session), py(b.low)) for b in reversed(band)]
        pdf.set_fill_color(*BAND_FILL)
        pdf.polygon(upper + lower, style="F")
        pdf.set_draw_color(*MID)
        pdf.set_line_width(0.2)
        pdf.polyline(upper)
        pdf.polyline(lower)
        mids = [(px(b.session), py(b.mid)) for b in band if b.mid is not None]
        if len(mids) >= 2:
            pdf.set_dash_pattern(dash=0.5, gap=0.7)
            pdf.set_draw_color(*DARK)
            pdf.polyline(mids)
            pdf.set_dash_pattern()
    # Clinical cutoff: dark dashed line, labelled at the right end.
    if chart.cutoff is not None and chart.y_min <= chart.cutoff <= chart.y_max:
        pdf.set_draw_color(*DARK)
        pdf.set_line_width(0.4)
        pdf.set_dash_pattern(dash=1.6, gap=1.0)
        pdf.line(left, py(chart.cutoff), right, py(chart.cutoff))
        pdf.set_dash_pattern()
        if chart.cutoff_label:
            pdf.set_font(P.FONT, "", font_size - 1)
            lw = pdf.get_string_width(chart.cutoff_label)
            _small_label(
                pdf,
                right - lw - 0.5,
                py(chart.cutoff) - label_h - 0.1,
                chart.cutoff_label,
                font_size - 1,
                DARK,
            )
    # Frame.
    pdf.set_draw_color(*MID)
    pdf.set_line_width(0.2)
    pdf.rect(left, top, right - left, bottom - top)
    # The client's scores: black line, filled dots, values above.
    points = [(px(s), py(v)) for s, v in zip(sessions, chart.scores, strict=True)]
    pdf.set_draw_color(*BLACK)
    pdf.set_fill_color(*BLACK)
    pdf.set_line_width(0.6)
    if len(points) >= 2:
        pdf.polyline(points)
    r = 0.75
    for cx, cy in points:
        pdf.ellipse(cx - r, cy - r, 2 * r, 2 * r, style="F")
    if chart.label_values:
        pdf.set_font(P.FONT, "B", font_size)
        for (cx, cy), value in zip(points, chart.scores, strict=True):
            text = _fmt(value, chart.decimals)
            tw = pdf.get_string_width(text)
            ty = cy - label_h - 1.1 if cy - label_h - 1.1 > top else cy + 1.1
            pdf.set_xy(cx - tw / 2, ty)
            pdf.cell(tw, label_h, text)
    # Alert markers: a downward triangle above the point.
    by_session = dict(zip(sessions, points, strict=True))
    for s in chart.marks:
        if s in by_session:
            cx, cy = by_session[s]
            t = cy - 2.2
            pdf.polygon([(cx - 1.1, t - 1.6), (cx + 1.1, t - 1.6), (cx, t)], style="F")
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*P.RULE)
    pdf.set_text_color(*P.INK)


def _tick_label_width(pdf: Any, chart: ScoreChart, font_size: float) -> float:
    pdf.set_font(P.FONT, "", font_size)
    return max(pdf.get_string_width(_fmt(v, 1)) for v in (chart.y_min, chart.y_max))


def _small_label(pdf: Any, x: float, y: float, text: str, size: float, colour: tuple[int, int, int]) -> None:
    pdf.set_font(P.FONT, "", size)
    pdf.set_text_color(*colour)
    pdf.set_xy(x, y)
    pdf.cell(pdf.get_string_width(text), size * 0.42, text)
    pdf.set_text_color(*P.INK)


def draw_key(pdf: Any, entries: Sequence[tuple[str, str]], size: float = 8, columns: int = 1) -> None:
    """A key for the chart drawn with the same strokes (kinds: 'score', 'band', 'line' for the cutoff, 'rc',
    'mid', 'mark'), ``columns`` entries to a row across the text width."""
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / columns
    h = size * 0.45
    for start in range(0, len(entries), columns):
        row_y = bottom = pdf.get_y()
        for col, (kind, text) in enumerate(entries[start : start + columns]):
            x = pdf.l_margin + col * width
            _key_glyph(pdf, kind, x, row_y + h / 2)
            pdf.set_font(P.FONT, "", size)
            pdf.set_xy(x + 10, row_y)
            pdf.multi_cell(width - 11, h, text, new_x="LEFT", new_y="NEXT")
            bottom = max(bottom, pdf.get_y())
        pdf.set_xy(pdf.l_margin, bottom)
    pdf.set_draw_color(*P.RULE)
    pdf.set_line_width(0.2)


def _key_glyph(pdf: Any, kind: str, x: float, mid: float) -> None:
    pdf.set_line_width(0.2)
    if kind == "score":
        pdf.set_draw_color(*BLACK)
        pdf.set_fill_color(*BLACK)
        pdf.set_line_width(0.6)
        pdf.line(x, mid, x + 8, mid)
        pdf.ellipse(x + 3.25, mid - 0.75, 1.5, 1.5, style="F")
    elif kind == "band":
        pdf.set_fill_color(*BAND_FILL)
        pdf.rect(x, mid - 1.3, 8, 2.6, style="F")
        pdf.set_draw_color(*MID)
        pdf.line(x, mid - 1.3, x + 8, mid - 1.3)
        pdf.line(x, mid + 1.3, x + 8, mid + 1.3)
    elif kind == "rc":
        pdf.set_fill_color(*RC_FILL)
        pdf.rect(x, mid - 1.3, 8, 2.6, style="F")
        pdf.set_draw_color(*MID)
        pdf.set_dash_pattern(dash=0.4, gap=0.6)
        pdf.line(x, mid - 1.3, x + 8, mid - 1.3)
        pdf.line(x, mid + 1.3, x + 8, mid + 1.3)
        pdf.set_dash_pattern()
    elif kind == "mid":
        pdf.set_draw_color(*DARK)
        pdf.set_dash_pattern(dash=0.5, gap=0.7)
        pdf.line(x, mid, x + 8, mid)
        pdf.set_dash_pattern()
    elif kind == "mark":
        pdf.set_fill_color(*BLACK)
        pdf.polygon([(x + 2.9, mid - 1.0), (x + 5.1, mid - 1.0), (x + 4, mid + 0.8)], style="F")
    else:  # "line": the clinical cutoff
        pdf.set_draw_color(*DARK)
        pdf.set_line_width(0.4)
        pdf.set_dash_pattern(dash=1.6, gap=1.0)
        pdf.line(x, mid, x + 8, mid)
        pdf.set_dash_pattern()
