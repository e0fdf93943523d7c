"""The discussion guide: for the alerts and patterns a client has, what to raise in the next session and how.

Ordered the way a session would use it: safety first when a risk item is endorsed, then what the data
shows (with the client's own numbers), questions that open the conversation, and options by domain
(alliance, motivation and expectations, social support, life events, intensity or approach, consultation
or referral). Every prompt has a stable id, names the alert rule or pattern that triggered it, and comes in
two wordings: one for the clinician and one to read with the client. The content summarises published
feedback-informed-treatment guidance in our own words (see shared/reference/rom-systems-and-rules.md
section 4); no licensed questionnaire or manual wording is reproduced. Pure functions, no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from caseload.measures import Measure

SECTIONS = ("risk", "data", "question", "option")
SECTION_TITLES = {
    "risk": "Safety first",
    "data": "What the data shows",
    "question": "Questions to open the conversation",
    "option": "Options to consider",
}
DOMAINS = (
    "risk",
    "outcome",
    "alliance",
    "motivation",
    "social_support",
    "life_events",
    "intensity",
    "consultation",
    "progress",
    "measurement",
)
DOMAIN_TITLES = {
    "risk": "Risk",
    "outcome": "Progress",
    "alliance": "Alliance",
    "motivation": "Motivation and expectations",
    "social_support": "Social support",
    "life_events": "Life events",
    "intensity": "Intensity or approach",
    "consultation": "Consultation or referral",
    "progress": "Consolidating progress",
    "measurement": "Measurement",
}

# Alert rules (from caseload.alerts) and patterns (found here), most pressing first. A prompt's triggers
# are sorted in this order, and data and question prompts follow it.
TRIGGERS = (
    "risk_item",
    "off_track",
    "reliable_deterioration",
    "at_risk",
    "sudden_loss",
    "no_reliable_change",
    "alliance_below_cutoff",
    "alliance_drop",
    "low_alliance_item",
    "alliance_high_then_falling",
    "alliance_ceiling",
    "high_intake",
    "suspicious_intake",
    "long_gap",
    "missing_alliance",
    "good_progress",
    "review",
)
PATTERNS = ("alliance_high_then_falling", "alliance_ceiling", "high_intake", "good_progress", "review")
ALERT_RULES = tuple(name for name in TRIGGERS if name not in PATTERNS)
TRIGGER_ORDER = {name: rank for rank, name in enumerate(TRIGGERS)}
PATTERN_DESCRIPTIONS = {
    "alliance_ceiling": "Alliance rated at or next to the top of the scale in every session",
    "alliance_high_then_falling": "Alliance high at first, then falling while still above the cutoff",
    "high_intake": "Intake score already on the non-clinical side of the cutoff",
    "good_progress": "Reliable improvement and on track",
    "review": "No alert and no pattern: a routine review of the chart",
}


@dataclass(frozen=True)
class GuideSettings:
    """Thresholds for the patterns the guide looks for beyond the engine's alerts (all configurable).

    ceiling_gap: an alliance rating within this many points of the scale maximum counts as 'at the top'.
    ceiling_min_sessions: sessions with such ratings needed before the ceiling pattern shows.
    fall_points: fall from the earlier peak that makes a high alliance 'falling'.
    """

    ceiling_gap: float = 1.0
    ceiling_min_sessions: int = 3
    fall_points: float = 2.0
    fall_min_sessions: int = 3


@dataclass(frozen=True)
class Prompt:
    """One line of the discussion guide, with the alert rules or patterns that triggered it."""

    id: str
    section: str
    domain: str
    triggers: tuple[str, ...]
    clinician: str
    client: str
    measure: str | None = None
    basis: tuple[str, ...] = ()

    @property
    def trigger(self) -> str:
        """The most pressing of the rules or patterns behind this prompt."""
        return self.triggers[0]

    @property
    def trigger_kind(self) -> str:
        """'alert' when an engine alert rule triggered the prompt, 'pattern' when the guide found a pattern."""
        return "alert" if self.trigger in ALERT_RULES else "pattern"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "domain": self.domain,
            "triggers": list(self.triggers),
            "trigger_kind": self.trigger_kind,
            "clinician": self.clinician,
            "client": self.client,
            "measure": self.measure,
            "basis": list(self.basis),
        }


# --------------------------------------------------------------------------------------------------------
# What the guide reads from client_detail


@dataclass(frozen=True)
class Rating:
    """One rated session of one measure."""

    session: int
    date: date | None
    total: float
    items: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Band:
    """The expected range at one session, as percentiles in the better direction.

    ``p25`` is the score a quarter of similar clients did worse than (for the ORS the lower edge, for the
    PHQ-9 the upper one), as in caseload.trajectories.
    """

    session: int
    p25: float
    p75: float
    p50: float | None = None
    p10: float | None = None
    p90: float | None = None

    @property
    def low(self) -> float:
        return min(self.p25, self.p75)

    @property
    def high(self) -> float:
        return max(self.p25, self.p75)


@dataclass(frozen=True)
class Course:
    """One measure's ratings in the client's current episode, with the engine's reading of them."""

    measure: Measure
    ratings: tuple[Rating, ...]
    status: str | None = None
    change_category: str | None = None
    band: tuple[Band, ...] = ()
    band_caption: str = ""
    age_group: str | None = None

    @property
    def first(self) -> Rating:
        return self.ratings[0]

    @property
    def latest(self) -> Rating:
        return self.ratings[-1]

    @property
    def improvement(self) -> float:
        """Change from first to latest, positive when things got better (whatever the direction)."""
        return self.measure.improvement(self.first.total, self.latest.total)

    def band_at(self, session: int) -> Band | None:
        """The expected range at a session, or None when the engine gave none for it."""
        for b in self.band:
            if b.session == session:
                return b
        return None


