"""The one-page client feedback summary: the client's own scores in plain words, to go through together.

The content (``summary_content``) is built once and drawn twice: as a PDF here, and as the browser print
view (views/print_summary.py), so both say the same thing. Rules the content keeps:

* the client code is the only identifier: no clinician code, no names, no session dates (dates of care
  count as identifiers under HIPAA's Safe Harbor rule, so sessions are numbered instead);
* no clinician jargon: the cutoff is "the line where scores usually count as a clinical range", the
  expected band is "where half of people who started at a similar score were", reliable change is "a change
  big enough to be fairly sure it is real"; ``JARGON`` lists the words that must never appear;
* readable in greyscale: the chart uses black, grey and dashes, never colour alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from caseload.guide import (
    ClientFacts,
    Course,
    client_facts,
    cutoff_text,
    discussion_guide,
    score_text,
    selected,
)
from caseload.measures import Measure
from caseload.reports import pdf as P
from caseload.reports.vector_chart import BandPoint, ScoreChart, draw_key, draw_score_chart

# Words a client summary must never contain (checked by the tests on the PDF text and the chart spec).
JARGON = (
    "RCI",
    "ETR",
    "reliable change index",
    "reliable change",
    "clinical cutoff",
    "cutoff",
    "off_track",
    "off track",
    "at_risk",
    "at risk",
    "on_track",
    "not_enough_data",
    "percentile",
    "trajectory",
    "alliance",
    "deteriorat",
    "p25",
    "p75",
    "PCOMS",
)
CLINICAL_LINE = "the line where scores usually count as a clinical range"
BAND_WORDS = "where half of people who started at a similar score were at each session"
REAL_CHANGE = "a change big enough to be fairly sure it is real"


@dataclass(frozen=True)
class ScoreRow:
    """One questionnaire: first and latest score, the change, and what it means in words."""

    questionnaire: str
    first: str
    latest: str
    change: str
    meaning: str


@dataclass(frozen=True)
class ItemRow:
    """One part (item) of the charted questionnaire, first and latest."""

    label: str
    first: str
    latest: str
    change: str


@dataclass(frozen=True)
class SummaryContent:
    """Everything the summary says, in order, ready for a PDF or a web page."""

    client_id: str
    title: str
    subtitle: str
    intro: str
    chart_title: str
    course: Course | None  # the charted questionnaire: vectors in the PDF, ``client_chart`` in the browser
    chart_key: tuple[tuple[str, str], ...]  # (kind: 'score' | 'band' | 'line', words)
    started: tuple[str, ...]
    score_rows: tuple[ScoreRow, ...]
    items_title: str
    item_rows: tuple[ItemRow, ...]
    items_note: str
    sessions_felt: tuple[str, ...]
    next_topics: tuple[str, ...]
    closing: str

    def text(self) -> str:
        """All the words of the summary (not the chart), for checks and plain-text use."""
        parts = [self.title, self.subtitle, self.intro, self.chart_title, *(t for _, t in self.chart_key)]
        parts += [*self.started]
        parts += [
            " ".join([r.questionnaire, r.first, r.latest, r.change, r.meaning]) for r in self.score_rows
        ]
        parts += [self.items_title, self.items_note]
        parts += [" ".join([r.label, r.first, r.latest, r.change]) for r in self.item_rows]
        parts += [*self.sessions_felt, *self.next_topics, self.closing]
        return "\n".join(p for p in parts if p)


def main_outcome(facts: ClientFacts, registry: Mapping[str, Measure]) -> Course | None:
    """The outcome questionnaire the summary charts: the one rated most often (ties: registry order)."""
    if not facts.outcomes:
        return None
    order = {code: i for i, code in enumerate(registry)}
    return min(facts.outcomes, key=lambda c: (-len(c.ratings), order.get(c.measure.code, len(order))))


def _signed(value: float, m: Measure) -> str:
    if abs(value) < 10 ** -(m.decimals + 1):
        return "0"
    return ("+" if value > 0 else "−") + score_text(abs(value), m)


def _reliable(course: Course) -> int:
    """+1 reliably better, -1 reliably worse, 0 neither, from the engine's category or the registry."""
    category = course.change_category
    if category in ("improved", "recovered"):
        return 1
    if category in ("deteriorated", "harmed"):
        return -1
    if category is not None or len(course.ratings) < 2:
        return 0
    rc, strict = course.measure.reliable_change_threshold()
    if rc is None:
        return 0
    gain = course.improvement
    passes = (abs(gain) > rc) if strict else (abs(gain) >= rc)
    return (1 if gain > 0 else -1) if passes else 0


