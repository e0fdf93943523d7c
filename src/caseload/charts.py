"""Altair charts of one client's ratings, shared by the pages and the printed summaries (no Streamlit here).

Readable in greyscale and by colour-blind readers: every series differs by line dash or point shape as
well as by colour (Okabe-Ito palette), reference lines carry text labels, and heat-map cells print
their values. Inputs are plain frames, so a PDF builder can draw the same chart as the page.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from caseload.measures import Measure

BLUE, VERMILLION, ORANGE, GREEN, GREY, BLACK = (
    "#0072B2",
    "#D55E00",
    "#E69F00",
    "#009E73",
    "#6E6E6E",
    "#111111",
)
SCORE, CUTOFF, ALLIANCE_CUTOFF, EXPECTED, FLOOR, ALERT, DROP, ITEM_CUTOFF = (
    "Client's score",
    "Clinical cutoff",
    "Alliance cutoff",
    "Expected (median)",
    "Off-track line (p10)",
    "Alert",
    "Drop",
    "Item cutoff",
)
_KEY_COLOURS = {
    ALLIANCE_CUTOFF: VERMILLION,
    FLOOR: BLACK,
    SCORE: BLUE,
    CUTOFF: VERMILLION,
    EXPECTED: GREY,
    ALERT: BLACK,
    DROP: BLACK,
    ITEM_CUTOFF: VERMILLION,
}
_KEY_DASHES = {
    ALLIANCE_CUTOFF: [8, 4],
    FLOOR: [6, 2, 1, 2],
    SCORE: [1, 0],
    CUTOFF: [8, 4],
    EXPECTED: [2, 3],
    ALERT: [1, 0],
    DROP: [1, 0],
    ITEM_CUTOFF: [8, 4],
}


def _fmt(value: float | None, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"


# Viridis from dark to light: perceptually even, readable in greyscale and with colour-vision deficiencies.
_VIRIDIS = ["#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725"]
_KEY_SHAPES = {
    SCORE: "circle",
    CUTOFF: "stroke",
    ALLIANCE_CUTOFF: "stroke",
    EXPECTED: "stroke",
    FLOOR: "stroke",
    ITEM_CUTOFF: "stroke",
}


def _key(series: list[str], orient: str = "bottom") -> tuple[alt.Color, alt.StrokeDash, alt.Shape]:
    """Colour, dash and shape encodings over one 'series' field: their legends merge into one key that
    shows each line's dash and each marker's shape, so the key reads without colour."""
    legend = alt.Legend(title=None, orient=orient, symbolStrokeWidth=2.5, symbolSize=160)
    return (
        alt.Color(
            "series:N", scale=alt.Scale(domain=series, range=[_KEY_COLOURS[s] for s in series]), legend=legend
        ),
        alt.StrokeDash(
            "series:N", scale=alt.Scale(domain=series, range=[_KEY_DASHES[s] for s in series]), legend=legend
        ),
        alt.Shape(
            "series:N",
            scale=alt.Scale(domain=series, range=[_KEY_SHAPES.get(s, "triangle-down") for s in series]),
            legend=legend,
        ),
    )


def _sized(width: int | str, height: int) -> dict[str, object]:
    """Size properties: with a container width, ``fit-x`` keeps ``height`` as the plot's own height
    (Streamlit otherwise squeezes title, axes and legend into it and the plot collapses)."""
    props: dict[str, object] = {"width": width, "height": height}
    if width == "container":
        props["autosize"] = alt.AutoSizeParams(type="fit-x", contains="padding")
    return props


def _x_scale(sessions: pd.Series) -> tuple[alt.Scale, alt.Axis]:
    lo, hi = int(sessions.min()), int(sessions.max())
    hi = max(hi, lo + 1)
    step = 1 if hi - lo <= 25 else 5
    ticks = list(range(lo, hi + 1, step))
    return alt.Scale(domain=[lo, hi], nice=False), alt.Axis(format="d", values=ticks)


def _x_axis(sessions: pd.Series) -> alt.X:
    scale, axis = _x_scale(sessions)
    return alt.X("session:Q", title="Session", scale=scale, axis=axis)


def _y_scale(measure: Measure) -> alt.Scale:
    return alt.Scale(domain=[measure.min, measure.max], nice=False, clamp=True)


def _y_title(measure: Measure) -> str:
    return f"{measure.code} total ({'higher is better' if measure.higher_is_better else 'higher is worse'})"


def _y_axis(measure: Measure, title: str | None = None) -> alt.Y:
    return alt.Y("value:Q", title=title or _y_title(measure), scale=_y_scale(measure))


def _scores_frame(scores: pd.DataFrame, first: float | None) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "session": pd.to_numeric(scores["session"]).astype(int),
            "value": pd.to_numeric(scores["score"]).astype(float),
            "date": pd.to_datetime(scores["date"]).dt.strftime("%Y-%m-%d") if "date" in scores else "",
        }
    )
    out["date"] = out["date"].fillna("–")
    out["change"] = out["value"] - (first if first is not None else out["value"].iloc[0])
    out["series"] = SCORE
    return out.sort_values("session").reset_index(drop=True)


def _marked_sessions(marks: pd.DataFrame | None, points: pd.DataFrame) -> pd.DataFrame:
    """Alerts (or drops) joined to the client's point at their session, one marker per session."""
    if marks is None or marks.empty or "session" not in marks:
        return pd.DataFrame(columns=["session", "message", "value", "date"])
    grouped = (
        marks.dropna(subset=["session"])
        .assign(session=lambda f: pd.to_numeric(f["session"]).astype(int))
        .groupby("session", as_index=False)
        .agg(message=("message", lambda m: " · ".join(str(v) for v in m)))
    )
    return grouped.merge(points[["session", "value", "date"]], on="session", how="inner")