@dataclass(frozen=True)
class Alert:
    """An alert as the engine reports it."""

    rule: str
    severity: str
    message: str
    measure: str | None = None
    session: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientFacts:
    """Everything the guide and the reports read from one client_detail: courses and alerts."""

    client_id: str
    outcomes: tuple[Course, ...]
    alliance: tuple[Course, ...]
    alerts: tuple[Alert, ...]
    episode: Any = None

    def course(self, code: str | None) -> Course | None:
        for c in (*self.outcomes, *self.alliance):
            if c.measure.code == code:
                return c
        return None


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _int(value: Any) -> int | None:
    f = _num(value)
    return None if f is None else int(round(f))


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if hasattr(value, "to_pydatetime"):
        try:
            return value.to_pydatetime().date()
        except (ValueError, AttributeError):
            return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _ratings(rows: Iterable[Mapping[str, Any]], measure: Measure) -> tuple[Rating, ...]:
    """Ratings from client_detail's ``sessions`` list; items (a dict by item code) in the measure's order."""
    out = []
    for row in rows:
        total, session = _num(row.get("total")), _int(row.get("session"))
        if total is None or session is None:
            continue
        items = row.get("items")
        if isinstance(items, Mapping):
            values = tuple(_num(items.get(code)) for code in measure.items) if measure.items else ()
        elif isinstance(items, (list, tuple)):
            values = tuple(_num(v) for v in items)
        else:
            values = ()
        out.append(Rating(session, _date(row.get("date")), total, values))
    return tuple(sorted(out, key=lambda r: r.session))


def _band(expected: Mapping[str, Any] | None, measure: Measure) -> tuple[tuple[Band, ...], str]:
    """The expected band per episode session from client_detail's ``expected``, and where it came from."""
    if not expected:
        return (), ""
    out = []
    for row in expected.get("bands") or []:
        session, p25, p75 = _int(row.get("session")), _num(row.get("p25")), _num(row.get("p75"))
        if session is None or p25 is None or p75 is None:
            continue
        out.append(Band(session, p25, p75, _num(row.get("p50")), _num(row.get("p10")), _num(row.get("p90"))))
    if expected.get("model") == "calibrated" and expected.get("n"):
        caption = f"calibrated from {int(expected['n'])} similar clients in this caseload"
    elif expected.get("model") == "calibrated":
        caption = "calibrated from similar clients in this caseload"
    else:
        caption = "Caseload's default model (not calibrated to this caseload)"
    return tuple(sorted(out, key=lambda b: b.session)), caption


def _alert(a: Mapping[str, Any]) -> Alert:
    return Alert(
        rule=str(a.get("rule", "")),
        severity=str(a.get("severity", "")),
        message=str(a.get("message", "")),
        measure=a.get("measure"),
        session=_int(a.get("session")),
        values=dict(a.get("values") or {}),
    )


def client_facts(
    detail: Mapping[str, Any], registry: Mapping[str, Measure], episode: int | None = None
) -> ClientFacts:
    """The guide's view of ``caseload.engine.client_detail``: the episode's courses (self-rated where there
    are several raters) and its alerts. ``episode`` defaults to the latest one."""
    episodes = list(detail.get("episodes") or [])
    if not episodes:
        return ClientFacts(str(detail.get("client_id", "")), (), (), ())
    chosen = episodes[-1]
    if episode is not None:
        chosen = next((e for e in episodes if _int(e.get("episode")) == int(episode)), None)
        if chosen is None:
            raise ValueError(f"Client {detail.get('client_id')} has no episode {episode}.")
    entries: dict[str, Mapping[str, Any]] = {}
    for entry in chosen.get("measures") or []:
        code = str(entry.get("measure"))
        if code not in entries or (entry.get("rater") == "self" and entries[code].get("rater") != "self"):
            entries[code] = entry
    outcomes, alliance = [], []
    for code, entry in entries.items():
        measure = registry.get(code)
        if measure is None:
            continue
        ratings = _ratings(entry.get("sessions") or [], measure)
        if not ratings:
            continue
        band, caption = _band(entry.get("expected"), measure)
        population = entry.get("population")
        course = Course(
            measure=measure,
            ratings=ratings,
            status=entry.get("status"),
            change_category=entry.get("change_category"),
            band=band,
            band_caption=caption,
            age_group=None if population in (None, "default") else str(population),
        )
        (alliance if measure.kind == "alliance" else outcomes).append(course)
    return ClientFacts(
        client_id=str(detail.get("client_id", "")),
        outcomes=tuple(outcomes),
        alliance=tuple(alliance),
        alerts=tuple(_alert(a) for a in chosen.get("alerts") or []),
        episode=_int(chosen.get("episode")),
    )