SAME_SHARE = 0.2  # a change under a fifth of the reliable-change points reads as "about the same"


def meaning(course: Course) -> str:
    """What the first-to-latest change means, in the client's words.

    A reliable change is "a change big enough to be fairly sure it is real"; a change smaller than
    ``SAME_SHARE`` of the reliable-change points is "about the same"; anything between is "a little".
    """
    if len(course.ratings) < 2:
        return "One score so far"
    clear = _reliable(course)
    if clear > 0:
        return "Better: " + REAL_CHANGE
    if clear < 0:
        return "Harder: " + REAL_CHANGE
    gain = course.improvement
    rc, _ = course.measure.reliable_change_threshold()
    same = SAME_SHARE * rc if rc is not None else 10 ** -(course.measure.decimals + 1)
    if abs(gain) < same:
        return "About the same so far"
    return ("A little better" if gain > 0 else "A little harder") + ", not yet a clear change"


def _side(course: Course, score: float) -> str:
    clinical = course.measure.is_clinical(score, course.age_group)
    if clinical is None:
        return ""
    if clinical:
        return "in the range where people who look for help often score"
    return "in the range where people who are not looking for help usually score"


def _started(course: Course) -> tuple[str, ...]:
    m = course.measure
    first, latest = course.first, course.latest
    out = []
    side = _side(course, first.total)
    out.append(
        f"When we started (session {first.session}) your score was {score_text(first.total, m)} out of "
        f"{score_text(m.max, m)}" + (f", {side}." if side else ".")
    )
    if len(course.ratings) > 1:
        side = _side(course, latest.total)
        out.append(
            f"Your latest score (session {latest.session}) is {score_text(latest.total, m)}"
            + (f", {side}." if side else ".")
        )
        out.append(f"{meaning(course)}.")
    return tuple(out)


def _score_rows(facts: ClientFacts, main: Course | None) -> tuple[ScoreRow, ...]:
    rows = []
    for c in sorted(facts.outcomes, key=lambda c: c is not main):
        m = c.measure
        one = len(c.ratings) < 2
        rows.append(
            ScoreRow(
                questionnaire=f"{m.name} (0–{score_text(m.max, m)}, {'higher' if m.higher_is_better else 'lower'} "
                "is better)",
                first=f"{score_text(c.first.total, m)} (session {c.first.session})",
                latest="–" if one else f"{score_text(c.latest.total, m)} (session {c.latest.session})",
                change="–" if one else _signed(c.latest.total - c.first.total, m),
                meaning=meaning(c),
            )
        )
    return tuple(rows)


def _item_rows(course: Course) -> tuple[tuple[ItemRow, ...], str]:
    m = course.measure
    first = next((r for r in course.ratings if r.items), None)
    latest = next((r for r in reversed(course.ratings) if r.items), None)
    if first is None or latest is None or not m.items:
        return (), ""
    labels = list(m.item_labels or m.items)
    rows = []
    for i, label in enumerate(labels):
        a = first.items[i] if i < len(first.items) else None
        b = latest.items[i] if i < len(latest.items) else None
        if a is None and b is None:
            continue
        if a is None or b is None or first is latest:
            change = "–"
        else:
            diff = b - a
            better = diff > 0 if m.higher_is_better else diff < 0
            change = _signed(diff, m) + ("" if abs(diff) < 1e-9 else (" better" if better else " harder"))
        rows.append(
            ItemRow(
                label, "–" if a is None else score_text(a, m), "–" if b is None else score_text(b, m), change
            )
        )
    scale = (
        f"Each part is scored {score_text(m.item_min, m)} to {score_text(m.item_max, m)}; "
        f"{'higher' if m.higher_is_better else 'lower'} is better."
        if m.item_min is not None and m.item_max is not None
        else ""
    )
    if first is latest:
        note = f"Session {first.session} only. {scale}".strip()
    else:
        note = f"Session {first.session} and session {latest.session}. {scale}".strip()
    return tuple(rows), note


