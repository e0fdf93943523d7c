"""The supervision packet: a cover page with the caseload at a glance and the clients to discuss, then one
page per client who is off track, at risk or has an alliance concern (charts, alerts, discussion guide).

Clinician language throughout (status words, rule ids, percentiles), since it is read in supervision, not
by clients. Charts are drawn as vectors (reports.vector_chart) with the dashboard's elements: a 30-client
packet stays under 20 s, which PNGs from vl-convert (0.3-0.8 s each here) could not. The clients to
discuss are the same as on the Supervision page (``caseload.supervision.clients_to_discuss``: active
episodes, most urgent first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd

from caseload.access import Viewer
from caseload.alerts import AlertConfig
from caseload.guide import (
    SECTION_TITLES,
    ClientFacts,
    Course,
    Prompt,
    client_facts,
    cutoff_text,
    discussion_guide,
    score_text,
)
from caseload.labels import category_label, status_rank
from caseload.measures import Measure
from caseload.reports import pdf as P
from caseload.reports.vector_chart import BandPoint, ScoreChart, draw_key, draw_score_chart

STATUS_WORDS = {
    "off_track": "Off track",
    "at_risk": "At risk",
    "on_track": "On track",
    "not_enough_data": "Not enough data",
}
ALLIANCE_WORDS = {"concern": "Alliance concern", "ok": "Alliance OK", "not_rated": "Alliance not rated"}
MIN_SCALE = 0.74  # below this the type gets too small to read (6.3 pt); the page runs over instead
OUTCOME_RULES = ("off_track", "at_risk", "reliable_deterioration", "no_reliable_change", "sudden_loss")
SEVERITY_WORDS = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW", "info": "INFO"}


_ODDS = AlertConfig()  # the thresholds the packet's overview is judged by (caseload_overview's default)


@dataclass(frozen=True)
class ClientPage:
    """What one client's page shows: the flagged rows of the overview, the detail's facts and the guide."""

    client_id: str
    rows: pd.DataFrame
    facts: ClientFacts
    guide: tuple[Prompt, ...]
    number: int = 0  # position in the packet's list of clients to discuss (1 = most urgent)
    of: int = 0

    @property
    def headline(self) -> pd.Series:
        """The row the page leads with: worst status, then the measure rated most often."""
        order = self.rows.assign(
            _status=self.rows["status"].map(status_rank), _sessions=-self.rows["sessions"].fillna(0)
        ).sort_values(["_status", "_sessions", "measure"], kind="stable")
        return order.iloc[0]

    @property
    def has_risk(self) -> bool:
        return any(a.rule == "risk_item" for a in self.facts.alerts)


def _words(value: Any, table: Mapping[str, str]) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return table.get(str(value), str(value).replace("_", " "))


def _num_text(value: Any, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    text = f"{float(value):.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def norms_label(m: Measure, age_group: str | None) -> str:
    """Whose norms a cutoff is: 'adolescent norms' where the measure has a cutoff for the age group."""
    return f"{age_group} norms" if age_group and age_group in m.cutoffs else "norms for all ages"


def outcome_chart(course: Course, facts: ClientFacts) -> ScoreChart:
    """The outcome chart as the dashboard shows it: cutoff, reliable-change band around the intake, expected
    band (25th-75th percentile) with its median, and a marker where an alert fired."""
    m = course.measure
    sessions = [r.session for r in course.ratings]
    last = max(sessions)
    band = [
        BandPoint(b.session, b.low, b.high, b.p50)
        for b in course.band
        if min(sessions) <= b.session <= last + 2
    ]
    rc, _strict = m.reliable_change_threshold()
    intake = course.first.total
    cut = m.cutoff_for(course.age_group)
    marks = sorted(
        {
            a.session
            for a in facts.alerts
            if a.measure == m.code and a.session is not None and a.rule in OUTCOME_RULES
        }
    )
    subtitle = []
    if band:
        subtitle.append(f"Shaded: expected 25th–75th percentile, {course.band_caption}.")
    if rc is not None:
        subtitle.append(f"Dotted band: within {score_text(rc, m)} points of intake (not a reliable change).")
    return ScoreChart(
        sessions=sessions,
        scores=[r.total for r in course.ratings],
        y_min=m.min,
        y_max=m.max,
        y_title=f"{m.code} ({'higher' if m.higher_is_better else 'lower'} is better)",
        decimals=m.decimals,
        x_max=max([last, *(b.session for b in band)]),
        title=f"{m.code} — {m.name}",
        subtitle=" ".join(subtitle),
        cutoff=cut,
        cutoff_label=(
            f"cutoff {cutoff_text(cut)} ({norms_label(m, course.age_group)})" if cut is not None else ""
        ),
        band=band,
        rc_band=(max(m.min, intake - rc), min(m.max, intake + rc)) if rc is not None else None,
        rc_label="reliable-change band" if rc is not None else "",
        marks=marks,
    )


def alliance_chart(course: Course, facts: ClientFacts) -> ScoreChart:
    """The alliance chart: ratings against the alliance cutoff, drops marked."""
    m = course.measure
    drops = sorted(
        {a.session for a in facts.alerts if a.measure == m.code and a.rule == "alliance_drop" and a.session}
    )
    return ScoreChart(
        sessions=[r.session for r in course.ratings],
        scores=[r.total for r in course.ratings],
        y_min=m.min,
        y_max=m.max,
        y_title=f"{m.code} (alliance)",
        decimals=m.decimals,
        title=f"{m.code} — {m.name}",
        subtitle=f"Below {cutoff_text(m.cutoff)} the alliance deserves a conversation." if m.cutoff else "",
        cutoff=m.cutoff,
        cutoff_label=f"cutoff {cutoff_text(m.cutoff)}" if m.cutoff is not None else "",
        marks=drops,
    )


def page_charts(page: ClientPage) -> tuple[ScoreChart | None, ScoreChart | None]:
    """The headline outcome measure's chart and the alliance chart of one client's page."""
    flagged = str(page.headline["measure"])
    outcome = page.facts.course(flagged) or (page.facts.outcomes[0] if page.facts.outcomes else None)
    alliance = max(page.facts.alliance, key=lambda c: len(c.ratings)) if page.facts.alliance else None
    return (
        outcome_chart(outcome, page.facts) if outcome is not None else None,
        alliance_chart(alliance, page.facts) if alliance is not None else None,
    )


KEY = (
    ("score", "client's score"),
    ("mid", "expected median"),
    ("band", "expected 25th–75th percentile"),
    ("line", "clinical / alliance cutoff"),
    ("rc", "reliable-change band around intake"),
    ("mark", "alert fired (outcome) or drop (alliance)"),
)


def _cover(
    pdf: Any, overview: pd.DataFrame, pages: list[ClientPage], clinician_id: str | None, today: date
) -> None:
    from caseload.views import caseload_tiles

    pdf.add_page()
    pdf.set_font(P.FONT, "B", 20)
    pdf.cell(0, 10, "Supervision packet", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(P.FONT, "", 11)
    who = f"Clinician {clinician_id}" if clinician_id else "All clinicians"
    n_clin = overview["clinician_id"].nunique() if not overview.empty else 0
    if not clinician_id and n_clin:
        who += f" ({n_clin})"
    pdf.cell(0, 6, f"{who} · status on {today.isoformat()}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*P.MUTED)
    pdf.set_font(P.FONT, "", 8.5)
    pdf.multi_cell(
        0,
        4,
        "Confidential: contains client codes and their ratings. Client codes only; no names. Produced by Caseload "
        "from the local store.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(*P.INK)

    P.heading(pdf, "Caseload at a glance")
    tiles = caseload_tiles(overview)
    share = tiles.improved_share
    rows = [
        ("Active clients", str(tiles.active_clients)),
        ("Off track (active)", str(tiles.off_track)),
        ("At risk (active)", str(tiles.at_risk)),
        ("Alliance concerns (active)", str(tiles.alliance_concerns)),
        ("Closed episodes", str(tiles.closed_episodes)),
        (
            "Closed episodes reliably improved or recovered",
            f"{tiles.improved_or_recovered} ({share:.0%})" if share is not None else "–",
        ),
    ]
    _simple_table(pdf, ["", "Clients"], [list(r) for r in rows], (110, 40), 9.5)

    from caseload.supervision import clients_to_discuss

    flagged = clients_to_discuss(overview)
    total = flagged["client_id"].nunique() if not flagged.empty else 0
    shown = f"{len(pages)}" if total <= len(pages) else f"{len(pages)} of {total}, the most urgent"
    P.heading(pdf, f"Clients to discuss ({shown})")
    if not pages:
        P.paragraph(pdf, "No active client is off track, at risk or has an alliance concern.")
    else:
        table_rows = []
        for i, page in enumerate(pages, start=1):
            r = page.headline
            status = _words(r["status"], STATUS_WORDS)
            if page.has_risk:
                status = f"RISK ITEM · {status}"
            table_rows.append(
                [
                    str(i),
                    str(page.client_id),
                    _words(r.get("clinician_id"), {}),
                    f"{r['measure']} {_num_text(r['first_score'])} → {_num_text(r['latest_score'])}",
                    str(int(r["sessions"])) if pd.notna(r["sessions"]) else "–",
                    status,
                    _words(r["alliance_status"], ALLIANCE_WORDS),
                    ", ".join(sorted({a.rule for a in page.facts.alerts})) or "–",
                ]
            )
        _simple_table(
            pdf,
            ["#", "Client", "Clinician", "First → latest", "Sessions", "Status", "Alliance", "Alerts"],
            table_rows,
            (8, 17, 17, 30, 17, 24, 22, 45),
            8,
        )
    pdf.ln(3)
    pdf.set_text_color(*P.MUTED)
    P.paragraph(
        pdf,
        f"Off track: a chance of at least {_ODDS.off_track_probability:.0%} that the course ends without "
        "reliable improvement (from similar ended episodes in this caseload, else Caseload's default model), "
        f"or reliably worse than the intake. At risk: at least {_ODDS.at_risk_probability:.0%}. An intake "
        "already on the healthy side of the cutoff is at most at risk. Alliance concern: the latest alliance "
        "rating is below its cutoff or dropped from the previous rating. An endorsed risk item comes first "
        "whatever the status. Thresholds and their sources: caseload measures, and the Measures & about page.",
        size=8,
    )
    pdf.set_text_color(*P.INK)


def _simple_table(
    pdf: Any, header: list[str], rows: list[list[str]], widths: tuple[float, ...], size: float
) -> None:
    P.ruled_table(pdf, header, rows, widths, size, line_factor=0.46, padding=(0.5, 1))


class _Flow:
    """Draws a client page, or only measures it (``draw=False``: the same line wrapping, nothing drawn), so the
    packet can pick the largest type that keeps each client on one page."""

    def __init__(self, pdf: Any, draw: bool) -> None:
        self.pdf, self.draw = pdf, draw
        self.y = pdf.get_y()

    @property
    def width(self) -> float:
        return self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def text(self, text: str, size: float, style: str = "", indent: float = 0.0, tag: str = "") -> None:
        """A paragraph wrapped to the text width (after ``indent``), with an optional bold ``tag`` in the
        indent; draws it or only advances y by its exact height."""
        pdf = self.pdf
        line = size * 0.45
        pdf.set_font(P.FONT, style, size)
        lines = P.wrap_lines(pdf, text, self.width - indent - 0.5)
        if not self.draw:
            self.y += line * len(lines)
            return
        if self.y + line * len(lines) > pdf.h - pdf.b_margin:  # runs over: continue on a new page
            pdf.add_page()
            self.y = pdf.t_margin
        if tag:
            pdf.set_font(P.FONT, "B", size * 0.9)
            pdf.set_xy(pdf.l_margin, self.y)
            pdf.cell(indent, line, tag)
            pdf.set_font(P.FONT, style, size)
        for text_line in lines:
            pdf.set_xy(pdf.l_margin + indent, self.y)
            pdf.cell(self.width - indent, line, text_line)
            self.y += line

    def heading(self, text: str, size: float, space_before: float = 1.5) -> None:
        self.y += space_before
        self.text(text, size, "B")
        if self.draw:
            self.pdf.line(self.pdf.l_margin, self.y + 0.5, self.pdf.w - self.pdf.r_margin, self.y + 0.5)
        self.y += 1.8

    def charts(
        self, charts: tuple[ScoreChart | None, ScoreChart | None], height: float, key_size: float
    ) -> None:
        """The outcome chart (left, 60%) beside the alliance chart, then the key."""
        outcome, alliance = charts
        if outcome is None and alliance is None:
            return
        if self.draw:
            x, w = self.pdf.l_margin, self.width
            if outcome is not None and alliance is not None:
                draw_score_chart(self.pdf, x, self.y, w * 0.6 - 2, height, outcome)
                draw_score_chart(self.pdf, x + w * 0.6 + 2, self.y, w * 0.4 - 2, height, alliance)
            else:
                draw_score_chart(self.pdf, x, self.y, w * 0.75, height, outcome or alliance)
            self.pdf.set_xy(x, self.y + height + 0.5)
            draw_key(self.pdf, KEY, size=key_size, columns=3)
            self.y = self.pdf.get_y()
        else:
            self.y += height + 0.5 + 2 * key_size * 0.45


def _client_page(flow: _Flow, page: ClientPage, scale: float) -> float:
    """Lay out one client's page from the top; returns the y it ends at."""
    pdf = flow.pdf
    first = page.headline
    episode = first.get("episode")
    bits = [
        f"#{page.number} of {page.of}" if page.number else "",
        f"Clinician {first.get('clinician_id')}" if first.get("clinician_id") else "",
        f"episode {episode}" if episode is not None and pd.notna(episode) else "",
        f"last session {pd.Timestamp(first['latest_date']).date().isoformat()}"
        if "latest_date" in first and pd.notna(first["latest_date"])
        else "",
    ]
    if flow.draw:
        pdf.set_font(P.FONT, "B", 16)
        pdf.set_xy(pdf.l_margin, flow.y)
        pdf.cell(flow.width * 0.35, 8, f"{page.client_id}")
        pdf.set_font(P.FONT, "", 9.5)
        pdf.cell(flow.width * 0.65, 8, " · ".join(b for b in bits if b), align="R")
    flow.y += 9
    lines = []
    for _, r in page.rows.iterrows():
        lines.append(
            f"{r['measure']}: {_words(r['status'], STATUS_WORDS)} · {_num_text(r['first_score'])} → "
            f"{_num_text(r['latest_score'])} over {int(r['sessions'])} sessions · "
            f"{category_label(r['change_category']) or '–'}"
        )
    lines.append(
        f"{_words(first['alliance_status'], ALLIANCE_WORDS)}"
        + (
            f" (latest {_num_text(first['latest_alliance'])})"
            if pd.notna(first.get("latest_alliance"))
            else ""
        )
    )
    flow.text(" | ".join(lines), 9 * scale)
    flow.y += 1
    # The charts keep their size until the type gets small.
    flow.charts(page_charts(page), 66 * min(1.0, scale / 0.85), 7.5 * max(scale, 0.9))

    flow.heading("Alerts", 11 * scale)
    if page.facts.alerts:
        for a in page.facts.alerts:
            tag = SEVERITY_WORDS.get(a.severity, a.severity.upper())
            flow.text(f"{a.rule}: {a.message}", 8.5 * scale, indent=18, tag=tag)
    else:
        flow.text("No alerts.", 8.5 * scale)

    flow.heading("Discussion guide for the next session", 11 * scale)
    section = None
    for p in packet_prompts(page.guide):
        if p.section != section:
            section = p.section
            flow.text(SECTION_TITLES[section], 9 * scale, "B")
        flow.text(f"{p.clinician} [{', '.join(p.triggers)}]", 8.5 * scale, indent=5, tag="☐")
    return flow.y