# --------------------------------------------------------------------------------------------------------
# Numbers in words


def score_text(value: float | None, measure: Measure) -> str:
    """A score as the measure writes it: '14.5' for the ORS, '12' for the PHQ-9, no trailing zeros."""
    if value is None:
        return "–"
    text = f"{value:.{max(measure.decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def cutoff_text(value: float) -> str:
    """A cutoff exactly as configured ('25', '7.5', '10.5'): cutoffs sit between whole scores, so rounding
    them to the measure's decimals would move the line."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sessions_text(n: int) -> str:
    words = {
        1: "one",
        2: "two",
        3: "three",
        4: "four",
        5: "five",
        6: "six",
        7: "seven",
        8: "eight",
        9: "nine",
    }
    return f"{words.get(n, str(n))} session{'s' if n != 1 else ''}"


def direction_text(measure: Measure) -> str:
    """How to read the scale, in the client's words."""
    if measure.higher_is_better:
        return "higher scores mean things are going better for you"
    return "lower scores mean fewer difficulties"


def _course_clinician(c: Course) -> str:
    m = c.measure
    n = len(c.ratings)
    if n == 1:
        return f"{m.code} {score_text(c.first.total, m)} at session {c.first.session} (one rating so far)"
    change = c.latest.total - c.first.total
    return (
        f"{m.code} {score_text(c.first.total, m)} → {score_text(c.latest.total, m)} "
        f"({'+' if change >= 0 else '−'}{score_text(abs(change), m)}) over {n} rated sessions "
        f"(sessions {c.first.session}–{c.latest.session})"
    )


def _course_client(c: Course) -> str:
    m = c.measure
    n = len(c.ratings)
    return (
        f"Your score went from {score_text(c.first.total, m)} to {score_text(c.latest.total, m)} "
        f"over {sessions_text(n)} ({direction_text(m)})."
    )


# --------------------------------------------------------------------------------------------------------
# The prompts


def _p(
    pid: str,
    section: str,
    domain: str,
    trigger: str,
    clinician: str,
    client: str,
    measure: str | None = None,
    basis: Iterable[str] = (),
) -> Prompt:
    full_id = f"{pid}:{measure}" if measure else pid
    return Prompt(
        full_id, section, domain, (trigger,), clinician, client, measure, tuple(b for b in basis if b)
    )


# Options by domain, shared by several triggers (one prompt each, listing every trigger).
OPTIONS: dict[str, tuple[str, str, str]] = {
    "alliance.goals": (
        "alliance",
        "Revisit the goals together: are the sessions still about what brought the client, and what they "
        "want to be different? Agree or re-agree one or two goals in their words.",
        "Checking that we are working on the things that matter most to you.",
    ),
    "alliance.method": (
        "alliance",
        "Check the fit of the way you are working (tasks, homework, pace, how structured the sessions are) "
        "and offer an alternative if it does not suit the client.",
        "Whether the way we work in our sessions suits you, or whether to try it differently.",
    ),
    "alliance.relationship": (
        "alliance",
        "Ask about the working relationship itself: does the client feel heard, understood and respected? "
        "Consider whether a different style, or a different therapist, would fit better.",
        "How we get on together, and whether you feel listened to and understood.",
    ),
    "alliance.repair": (
        "alliance",
        "Treat the change as a possible rupture: name it without defending yourself, invite the client's "
        "view of what went wrong, acknowledge your part, agree one concrete change and check next session "
        "whether it helped.",
        "Talking openly about anything in our sessions that has not felt right, so that we can put it right.",
    ),
    "alliance.invite_criticism": (
        "alliance",
        "Make criticism easy: thank the client for the ratings, say that even small dissatisfactions help "
        "you, and ask for one thing that would make the sessions a little better.",
        "Even small things that would make our sessions a bit better for you; there is no wrong answer.",
    ),
    "alliance.ask_rating": (
        "measurement",
        "Leave the last few minutes of each session for the alliance rating; explain that it helps you "
        "adjust and that low marks are welcome.",
        "Taking a minute at the end of each session for you to tell me how the session went for you.",
    ),
    "motivation.expectations": (
        "motivation",
        "Explore readiness and mixed feelings about change with a motivational-interviewing stance: the "
        "client's own reasons, what they expect therapy to do, and what they expect of themselves. "
        "Lower the demand if the pace is too much.",
        "What you hope will change, what you expect from our sessions, and whether the pace feels right.",
    ),
    "social_support.map": (
        "social_support",
        "Map who supports the client now and who could; consider bringing a partner or family member to a "
        "session, a group, or community resources.",
        "Who in your life can support you with this, and whether to involve them.",
    ),
    "life_events.stressors": (
        "life_events",
        "Ask about new stressors or events outside therapy (work, money, health, relationships, housing); "
        "problem-solve the practical ones, involve other services if needed, and re-time goals.",
        "Anything happening in your life at the moment that is making things harder.",
    ),
    "intensity.change": (
        "intensity",
        "Consider changing intensity or approach: more frequent sessions, a different method, or "
        "re-thinking the formulation (what is keeping the problem going).",
        "Whether meeting more often, or trying a different way of working, might help more.",
    ),
    "consultation.referral": (
        "consultation",
        "Bring the client to consultation or supervision; consider a medication review with their doctor, "
        "a specialist assessment, or another service that may suit them better.",
        "Whether another kind of help, such as a specialist or a check-in with your doctor, could add to what "
        "we do here.",
    ),
    "progress.spacing": (
        "progress",
        "Plan the next phase: spacing sessions out, an ending, and a written plan for setbacks (early "
        "signs, what helps, when to come back).",
        "Whether to space our sessions further apart or plan an ending, and what would be a sign to get in "
        "touch again.",
    ),
}
OPTION_ORDER = {pid: rank for rank, pid in enumerate(OPTIONS)}