def _sessions_felt(facts: ClientFacts) -> tuple[str, ...]:
    if not facts.alliance:
        return (
            "We have not yet used the short rating of how each session went for you. We can start next time: "
            "it helps me adjust our work to what suits you.",
        )
    course = max(facts.alliance, key=lambda c: len(c.ratings))
    m = course.measure
    totals = [r.total for r in course.ratings]
    latest = course.latest
    out = []
    if len(totals) == 1:
        out.append(
            f"At the end of session {latest.session} you rated how the session went for you: "
            f"{score_text(latest.total, m)} out of {score_text(m.max, m)}."
        )
    else:
        out.append(
            f"At the end of {len(totals)} sessions you rated how the session went for you. Your ratings ranged "
            f"from {score_text(min(totals), m)} to {score_text(max(totals), m)} out of {score_text(m.max, m)}; "
            f"the latest (session {latest.session}) was {score_text(latest.total, m)}."
        )
    low_total = m.cutoff is not None and latest.total < m.cutoff
    labels = list(m.item_labels or m.items)
    low_items = [
        (labels[i], v)
        for i, v in enumerate(latest.items)
        if v is not None and m.item_cutoff is not None and v < m.item_cutoff and i < len(labels)
    ]
    if low_items:
        parts = [f"'{label}' ({score_text(v, m)})" for label, v in low_items]
        named = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        out.append(f"Last time you gave {named} a lower mark than the rest.")
    if low_total or low_items:
        out.append("Thank you for saying so. I would like to hear what we could do differently.")
    elif len(totals) > 1 and totals[-1] < totals[-2]:
        out.append("Your latest rating was a little lower than the one before; I would like to hear why.")
    else:
        out.append(
            "Even so, it helps me to hear about anything, however small, that could work better for you."
        )
    return tuple(out)


def client_chart(course: Course, width: int = 620, height: int = 210) -> Any:
    """The client's scores with the expected band and the clinical line as an Altair chart for the browser's
    print view, in black and greys (no jargon). Altair loads only here: the PDF does not need it."""
    import altair as alt

    m = course.measure
    points = pd.DataFrame(
        {
            "session": [r.session for r in course.ratings],
            "score": [r.total for r in course.ratings],
            "label": [score_text(r.total, m) for r in course.ratings],
        }
    )
    x_lo = int(points["session"].min())
    x_hi = int(points["session"].max())
    band = pd.DataFrame(
        [
            {"session": b.session, "low": b.low, "high": b.high}
            for b in course.band
            if x_lo <= b.session <= x_hi + 2
        ]
    )
    if not band.empty:
        x_hi = max(x_hi, int(band["session"].max()))
    x_hi = max(x_hi, x_lo + 1)
    x = alt.X(
        "session:Q",
        title="Session",
        scale=alt.Scale(domain=[x_lo, x_hi], nice=False),
        axis=alt.Axis(values=list(range(x_lo, x_hi + 1)), format="d", grid=False),
    )
    y_scale = alt.Scale(domain=[m.min, m.max], nice=False)
    y_title = f"Score ({'higher' if m.higher_is_better else 'lower'} is better)"
    layers: list[alt.Chart] = []
    if not band.empty:
        layers.append(
            alt.Chart(band)
            .mark_area(color="#b8b8b8", opacity=0.55, interpolate="monotone")
            .encode(x=x, y=alt.Y("low:Q", scale=y_scale, title=y_title), y2="high:Q")
        )
    cut = m.cutoff_for(course.age_group)
    if cut is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"y": [cut]}))
            .mark_rule(color="#333333", strokeDash=[7, 4], strokeWidth=1.6)
            .encode(y=alt.Y("y:Q", scale=y_scale, title=y_title))
        )
    y = alt.Y("score:Q", scale=y_scale, title=y_title, axis=alt.Axis(grid=True, gridColor="#e6e6e6"))
    layers.append(alt.Chart(points).mark_line(color="#000000", strokeWidth=2.4).encode(x=x, y=y))
    layers.append(
        alt.Chart(points).mark_point(color="#000000", filled=True, size=70, opacity=1).encode(x=x, y=y)
    )
    layers.append(
        alt.Chart(points)
        .mark_text(color="#000000", dy=-11, fontSize=12, fontWeight="bold")
        .encode(x=x, y=y, text="label:N")
    )
    return (
        alt.layer(*layers)
        .properties(width=width, height=height, background="white")
        .configure_axis(labelFontSize=12, titleFontSize=12, labelColor="#222222", titleColor="#222222")
        .configure_view(stroke="#999999")
    )


# Whose scores a cutoff comes from, in the client's words (the measure's age-group cutoffs, e.g. ORS).
FOR_WHOM = {"adult": " for adults", "adolescent": " for young people", "child": " for children"}