def _marker_layer(
    marked: pd.DataFrame, name: str, x: alt.X, y: alt.Y, colour: alt.Color, shape: alt.Shape
) -> alt.Chart:
    return (
        alt.Chart(marked.assign(series=name))
        .mark_point(size=190, filled=True, yOffset=-16, opacity=1)
        .encode(
            x=x,
            y=y,
            color=colour,
            shape=shape,
            tooltip=[
                alt.Tooltip("session:Q", title="Session"),
                alt.Tooltip("date:N", title="Date"),
                alt.Tooltip("message:N", title=name),
            ],
        )
    )


def _cutoff_layers(
    cut: float, x_at: int, x: alt.X, y: alt.Y, colour: alt.Color, dash: alt.StrokeDash, name: str = CUTOFF
) -> list[alt.Chart]:
    rule = pd.DataFrame(
        {"value": [cut], "series": [name], "session": [x_at], "label": [f"cutoff {_fmt(cut, 2)}"]}
    )
    return [
        alt.Chart(rule).mark_rule(strokeWidth=1.5).encode(y=y, color=colour, strokeDash=dash),
        alt.Chart(rule)
        .mark_text(align="right", baseline="bottom", dy=-3, fontSize=10, color=VERMILLION)
        .encode(x=x, y=y, text="label:N"),
    ]