def packet_prompts(guide: tuple[Prompt, ...]) -> list[Prompt]:
    """The guide as the packet prints it: data prompts that only restate an alert (listed under Alerts just
    above) are left out; patterns, questions and options stay."""

    def keep(p: Prompt) -> bool:
        if p.id == "risk.data":
            return False
        return p.section != "data" or p.trigger_kind == "pattern"

    return [p for p in guide if keep(p)]


def _best_scale(pdf: Any, page: ClientPage) -> float:
    """The largest type scale (at most 1) at which the client's page ends above the bottom margin.

    Measuring runs the same layout without drawing; heights shrink about in proportion to the scale, so the
    first guess after an overflow is usually the last.
    """
    top, bottom = pdf.t_margin, pdf.h - pdf.b_margin - 6  # room for the page number
    scale = 1.0
    while True:
        pdf.set_y(top)
        end = _client_page(_Flow(pdf, draw=False), page, scale)
        if end <= bottom or scale <= MIN_SCALE:
            return scale
        scale = max(MIN_SCALE, min(scale - 0.03, scale * (bottom - top) / (end - top)))


def client_pages(
    con,
    registry: Mapping[str, Measure],
    overview: pd.DataFrame,
    today: date | None,
    limit: int | None = None,
    viewer: Viewer | None = None,
) -> list[ClientPage]:
    """One page's content per client to discuss, most urgent first (the client's flagged rows together);
    ``limit`` keeps the most urgent clients only."""
    from caseload.engine import client_detail
    from caseload.supervision import clients_to_discuss

    flagged = clients_to_discuss(overview)
    pages = []
    client_ids = list(dict.fromkeys(flagged["client_id"].astype(str))) if not flagged.empty else []
    for client_id in client_ids[:limit] if limit else client_ids:
        rows = flagged[flagged["client_id"].astype(str) == client_id]
        detail = client_detail(con, registry, client_id, today=today, viewer=viewer)
        if detail is None:
            continue
        facts = client_facts(detail, registry)
        pages.append(ClientPage(client_id, rows, facts, tuple(discussion_guide(facts, registry))))
    return [replace(p, number=i, of=len(pages)) for i, p in enumerate(pages, start=1)]