def _for_whom(m: Measure, age_group: str | None) -> str:
    return FOR_WHOM.get(age_group or "", "") if age_group in m.cutoffs else ""


def summary_content(
    detail: Mapping[str, Any] | ClientFacts,
    registry: Mapping[str, Measure],
    selected_prompt_ids: Iterable[str] | None = None,
    episode: int | None = None,
) -> SummaryContent:
    """The words, tables and chart of one client's summary (latest episode unless ``episode`` is given);
    ticked prompts become the topics for next time."""
    facts = detail if isinstance(detail, ClientFacts) else client_facts(detail, registry, episode)
    course = main_outcome(facts, registry)
    all_sessions = sorted({r.session for c in (*facts.outcomes, *facts.alliance) for r in c.ratings})
    span = ""
    if all_sessions:
        span = (
            f"session {all_sessions[0]}"
            if len(all_sessions) == 1
            else f"sessions {all_sessions[0]} to {all_sessions[-1]}"
        )
    chosen = selected(discussion_guide(facts, registry), selected_prompt_ids)
    chart_key: tuple[tuple[str, str], ...] = ()
    chart_title = ""
    started: tuple[str, ...] = ()
    items: tuple[ItemRow, ...] = ()
    items_note = ""
    items_title = ""
    if course is not None:
        m = course.measure
        chart_title = f"How things have been going: {m.name}"
        key = [
            ("score", f"Your score at each session ({'higher' if m.higher_is_better else 'lower'} is better)")
        ]
        if course.band:
            key.append(("band", f"Shaded: {BAND_WORDS}"))
        cut = m.cutoff_for(course.age_group)
        if cut is not None:
            key.append(
                ("line", f"Dashed: {CLINICAL_LINE}{_for_whom(m, course.age_group)} ({cutoff_text(cut)})")
            )
        chart_key = tuple(key)
        started = _started(course)
        items, items_note = _item_rows(course)
        items_title = f"What has changed, part by part ({m.name})" if items else ""
    return SummaryContent(
        client_id=facts.client_id,
        title="Your feedback summary",
        subtitle=f"Client code {facts.client_id}" + (f" · {span}" if span else ""),
        intro=(
            "This page brings together the short questionnaires you have filled in, so that we can look at them "
            "together. The numbers are a starting point for a conversation, not a verdict: you know best what "
            "they mean for you."
        ),
        chart_title=chart_title,
        course=course,
        chart_key=chart_key,
        started=started,
        score_rows=_score_rows(facts, course),
        items_title=items_title,
        item_rows=items,
        items_note=items_note,
        sessions_felt=_sessions_felt(facts),
        next_topics=tuple(p.client for p in chosen),
        closing=(
            "Your answers stay between us and are used to make our work fit you better. If a number does not "
            "match how things feel, tell me: that is useful too."
        ),
    )


# --------------------------------------------------------------------------------------------------------
# PDF


def vector_chart(course: Course) -> ScoreChart:
    """The summary chart for the PDF: the client's scores with their values, the expected band and the
    clinical line, unlabelled (the key under it says what each is, in plain words)."""
    m = course.measure
    sessions = [r.session for r in course.ratings]
    last = max(sessions)
    band = [
        BandPoint(b.session, b.low, b.high) for b in course.band if min(sessions) <= b.session <= last + 2
    ]
    return ScoreChart(
        sessions=sessions,
        scores=[r.total for r in course.ratings],
        y_min=m.min,
        y_max=m.max,
        y_title=f"Score ({'higher' if m.higher_is_better else 'lower'} is better)",
        decimals=m.decimals,
        x_max=max([last, *(b.session for b in band)]),
        cutoff=m.cutoff_for(course.age_group),
        band=band,
        label_values=True,
    )


def _table(
    pdf: Any, header: list[str], rows: list[list[str]], widths: tuple[float, ...], size: float
) -> None:
    P.ruled_table(pdf, header, rows, widths, size)