def outcome_chart(
    scores: pd.DataFrame,
    measure: Measure,
    *,
    age_group: str | None = None,
    intake: float | None = None,
    expected: pd.DataFrame | None = None,
    expected_caption: str | None = None,
    alerts: pd.DataFrame | None = None,
    title: str | None = None,
    width: int | str = "container",
    height: int = 320,
) -> alt.LayerChart:
    """The client's scores over sessions against the clinical cutoff, the reliable-change band around the
    intake score and the expected-response band, with alerts marked where they fired.

    ``scores``: session, score, optional date. ``expected``: session, low, high, optional median and
    floor (the range the engine expects for clients with this intake, and the line below which it calls
    the client off track). ``alerts``: session and message.
    ``intake`` defaults to the first score shown.
    """
    if scores is None or scores.empty:
        raise ValueError("outcome_chart needs at least one score")
    ordered = scores.sort_values("session")
    intake = float(ordered["score"].iloc[0]) if intake is None else float(intake)
    points = _scores_frame(scores, intake)
    x_lo, x_hi = int(points["session"].min()), int(points["session"].max())
    band = pd.DataFrame()
    if expected is not None and not expected.empty:
        band = expected[(expected["session"] >= x_lo) & (expected["session"] <= max(x_hi + 2, x_lo + 1))]
        band = band.dropna(subset=["low", "high"]).rename(columns={"median": "mid"}).copy()
        if not band.empty:
            x_hi = max(x_hi, int(band["session"].max()))
    has_mid = not band.empty and "mid" in band and band["mid"].notna().any()
    has_floor = not band.empty and "floor" in band and band["floor"].notna().any()
    cut = measure.cutoff_for(age_group)
    marked = _marked_sessions(alerts, points)
    rc, strict = measure.reliable_change_threshold()

    series = [SCORE] + ([EXPECTED] if has_mid else []) + ([FLOOR] if has_floor else [])
    series += [CUTOFF] if cut is not None else []
    series += [ALERT] if not marked.empty else []
    colour, dash, shape = _key(series)
    x_scale, _ = _x_scale(pd.Series([x_lo, x_hi]))
    y_scale = _y_scale(measure)
    x = _x_axis(pd.Series([x_lo, x_hi]))
    y = _y_axis(measure)
    decimals = measure.decimals
    layers: list[alt.Chart] = []

    if rc is not None:
        lo_band, hi_band = max(measure.min, intake - rc), min(measure.max, intake + rc)
        rc_frame = pd.DataFrame({"x0": [x_lo], "x1": [x_hi], "y0": [lo_band], "y1": [hi_band]})
        layers.append(
            alt.Chart(rc_frame)
            .mark_rect(color=GREY, opacity=0.13)
            .encode(x=alt.X("x0:Q", scale=x_scale), x2="x1:Q", y=alt.Y("y0:Q", scale=y_scale), y2="y1:Q")
        )
        edges = pd.DataFrame({"value": [lo_band, hi_band]})
        layers.append(alt.Chart(edges).mark_rule(color=GREY, strokeDash=[1, 2], strokeWidth=1).encode(y=y))
        layers.append(
            alt.Chart(
                pd.DataFrame({"value": [hi_band], "session": [x_lo], "label": ["reliable-change band"]})
            )
            .mark_text(align="left", baseline="bottom", dx=3, dy=-2, fontSize=10, color=GREY)
            .encode(x=x, y=y, text="label:N")
        )
    if not band.empty:
        layers.append(
            alt.Chart(band)
            .mark_area(color=GREEN, opacity=0.16, interpolate="monotone")
            .encode(
                x=alt.X("session:Q", scale=x_scale),
                y=alt.Y("low:Q", scale=y_scale, title=_y_title(measure)),
                y2="high:Q",
                tooltip=[
                    alt.Tooltip("session:Q", title="Session"),
                    alt.Tooltip("low:Q", title="Expected from", format=".1f"),
                    alt.Tooltip("high:Q", title="Expected to", format=".1f"),
                ],
            )
        )
        for edge in ("low", "high"):
            layers.append(
                alt.Chart(band)
                .mark_line(color=GREEN, strokeWidth=1, opacity=0.8, interpolate="monotone")
                .encode(x=alt.X("session:Q", scale=x_scale), y=alt.Y(f"{edge}:Q", scale=y_scale))
            )
        if has_mid:
            mid = band.dropna(subset=["mid"])[["session", "mid"]].rename(columns={"mid": "value"})
            layers.append(
                alt.Chart(mid.assign(series=EXPECTED))
                .mark_line(strokeWidth=1.5, interpolate="monotone")
                .encode(x=alt.X("session:Q", scale=x_scale), y=y, color=colour, strokeDash=dash)
            )
        if has_floor:
            floor = band.dropna(subset=["floor"])[["session", "floor"]].rename(columns={"floor": "value"})
            layers.append(
                alt.Chart(floor.assign(series=FLOOR))
                .mark_line(strokeWidth=1.2, interpolate="monotone")
                .encode(x=alt.X("session:Q", scale=x_scale), y=y, color=colour, strokeDash=dash)
            )
    if cut is not None:
        layers += _cutoff_layers(cut, x_hi, x, y, colour, dash)

    layers.append(
        alt.Chart(points).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=colour, strokeDash=dash)
    )
    layers.append(
        alt.Chart(points)
        .mark_point(filled=True, size=70, opacity=1)
        .encode(
            x=x,
            y=y,
            color=colour,
            shape=shape,
            tooltip=[
                alt.Tooltip("session:Q", title="Session"),
                alt.Tooltip("date:N", title="Date"),
                alt.Tooltip("value:Q", title=measure.code, format=f".{decimals}f"),
                alt.Tooltip("change:Q", title="Change since intake", format=f"+.{decimals}f"),
            ],
        )
    )
    if not marked.empty:
        layers.append(_marker_layer(marked, ALERT, x, y, colour, shape))

    subtitle = []
    if not band.empty:
        subtitle += (
            expected_caption or "Shaded band: the range expected for clients with a similar intake."
        ).splitlines()
    if rc is not None:
        subtitle.append(
            f"Between the dotted lines: less than {_fmt(rc, 2)} points from intake, not a reliable change"
            if not strict
            else f"Between the dotted lines: {_fmt(rc, 2)} points or less from intake, not a reliable change"
        )
    return alt.layer(*layers).properties(
        **_sized(width, height),
        title=alt.Title(title or f"{measure.code} — {measure.name}", subtitle=subtitle, anchor="start"),
    )