# Which options each trigger brings in. A course that is not working opens the four domains; one that is
# failing (off track, reliably worse) adds a change of intensity and a consultation.
_FOUR_DOMAINS = (
    "alliance.goals",
    "alliance.method",
    "motivation.expectations",
    "social_support.map",
    "life_events.stressors",
)
_FAILING = (*_FOUR_DOMAINS, "intensity.change", "consultation.referral")
TRIGGER_OPTIONS: dict[str, tuple[str, ...]] = {
    "risk_item": ("consultation.referral",),
    "reliable_deterioration": _FAILING,
    "off_track": _FAILING,
    "at_risk": _FOUR_DOMAINS,
    "no_reliable_change": (
        "alliance.goals",
        "alliance.method",
        "motivation.expectations",
        "intensity.change",
    ),
    "sudden_loss": ("life_events.stressors", "social_support.map", "alliance.repair"),
    "alliance_below_cutoff": ("alliance.goals", "alliance.method", "alliance.relationship"),
    "alliance_drop": ("alliance.repair",),
    "low_alliance_item": (),  # chosen per item below
    "long_gap": ("life_events.stressors", "motivation.expectations"),
    "missing_alliance": ("alliance.ask_rating",),
    "suspicious_intake": (),
    "alliance_ceiling": ("alliance.invite_criticism",),
    "alliance_high_then_falling": ("alliance.repair", "alliance.invite_criticism"),
    "high_intake": ("motivation.expectations",),
    "good_progress": ("progress.spacing",),
    "review": (),
}
# An alliance item that is low points at one part of the alliance (the SRS items; other alliance
# measures fall back to the general question).
ITEM_OPTIONS = {
    "relationship": "alliance.relationship",
    "goals": "alliance.goals",
    "approach": "alliance.method",
    "method": "alliance.method",
}


def _alerts(facts: ClientFacts, rule: str) -> list[Alert]:
    return [a for a in facts.alerts if a.rule == rule]


def _for_course(alerts: list[Alert], course: Course) -> list[Alert]:
    return [a for a in alerts if a.measure in (None, course.measure.code)]


def _risk_prompts(facts: ClientFacts) -> list[Prompt]:
    alerts = _alerts(facts, "risk_item")
    if not alerts:
        return []
    lines = [a.message for a in alerts]
    sessions = sorted({a.session for a in alerts if a.session is not None})
    when = f"In your answers at session {sessions[-1]}" if sessions else "In your answers"
    basis = [a.message for a in alerts]
    return [
        _p(
            "risk.data",
            "risk",
            "risk",
            "risk_item",
            " ".join(dict.fromkeys(lines)) + " This comes before every other topic.",
            f"{when} you told me you have had some thoughts of harming yourself. Your safety comes first, so "
            "we will start there.",
            basis=basis,
        ),
        _p(
            "risk.ask",
            "risk",
            "risk",
            "risk_item",
            "Ask directly and calmly: how often the thoughts come, whether there is any intent or plan, "
            "access to means, what has stopped the client acting on them, and who they can turn to.",
            "How safe you have been feeling, and what helps you stay safe when things get hard.",
            basis=basis,
        ),
        _p(
            "risk.safety_plan",
            "risk",
            "risk",
            "risk_item",
            "Assess risk following your service's protocol before anything else; agree or update a written "
            "safety plan (warning signs, coping steps, people and crisis contacts); record it; consult a "
            "colleague or supervisor the same day if risk is raised.",
            "Making or updating a safety plan together: warning signs, what helps, and who to contact, "
            "day or night.",
            basis=basis,
        ),
    ]