def _draw(content: SummaryContent, paper: str, scale: float) -> tuple[bytes, int, float]:
    pdf = P.new_document(paper, title="Your feedback summary", subject=f"Client code {content.client_id}")
    pdf.add_page()
    body = 10 * scale
    small = 8.6 * scale
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font(P.FONT, "B", 17)
    pdf.cell(width * 0.6, 8, content.title)
    pdf.set_font(P.FONT, "", 10)
    pdf.cell(width * 0.4, 8, content.subtitle, align="R", new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 0.5
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*P.RULE)
    pdf.set_y(y + 2)
    P.paragraph(pdf, content.intro, size=body)

    if content.course is not None:
        P.heading(pdf, content.chart_title, size=11.5 * scale, space_before=2.5)
        top, height = pdf.get_y(), 64 * scale
        draw_score_chart(
            pdf, pdf.l_margin, top, width, height, vector_chart(content.course), font_size=8 * scale
        )
        pdf.set_xy(pdf.l_margin, top + height + 0.5)
        draw_key(pdf, content.chart_key, size=small)

    P.heading(pdf, "Where you started and where you are", size=11.5 * scale, space_before=2.5)
    if content.started:
        P.paragraph(pdf, " ".join(content.started), size=body)
        pdf.ln(1)
    if content.score_rows:
        _table(
            pdf,
            ["Questionnaire", "First score", "Latest score", "Change", "What it means"],
            [[r.questionnaire, r.first, r.latest, r.change, r.meaning] for r in content.score_rows],
            (52, 29, 29, 16, width - 126),
            small,
        )

    if content.item_rows:
        P.heading(pdf, content.items_title, size=11.5 * scale, space_before=2.5)
        P.paragraph(pdf, content.items_note, size=small)
        pdf.ln(0.5)
        rows = [[r.label, r.first, r.latest, r.change] for r in content.item_rows]
        if len(rows) > 5:
            # Two side-by-side tables keep long questionnaires (nine items) short.
            half = (len(rows) + 1) // 2
            top = pdf.get_y()
            col = (width - 6) / 2
            widths = (col * 0.44, col * 0.17, col * 0.17, col * 0.219)  # a hair under col: float safety
            _table(pdf, ["Part", "First", "Latest", "Change"], rows[:half], widths, small)
            bottom = pdf.get_y()
            pdf.set_xy(pdf.l_margin + col + 6, top)
            left = pdf.l_margin
            pdf.set_left_margin(left + col + 6)
            _table(pdf, ["Part", "First", "Latest", "Change"], rows[half:], widths, small)
            pdf.set_left_margin(left)
            pdf.set_xy(left, max(bottom, pdf.get_y()))
        else:
            _table(pdf, ["Part", "First", "Latest", "Change"], rows, (60, 25, 25, 40), small)

    P.heading(pdf, "How our sessions have felt to you", size=11.5 * scale, space_before=2.5)
    P.paragraph(pdf, " ".join(content.sessions_felt), size=body)

    P.heading(pdf, "What we will talk about next", size=11.5 * scale, space_before=2.5)
    if content.next_topics:
        P.checkbox_list(pdf, list(content.next_topics), size=body)
    else:
        P.paragraph(pdf, "Topics we choose together:", size=body)
    pdf.ln(1.5)
    pdf.set_draw_color(*P.RULE)
    for _ in range(2 if content.next_topics else 3):
        y = pdf.get_y() + 6 * scale
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
        pdf.set_y(y)
    pdf.ln(3)
    pdf.set_text_color(*P.MUTED)
    P.paragraph(pdf, content.closing, size=small)
    pdf.set_text_color(*P.INK)
    overflow = pdf.get_y() - pdf.t_margin if pdf.pages_count > 1 else 0.0
    return P.document_bytes(pdf), pdf.pages_count, overflow


def client_summary_pdf(
    detail: Mapping[str, Any] | ClientFacts,
    registry: Mapping[str, Measure],
    selected_prompt_ids: Iterable[str] | None = None,
    paper: str = "A4",
    episode: int | None = None,
) -> bytes:
    """The one-page plain-language summary as PDF bytes (A4 or Letter); same data, same bytes."""
    content = summary_content(detail, registry, selected_prompt_ids, episode)
    return summary_pdf_from_content(content, paper)


def summary_pdf_from_content(content: SummaryContent, paper: str = "A4") -> bytes:
    """Draw already built summary content on one page; type and chart shrink a little when it would not fit."""
    P.paper_format(paper)
    scale = 1.0
    for _ in range(4):
        data, pages, overflow = _draw(content, paper, scale)
        if pages == 1:
            return data
        usable = P.page_height(paper) - 2 * P.MARGIN_MM
        # Heights shrink roughly with the scale; aim a little below what the overflow asks for.
        scale = max(0.7, min(scale - 0.04, scale * usable / (usable + overflow) - 0.02))
    raise P.ReportError(
        f"The summary for {content.client_id} does not fit on one page even in small type; tick fewer topics."
    )