def alliance_chart(
    scores: pd.DataFrame,
    measure: Measure,
    *,
    drops: pd.DataFrame | None = None,
    title: str | None = None,
    width: int | str = "container",
    height: int = 220,
) -> alt.LayerChart:
    """Alliance ratings over sessions against the alliance cutoff, with drops marked.

    ``scores``: session, score, optional date. ``drops``: session and message for each drop the engine
    flagged (e.g. a fall from the previous session).
    """
    if scores is None or scores.empty:
        raise ValueError("alliance_chart needs at least one rating")
    points = _scores_frame(scores, None)
    points["change"] = points["value"].diff()
    marked = _marked_sessions(drops, points)
    cut = measure.cutoff
    series = [SCORE] + ([ALLIANCE_CUTOFF] if cut is not None else []) + ([DROP] if not marked.empty else [])
    colour, dash, shape = _key(series)
    x = _x_axis(points["session"])
    y = _y_axis(measure, title=f"{measure.code} (alliance)")
    layers: list[alt.Chart] = []
    if cut is not None:
        layers += _cutoff_layers(cut, int(points["session"].max()), x, y, colour, dash, ALLIANCE_CUTOFF)
    layers.append(
        alt.Chart(points).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=colour, strokeDash=dash)
    )
    layers.append(
        alt.Chart(points)
        .mark_point(filled=True, size=70, opacity=1)
        .encode(
            x=x,
            y=y,
            color=colour,
            shape=shape,
            tooltip=[
                alt.Tooltip("session:Q", title="Session"),
                alt.Tooltip("date:N", title="Date"),
                alt.Tooltip("value:Q", title=measure.code, format=f".{measure.decimals}f"),
                alt.Tooltip("change:Q", title="Change since last", format=f"+.{measure.decimals}f"),
            ],
        )
    )
    if not marked.empty:
        layers.append(_marker_layer(marked, DROP, x, y, colour, shape))
    subtitle = [f"Below {_fmt(cut, 2)} the alliance deserves a conversation."] if cut is not None else []
    return alt.layer(*layers).properties(
        **_sized(width, height),
        title=alt.Title(title or f"{measure.code} — {measure.name}", subtitle=subtitle, anchor="start"),
    )


def items_long(sessions: pd.DataFrame, measure: Measure) -> pd.DataFrame:
    """Item scores as rows (session, item, score) from a frame with a session column and an ``items``
    column holding, per session, a dict {item code: score} or a list in the measure's item order.

    Items are named by the measure's neutral labels (never questionnaire wording); sessions or items
    without a score are left out.
    """
    if sessions is None or sessions.empty or "items" not in sessions:
        return pd.DataFrame(columns=["session", "item", "score"])
    codes = list(measure.items)
    labels = dict(zip(codes, measure.item_labels or codes, strict=True))
    rows = []
    for session, items in zip(sessions["session"], sessions["items"], strict=True):
        if isinstance(items, dict):
            pairs = [(labels.get(str(k), str(k)), v) for k, v in items.items()]
        elif isinstance(items, (list, tuple)) or hasattr(items, "tolist"):
            values = list(items)
            names = (
                [labels[c] for c in codes]
                if len(codes) == len(values)
                else [f"item {i + 1}" for i in range(len(values))]
            )
            pairs = list(zip(names, values, strict=True))
        else:
            continue
        for label, value in pairs:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            rows.append({"session": int(session), "item": label, "score": float(value)})
    return pd.DataFrame(rows, columns=["session", "item", "score"])