def supervision_packet_pdf(
    con,
    registry: Mapping[str, Measure],
    clinician_id: str | None = None,
    today: date | None = None,
    paper: str = "A4",
    limit: int | None = None,
    viewer: Viewer | None = None,
) -> bytes:
    """The supervision packet as PDF bytes: cover, then one page per client to discuss (the ``limit`` most
    urgent ones when given; the cover then says how many were left out). Only the viewer's rows (default: all)."""
    from caseload.engine import caseload_overview

    today = today or date.today()
    overview = caseload_overview(  # the cover and the list need each row's top alert only
        con, registry, clinician_id=clinician_id, today=today, viewer=viewer, alert_lists=False
    )
    pages = client_pages(con, registry, overview, today, limit, viewer)
    pdf = P.new_document(paper, title="Supervision packet", subject=f"Clinician {clinician_id or 'all'}")
    _cover(pdf, overview, pages, clinician_id, today)
    for page in pages:
        pdf.add_page()
        scale = _best_scale(pdf, page)
        pdf.set_y(pdf.t_margin)
        _client_page(_Flow(pdf, draw=True), page, scale)
    _page_numbers(pdf)
    return P.document_bytes(pdf)


def _page_numbers(pdf: Any) -> None:
    total = pdf.pages_count
    for n in range(1, total + 1):
        pdf.page = n
        pdf.set_auto_page_break(False)
        pdf.set_xy(pdf.l_margin, pdf.h - 10)
        pdf.set_font(P.FONT, "", 7.5)
        pdf.set_text_color(*P.MUTED)
        pdf.cell(0, 4, f"Supervision packet · page {n} of {total}", align="R")
    pdf.set_text_color(*P.INK)