def _outcome_prompts(facts: ClientFacts, course: Course) -> tuple[list[Prompt], list[tuple[str, str]]]:
    """Data and question prompts for one outcome measure, and the (option key, trigger) pairs it calls for."""
    m = course.measure
    code = m.code
    prompts: list[Prompt] = []
    options: list[tuple[str, str]] = []
    rc, _strict = m.reliable_change_threshold()
    rc_text = score_text(rc, m) if rc is not None else None

    def alerts(rule: str) -> list[Alert]:
        return _for_course(_alerts(facts, rule), course) if facts.alerts else []

    told: list[bool] = []

    def lead() -> str:
        """The course in numbers for the clinician, said once: the first data prompt of a measure carries it."""
        text = "" if told else f"{_course_clinician(course)}. "
        told.append(True)
        return text

    first, latest = score_text(course.first.total, m), score_text(course.latest.total, m)
    moved = score_text(abs(course.latest.total - course.first.total), m)

    deterioration = alerts("reliable_deterioration")
    if deterioration:
        prompts.append(
            _p(
                "deterioration.data",
                "data",
                "outcome",
                "reliable_deterioration",
                f"{lead()}{deterioration[-1].message}",
                f"Your score has gone from {first} to {latest} since we started ({direction_text(m)}). That is "
                "a big enough change to be fairly sure it is real: things seem to have become harder for you.",
                code,
                [a.message for a in deterioration],
            )
        )
        prompts.append(
            _p(
                "deterioration.ask",
                "question",
                "outcome",
                "reliable_deterioration",
                "Name the worsening openly and without blame. Ask for the client's own account of what has made "
                "things harder, including anything about the therapy itself.",
                "What you think has made things harder recently, including anything about our sessions.",
            )
        )
        options += [(o, "reliable_deterioration") for o in TRIGGER_OPTIONS["reliable_deterioration"]]

    below = alerts("off_track") or alerts("at_risk")
    if below:
        rule = below[-1].rule
        values = below[-1].values
        p25 = _num(values.get("p25"))
        if p25 is None:
            band = course.band_at(course.latest.session)
            p25 = band.p25 if band is not None else None
        closing = "So it is worth looking together at what is helping and what is not."
        if values.get("healthy_intake"):
            closing = "So it is worth talking about what you would most like to be different."
            # Started on the healthy side of the cutoff (alerts.py keeps these at most at risk).
            compare = (
                "Your scores have been in the range many people report when things are going reasonably well; "
                "the questionnaire may not be picking up what brought you here."
            )
        elif _num(values.get("p_poor")) is not None:
            # Status from the chance of ending without a clear improvement (alerts.py): say it without a verdict.
            compare = (
                "People whose scores had moved about as much as yours by this point often needed something in "
                "the therapy to change before they felt clearly better."
            )
        elif p25 is not None:
            compare = (
                f"At this point, three in four people who started at a similar score had reached "
                f"{score_text(p25, m)} or {'more' if m.higher_is_better else 'less'}."
            )
        else:
            compare = "People who start where you did are often further along by now."
        prompts.append(
            _p(
                "below_expected.data",
                "data",
                "outcome",
                rule,
                f"{lead()}{below[-1].message}",
                f"Your latest score is {latest} ({direction_text(m)}). {compare} {closing}",
                code,
                [a.message for a in below],
            )
        )
        options += [(o, rule) for o in TRIGGER_OPTIONS[rule]]

    loss = alerts("sudden_loss")
    if loss:
        a = loss[-1]
        before = next(
            (r for r in reversed(course.ratings) if a.session is not None and r.session < a.session), None
        )
        at = next((r for r in course.ratings if r.session == a.session), None)
        client = "Your score dropped sharply from one session to the next."
        if before is not None and at is not None:
            client = (
                f"Your score dropped from {score_text(before.total, m)} to {score_text(at.total, m)} between "
                f"session {before.session} and session {at.session}."
            )
        prompts.append(
            _p(
                "sudden_loss.data",
                "data",
                "outcome",
                "sudden_loss",
                a.message,
                client,
                code,
                [x.message for x in loss],
            )
        )
        prompts.append(
            _p(
                "sudden_loss.ask",
                "question",
                "life_events",
                "sudden_loss",
                "Ask what happened around the drop: events between the sessions, and anything in the session "
                "before it that felt unhelpful or upsetting.",
                "What happened around the time your score dropped.",
            )
        )
        options += [(o, "sudden_loss") for o in TRIGGER_OPTIONS["sudden_loss"]]

    flat = alerts("no_reliable_change")
    if flat:
        need = f" the {rc_text} points" if rc_text else " the change"
        if len(course.ratings) < 2:
            moved = "0"
        prompts.append(
            _p(
                "no_reliable_change.data",
                "data",
                "outcome",
                "no_reliable_change",
                f"{lead()}{flat[-1].message}",
                (
                    f"Your score is where it was when we started ({first})."
                    if moved == "0"
                    else f"Your score has moved {moved} point{'s' if moved != '1' else ''} since we started "
                    f"(from {first} to {latest}; {direction_text(m)})."
                )
                + f" That is less than{need} we would need to be confident that things "
                "have really changed.",
                code,
                [a.message for a in flat],
            )
        )
        options += [(o, "no_reliable_change") for o in TRIGGER_OPTIONS["no_reliable_change"]]

    if deterioration or below or flat:
        trigger = (
            "reliable_deterioration" if deterioration else (below[-1].rule if below else "no_reliable_change")
        )
        prompts.append(
            _p(
                "outcome.ask_working",
                "question",
                "outcome",
                trigger,
                "Open an explicit 'is this working?' conversation: what has helped so far, what has not, and "
                "whether the scores match how things feel to the client.",
                "What has helped so far, what has not, and whether the numbers match how things feel to you.",
            )
        )

    # Intake on the non-clinical side: a pattern (the engine's suspicious_intake alert flags it too).
    intake = alerts("suspicious_intake")
    cut = m.cutoff_for(course.age_group)
    high_intake = cut is not None and m.is_clinical(course.first.total, course.age_group) is False
    intake_triggers = ("high_intake", "suspicious_intake") if intake else ("high_intake",)
    if high_intake:
        side = "above" if m.higher_is_better else "below"
        prompts.append(
            _p(
                "high_intake.data",
                "data",
                "outcome",
                "high_intake",
                f"Intake {code} {score_text(course.first.total, m)} is already on the non-clinical side of the "
                f"cutoff {cutoff_text(cut)}. Clients who start here often come because someone else is "
                "concerned, and change little on the scale; a later dip can mean engagement rather than "
                "deterioration.",
                f"When we started, your score ({score_text(course.first.total, m)}) was already {side} the line "
                "where scores usually count as a clinical range.",
                code,
                [a.message for a in intake],
            )
        )
        prompts.append(
            _p(
                "high_intake.whose_concern",
                "question",
                "motivation",
                "high_intake",
                "Explore whose concern brings the client (a partner, family, school, employer, court or "
                "doctor) and what the client, and they, would need to see for the work to feel worthwhile.",
                "Whose idea it was to come, and what you would like to get out of our sessions.",
            )
        )
        prompts[-2:] = [replace(p, triggers=intake_triggers) for p in prompts[-2:]]
        options += [(o, "high_intake") for o in TRIGGER_OPTIONS["high_intake"]]
    # An intake at the very end of the scale (or flagged although clinical): check the rating itself.
    near_end = [a for a in intake if "best" in a.values or not high_intake]
    if near_end:
        prompts.append(
            _p(
                "suspicious_intake.check",
                "question",
                "measurement",
                "suspicious_intake",
                f"{near_end[-1].message} Check the intake rating with the client: does it fit their story of why "
                "they came? If not, talk it through and, if they agree, note the corrected intake.",
                f"Whether your first score ({score_text(course.first.total, m)}) matches how things really were "
                "when we started.",
                code,
                [a.message for a in near_end],
            )
        )

    improved = _improved(course)
    troubled = bool(deterioration or below or loss or flat)
    if improved and not troubled and course.status in (None, "on_track"):
        now_text = ""
        if cut is not None and m.is_clinical(course.latest.total, course.age_group) is False:
            side = "above" if m.higher_is_better else "below"
            now_text = f" It is now {side} the line where scores usually count as a clinical range."
        cut_clin = f"; now on the non-clinical side of {cutoff_text(cut)}" if now_text else ""
        prompts.append(
            _p(
                "good_progress.data",
                "data",
                "progress",
                "good_progress",
                f"{_course_clinician(course)}: reliable improvement"
                + (f" (at least {rc_text} points)" if rc_text else "")
                + f"{cut_clin}; on track.",
                f"{_course_client(course)} That is a big enough change to be fairly sure it is real.{now_text}",
                code,
            )
        )
        prompts.append(
            _p(
                "good_progress.what_helped",
                "question",
                "progress",
                "good_progress",
                "Consolidate: ask what the client has done that made the difference, credit their part, and "
                "how they will keep it going.",
                "What you have done that made the difference, and how to keep it going.",
            )
        )
        options.append(("progress.spacing", "good_progress"))
    return prompts, options