def _item_order(items: pd.DataFrame, measure: Measure) -> list[str]:
    present = list(dict.fromkeys(items["item"]))
    known = [lab for lab in (measure.item_labels or measure.items) if lab in present]
    return known + [lab for lab in present if lab not in known]


def item_heatmap(
    items: pd.DataFrame,
    measure: Measure,
    *,
    title: str | None = None,
    width: int | str = "container",
) -> alt.LayerChart:
    """Item scores as a session-by-item grid; each cell prints its value, so colour is never needed to read it.

    ``items``: session, item, score (see ``items_long``). Darker cells are worse, whichever direction the
    measure runs.
    """
    if items is None or items.empty:
        raise ValueError("item_heatmap needs item scores")
    labels = _item_order(items, measure)
    lo = measure.item_min if measure.item_min is not None else float(items["score"].min())
    hi = measure.item_max if measure.item_max is not None else float(items["score"].max())
    worse_high = not measure.higher_is_better
    frame = items.copy()
    frame["label"] = frame["score"].map(lambda v: _fmt(v, measure.decimals))
    # Badness in 0..1 decides the text colour, so labels stay readable on dark and light cells.
    span = (hi - lo) or 1.0
    frame["bad"] = ((frame["score"] - lo) / span) if worse_high else ((hi - frame["score"]) / span)
    sessions = sorted(frame["session"].unique())
    base = alt.Chart(frame).encode(
        x=alt.X("session:O", title="Session", sort=sessions, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("item:N", title=None, sort=labels),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "score:Q",
            title=f"Item score ({'higher is better' if measure.higher_is_better else 'higher is worse'})",
            scale=alt.Scale(domain=[lo, hi], range=_VIRIDIS[::-1] if worse_high else _VIRIDIS),
            legend=alt.Legend(orient="bottom", gradientLength=180),
        ),
        tooltip=[
            alt.Tooltip("session:O", title="Session"),
            alt.Tooltip("item:N", title="Item"),
            alt.Tooltip("score:Q", title="Score"),
        ],
    )
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(alt.datum.bad > 0.55, alt.value("white"), alt.value("black")),
    )
    return alt.layer(cells, text).properties(
        **_sized(width, max(90, 26 * len(labels))),
        title=alt.Title(
            title or f"{measure.code} items by session",
            subtitle=["Darker cells are worse; each cell shows its score."],
            anchor="start",
        ),
    )


def item_small_multiples(
    items: pd.DataFrame,
    measure: Measure,
    *,
    title: str | None = None,
    width: int = 160,
    columns: int = 4,
) -> alt.FacetChart:
    """One small line chart per item on a shared scale, with the measure's item cutoff where it has one."""
    if items is None or items.empty:
        raise ValueError("item_small_multiples needs item scores")
    labels = _item_order(items, measure)
    lo = measure.item_min if measure.item_min is not None else float(items["score"].min())
    hi = measure.item_max if measure.item_max is not None else float(items["score"].max())
    y = alt.Y("score:Q", title="Score", scale=alt.Scale(domain=[lo, hi], nice=False))
    x = alt.X("session:Q", title="Session", axis=alt.Axis(tickMinStep=1, format="d"))
    line = alt.Chart().mark_line(color=BLUE, strokeWidth=2).encode(x=x, y=y)
    dots = (
        alt.Chart()
        .mark_point(color=BLUE, filled=True, size=40)
        .encode(
            x=x,
            y=y,
            tooltip=[
                alt.Tooltip("item:N", title="Item"),
                alt.Tooltip("session:Q", title="Session"),
                alt.Tooltip("score:Q", title="Score"),
            ],
        )
    )
    layers = [line, dots]
    if measure.item_cutoff is not None:
        layers.insert(
            0,
            alt.Chart()
            .mark_rule(color=VERMILLION, strokeDash=[8, 4])
            .encode(y=alt.datum(measure.item_cutoff)),
        )
    subtitle = (
        [f"Dashed line: item cutoff {_fmt(measure.item_cutoff, 2)}."]
        if measure.item_cutoff is not None
        else []
    )
    return (
        alt.layer(*layers, data=items)
        .properties(width=width, height=110)
        .facet(facet=alt.Facet("item:N", title=None, sort=labels), columns=columns)
        .properties(title=alt.Title(title or f"{measure.code} items", subtitle=subtitle, anchor="start"))
    )