def _improved(course: Course) -> bool:
    """Reliable improvement first to latest: the engine's category when given, else the registry's threshold."""
    if course.change_category is not None:
        return course.change_category in ("improved", "recovered")
    if len(course.ratings) < 2:
        return False
    rc, strict = course.measure.reliable_change_threshold()
    if rc is None:
        return False
    gain = course.improvement
    return gain > rc if strict else gain >= rc


def _alliance_prompts(
    facts: ClientFacts, course: Course, settings: GuideSettings
) -> tuple[list[Prompt], list[tuple[str, str]]]:
    m = course.measure
    code = m.code
    prompts: list[Prompt] = []
    options: list[tuple[str, str]] = []
    latest = course.latest

    def alerts(rule: str) -> list[Alert]:
        return _for_course(_alerts(facts, rule), course)

    low = alerts("alliance_below_cutoff")
    if low:
        prompts.append(
            _p(
                "alliance_below_cutoff.data",
                "data",
                "alliance",
                "alliance_below_cutoff",
                low[-1].message,
                f"You rated our last session {score_text(latest.total, m)} out of {score_text(m.max, m)}. Thank you "
                "for being honest: it tells me something could have gone better for you.",
                code,
                [a.message for a in low],
            )
        )
        options += [(o, "alliance_below_cutoff") for o in TRIGGER_OPTIONS["alliance_below_cutoff"]]

    drop = alerts("alliance_drop")
    if drop:
        a = drop[-1]
        at = next((r for r in course.ratings if r.session == a.session), latest)
        before = next((r for r in reversed(course.ratings) if r.session < at.session), None)
        client = "Your rating of our sessions went down last time."
        if before is not None:
            client = (
                f"Your rating of our sessions went down from {score_text(before.total, m)} to "
                f"{score_text(at.total, m)} (out of {score_text(m.max, m)})."
            )
        prompts.append(
            _p(
                "alliance_drop.data",
                "data",
                "alliance",
                "alliance_drop",
                a.message,
                client,
                code,
                [a.message],
            )
        )
        options += [(o, "alliance_drop") for o in TRIGGER_OPTIONS["alliance_drop"]]

    items = alerts("low_alliance_item")
    if items:
        labels = list(m.item_labels or m.items)
        low_items = _low_items(course, settings)
        named = ", ".join(f"'{labels[i]}' {score_text(v, m)}" for i, v in low_items) or "one item"
        client_named = (
            " and ".join(
                f"'{labels[i]}' ({score_text(v, m)} out of {score_text(m.item_max, m)})" for i, v in low_items
            )
            if low_items and m.item_max is not None
            else "one part of the session"
        )
        prompts.append(
            _p(
                "low_alliance_item.data",
                "data",
                "alliance",
                "low_alliance_item",
                items[-1].message if not low_items else f"{items[-1].message} (latest: {named}).",
                f"You gave {client_named} a lower mark than the rest of the session.",
                code,
                [a.message for a in items],
            )
        )
        for i, _v in low_items or []:
            option = ITEM_OPTIONS.get(m.items[i]) if i < len(m.items) else None
            if option:
                options.append((option, "low_alliance_item"))

    falling = _high_then_falling(course, settings)
    if falling is not None and not low:
        peak, peak_session = falling
        prompts.append(
            _p(
                "alliance_high_then_falling.data",
                "data",
                "alliance",
                "alliance_high_then_falling",
                f"{code} was high (peak {score_text(peak, m)} at session {peak_session}) and has fallen to "
                f"{score_text(latest.total, m)} by session {latest.session}, still above the cutoff. A high "
                "alliance that falls often comes before a client drops out.",
                f"Your ratings of our sessions were very high at first and have come down a little since "
                f"({score_text(peak, m)} to {score_text(latest.total, m)}).",
                code,
            )
        )
        options += [(o, "alliance_high_then_falling") for o in TRIGGER_OPTIONS["alliance_high_then_falling"]]

    ceiling = _at_ceiling(course, settings)
    if ceiling and not (low or drop or items):
        lo = min(r.total for r in course.ratings)
        prompts.append(
            _p(
                "alliance_ceiling.data",
                "data",
                "alliance",
                "alliance_ceiling",
                f"{code} at or next to the maximum in all {len(course.ratings)} rated sessions "
                f"({score_text(lo, m)}–{score_text(max(r.total for r in course.ratings), m)} of "
                f"{score_text(m.max, m)}). Ratings at the ceiling cannot show a problem, and can hide reluctance "
                "to criticise.",
                f"You have rated every session at or near the top of the scale ({score_text(m.max, m)}).",
                code,
            )
        )
        options += [(o, "alliance_ceiling") for o in TRIGGER_OPTIONS["alliance_ceiling"]]

    if low or drop or items or falling is not None:
        trigger = (
            "alliance_below_cutoff"
            if low
            else (
                "alliance_drop" if drop else ("low_alliance_item" if items else "alliance_high_then_falling")
            )
        )
        prompts.append(
            _p(
                "alliance.ask_fit",
                "question",
                "alliance",
                trigger,
                "Thank the client for the rating, then ask what would make the next session fit better: the "
                "topics, the way you work, or how you get on. Show the change you make at the next session.",
                "What would make our sessions fit you better: what we talk about, how we work, or how we get on.",
                code,
            )
        )
    return prompts, options


def _low_items(course: Course, settings: GuideSettings) -> list[tuple[int, float]]:
    m = course.measure
    if m.item_cutoff is None or not course.latest.items:
        return []
    return [(i, v) for i, v in enumerate(course.latest.items) if v is not None and v < m.item_cutoff]


def _at_ceiling(course: Course, settings: GuideSettings) -> bool:
    """Every alliance rating within ``ceiling_gap`` of the maximum, over enough sessions."""
    m = course.measure
    if len(course.ratings) < settings.ceiling_min_sessions:
        return False
    return all(r.total >= m.max - settings.ceiling_gap for r in course.ratings)


def _high_then_falling(course: Course, settings: GuideSettings) -> tuple[float, int] | None:
    """(peak, session) when an alliance that was high has fallen by ``fall_points`` but is not below cutoff."""
    m = course.measure
    if len(course.ratings) < settings.fall_min_sessions or m.cutoff is None:
        return None
    earlier = course.ratings[:-1]
    peak = max(earlier, key=lambda r: (r.total, -r.session))
    latest = course.latest
    high = peak.total >= m.max - settings.ceiling_gap
    fell = peak.total - latest.total >= settings.fall_points
    still_ok = latest.total >= m.cutoff
    return (peak.total, peak.session) if high and fell and still_ok else None


def _quality_prompts(facts: ClientFacts) -> tuple[list[Prompt], list[tuple[str, str]]]:
    prompts: list[Prompt] = []
    options: list[tuple[str, str]] = []
    gap = _alerts(facts, "long_gap")
    if gap:
        prompts.append(
            _p(
                "long_gap.data",
                "data",
                "life_events",
                "long_gap",
                gap[-1].message,
                "There was a long break between our sessions.",
                basis=[a.message for a in gap],
            )
        )
        prompts.append(
            _p(
                "long_gap.ask",
                "question",
                "life_events",
                "long_gap",
                "Ask what happened during the gap and what brought the client back; check whether the goals "
                "still fit.",
                "What happened during the break, and whether what you want from our sessions is still the same.",
            )
        )
        options += [(o, "long_gap") for o in TRIGGER_OPTIONS["long_gap"]]
    missing = _alerts(facts, "missing_alliance")
    if missing:
        prompts.append(
            _p(
                "missing_alliance.data",
                "data",
                "measurement",
                "missing_alliance",
                missing[-1].message,
                "Some of our sessions do not have your rating of how the session went.",
                basis=[a.message for a in missing],
            )
        )
        options += [(o, "missing_alliance") for o in TRIGGER_OPTIONS["missing_alliance"]]
    return prompts, options


def _option_prompts(pairs: list[tuple[str, str]]) -> list[Prompt]:
    triggers: dict[str, list[str]] = {}
    for option, trigger in pairs:
        triggers.setdefault(option, [])
        if trigger not in triggers[option]:
            triggers[option].append(trigger)
    out = []
    for option in sorted(triggers, key=OPTION_ORDER.__getitem__):
        domain, clinician, client = OPTIONS[option]
        ordered = tuple(sorted(triggers[option], key=lambda t: TRIGGER_ORDER.get(t, 99)))
        out.append(Prompt(option, "option", domain, ordered, clinician, client))
    return out


def _merge(prompts: list[Prompt]) -> list[Prompt]:
    """One prompt per id; a repeated id keeps the first wording and gathers every trigger."""
    merged: dict[str, Prompt] = {}
    for p in prompts:
        if p.id in merged:
            old = merged[p.id]
            triggers = tuple(dict.fromkeys(old.triggers + p.triggers))
            merged[p.id] = replace(old, triggers=triggers, basis=tuple(dict.fromkeys(old.basis + p.basis)))
        else:
            merged[p.id] = p
    return list(merged.values())


def discussion_guide(
    detail: Mapping[str, Any] | ClientFacts | None,
    registry: Mapping[str, Measure],
    measure: str | None = None,
    settings: GuideSettings | None = None,
    episode: int | None = None,
) -> list[Prompt]:
    """The ordered prompts for one client's next session (risk, data, questions, options).

    ``detail`` is ``caseload.engine.client_detail`` output (its latest episode unless ``episode`` is given);
    ``measure`` limits the outcome prompts to one outcome measure (risk and alliance prompts always stay).
    """
    if detail is None:
        return []
    settings = settings or GuideSettings()
    facts = detail if isinstance(detail, ClientFacts) else client_facts(detail, registry, episode)
    if not (facts.outcomes or facts.alliance or facts.alerts):
        return []
    prompts: list[Prompt] = _risk_prompts(facts)
    pairs: list[tuple[str, str]] = [(o, "risk_item") for o in TRIGGER_OPTIONS["risk_item"] if prompts]
    for course in facts.outcomes:
        if measure is not None and course.measure.code != measure:
            continue
        p, o = _outcome_prompts(facts, course)
        prompts += p
        pairs += o
    for course in facts.alliance:
        p, o = _alliance_prompts(facts, course, settings)
        prompts += p
        pairs += o
    p, o = _quality_prompts(facts)
    prompts += p
    pairs += o
    if not prompts:
        prompts.append(
            _p(
                "review.chart",
                "data",
                "outcome",
                "review",
                "No alert and no pattern to act on: review the chart with the client and check that the scores "
                "match their experience.",
                "Looking at your chart together, and whether it matches how things are going for you.",
            )
        )
    prompts = _merge(prompts)
    section_rank = {s: i for i, s in enumerate(SECTIONS)}
    ordered = sorted(
        (p for p in prompts if p.section != "option"),
        key=lambda p: (section_rank[p.section], TRIGGER_ORDER.get(p.trigger, 99)),
    )
    return ordered + _option_prompts(pairs)


def triggers_of(prompts: Iterable[Prompt]) -> list[str]:
    """Every rule and pattern behind a guide, most pressing first."""
    seen = dict.fromkeys(t for p in prompts for t in p.triggers)
    return sorted(seen, key=lambda t: TRIGGER_ORDER.get(t, 99))


def selected(prompts: Iterable[Prompt], ids: Iterable[str] | None) -> list[Prompt]:
    """The prompts whose ids were ticked, in guide order; unknown ids are ignored, None selects none."""
    if ids is None:
        return []
    wanted = set(ids)
    return [p for p in prompts if p.id in wanted]
