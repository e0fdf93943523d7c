"""Charts of one client's ratings as Vega-Lite specs (the JSON Altair produces), with no Streamlit import.

Each function returns a plain Vega-Lite v6 dict: ``st.vega_lite_chart(spec=...)`` draws it on a page,
``vl_convert.vegalite_to_png(spec)`` renders it for a PDF, and ``altair.LayerChart.from_dict(spec)``
turns it into an Altair object when one is wanted. The specs are written out directly rather than
assembled through Altair's API because Altair copies the whole chart at every ``mark_*``/``encode``/
``properties`` call: a client's outcome chart took about 0.2 s that way and takes under 0.01 s now,
which matters for a page that must appear in under half a second. Tests validate every spec against
the Vega-Lite schema and render it with vl-convert.

Readable in greyscale and by colour-blind readers: every series differs by line dash or point shape as
well as by colour (Okabe-Ito palette), reference lines carry text labels, and heat-map cells print
their values.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from caseload.measures import Measure

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
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
    "Expected 10th percentile",  # the band's floor; the status itself comes from the outcome odds (alerts.py)
    "Alert",
    "Drop",
    "Item cutoff",
)
_KEY_COLOURS = {
    SCORE: BLUE,
    CUTOFF: VERMILLION,
    ALLIANCE_CUTOFF: VERMILLION,
    EXPECTED: GREY,
    FLOOR: BLACK,
    ALERT: BLACK,
    DROP: BLACK,
    ITEM_CUTOFF: VERMILLION,
}
_KEY_DASHES = {
    SCORE: [1, 0],
    CUTOFF: [8, 4],
    ALLIANCE_CUTOFF: [8, 4],
    EXPECTED: [2, 3],
    FLOOR: [6, 2, 1, 2],
    ALERT: [1, 0],
    DROP: [1, 0],
    ITEM_CUTOFF: [8, 4],
}
_KEY_SHAPES = {
    SCORE: "circle",
    CUTOFF: "stroke",
    ALLIANCE_CUTOFF: "stroke",
    EXPECTED: "stroke",
    FLOOR: "stroke",
    ITEM_CUTOFF: "stroke",
}
# Viridis from dark to light: perceptually even, readable in greyscale and with colour-vision deficiencies.
_VIRIDIS = ["#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725"]

Spec = dict[str, Any]


def _fmt(value: float | None, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"


def _json(value: Any) -> Any:
    """A cell as JSON: None for missing values, ISO text for dates, plain Python numbers."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if hasattr(value, "item"):  # numpy scalars
        return _json(value.item())
    return value


def _values(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Inline data for a layer."""
    columns = list(frame.columns)
    rows = [
        {c: _json(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    return {"values": rows}


def _key(series: list[str]) -> dict[str, Spec]:
    """Colour, dash and shape encodings over one 'series' field: their legends merge into one key that
    shows each line's dash and each marker's shape, so the key reads without colour."""
    legend = {"title": None, "orient": "bottom", "symbolStrokeWidth": 2.5, "symbolSize": 160}

    def channel(values: list[Any]) -> Spec:
        return {
            "field": "series",
            "type": "nominal",
            "scale": {"domain": series, "range": values},
            "legend": legend,
        }

    return {
        "color": channel([_KEY_COLOURS[s] for s in series]),
        "strokeDash": channel([_KEY_DASHES[s] for s in series]),
        "shape": channel([_KEY_SHAPES.get(s, "triangle-down") for s in series]),
    }


def _top(width: int | str, height: int, title: str, subtitle: list[str]) -> Spec:
    """Top-level properties; with a container width, ``fit-x`` keeps ``height`` as the plot's own height
    (Streamlit otherwise squeezes title, axes and legend into it and the plot collapses)."""
    spec: Spec = {
        "$schema": SCHEMA,
        "width": width,
        "height": height,
        "title": {"text": title, "subtitle": subtitle, "anchor": "start"},
    }
    if width == "container":
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    return spec


def _x(lo: int, hi: int, field: str = "session") -> Spec:
    hi = max(hi, lo + 1)
    step = 1 if hi - lo <= 25 else 5
    return {
        "field": field,
        "type": "quantitative",
        "title": "Session",
        "scale": {"domain": [lo, hi], "nice": False},
        "axis": {"format": "d", "values": list(range(lo, hi + 1, step))},
    }


def _y_title(measure: Measure) -> str:
    return f"{measure.code} total ({'higher is better' if measure.higher_is_better else 'higher is worse'})"


def _y(measure: Measure, field: str = "value", title: str | None = None) -> Spec:
    return {
        "field": field,
        "type": "quantitative",
        "title": title or _y_title(measure),
        "scale": {"domain": [measure.min, measure.max], "nice": False, "clamp": True},
    }


def _field(channel: Spec, field: str) -> Spec:
    """The same axis/scale on another field (bands and rules share the chart's scales)."""
    return {**channel, "field": field}


def _scores_frame(scores: pd.DataFrame, first: float | None) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "session": pd.to_numeric(scores["session"]).astype(int),
            "value": pd.to_numeric(scores["score"]).astype(float),
            "date": pd.to_datetime(scores["date"]).dt.strftime("%Y-%m-%d") if "date" in scores else None,
        }
    )
    out["date"] = out["date"].fillna("–")
    out = out.sort_values("session").reset_index(drop=True)
    out["change"] = out["value"] - (first if first is not None else out["value"].iloc[0])
    out["series"] = SCORE
    return out


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


def _marker_layer(marked: pd.DataFrame, name: str, x: Spec, y: Spec, key: dict[str, Spec]) -> Spec:
    return {
        "data": _values(marked.assign(series=name)),
        "mark": {"type": "point", "size": 190, "filled": True, "yOffset": -16, "opacity": 1},
        "encoding": {
            "x": x,
            "y": y,
            "color": key["color"],
            "shape": key["shape"],
            "tooltip": [
                {"field": "session", "type": "quantitative", "title": "Session"},
                {"field": "date", "type": "nominal", "title": "Date"},
                {"field": "message", "type": "nominal", "title": name},
            ],
        },
    }


def _cutoff_layers(cut: float, x_at: int, x: Spec, y: Spec, key: dict[str, Spec], name: str) -> list[Spec]:
    rule = pd.DataFrame(
        {"value": [cut], "series": [name], "session": [x_at], "label": [f"cutoff {_fmt(cut, 2)}"]}
    )
    return [
        {
            "data": _values(rule),
            "mark": {"type": "rule", "strokeWidth": 1.5},
            "encoding": {"y": y, "color": key["color"], "strokeDash": key["strokeDash"]},
        },
        {
            "data": _values(rule),
            "mark": {
                "type": "text",
                "align": "right",
                "baseline": "bottom",
                "dy": -3,
                "fontSize": 10,
                "color": VERMILLION,
            },
            "encoding": {"x": x, "y": y, "text": {"field": "label", "type": "nominal"}},
        },
    ]


def _score_layers(
    points: pd.DataFrame, x: Spec, y: Spec, key: dict[str, Spec], tooltip: list[Spec]
) -> list[Spec]:
    data = _values(points)
    return [
        {
            "data": data,
            "mark": {"type": "line", "strokeWidth": 2.5},
            "encoding": {"x": x, "y": y, "color": key["color"], "strokeDash": key["strokeDash"]},
        },
        {
            "data": data,
            "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1},
            "encoding": {"x": x, "y": y, "color": key["color"], "shape": key["shape"], "tooltip": tooltip},
        },
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
) -> Spec:
    """The client's scores over sessions against the clinical cutoff, the reliable-change band around the
    intake score and the expected-response band, with alerts marked where they fired.

    ``scores``: session, score, optional date. ``expected``: session, low, high, optional median and
    floor (the range the engine expects for clients with this intake, and the line below which it calls
    the client off track). ``alerts``: session and message. ``intake`` defaults to the first score shown;
    ``expected_caption`` (lines split on newlines) says which model drew the band and on how many clients.
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
    series += ([CUTOFF] if cut is not None else []) + ([ALERT] if not marked.empty else [])
    key = _key(series)
    x, y = _x(x_lo, x_hi), _y(measure)
    decimals = measure.decimals
    layers: list[Spec] = []

    if rc is not None:
        lo_band, hi_band = max(measure.min, intake - rc), min(measure.max, intake + rc)
        layers.append(
            {
                "data": _values(pd.DataFrame({"x0": [x_lo], "x1": [x_hi], "y0": [lo_band], "y1": [hi_band]})),
                "mark": {"type": "rect", "color": GREY, "opacity": 0.13},
                "encoding": {
                    "x": _field(x, "x0"),
                    "x2": {"field": "x1"},
                    "y": _field(y, "y0"),
                    "y2": {"field": "y1"},
                },
            }
        )
        layers.append(
            {
                "data": _values(pd.DataFrame({"value": [lo_band, hi_band]})),
                "mark": {"type": "rule", "color": GREY, "strokeDash": [1, 2], "strokeWidth": 1},
                "encoding": {"y": y},
            }
        )
        layers.append(
            {
                "data": _values(
                    pd.DataFrame({"value": [hi_band], "session": [x_lo], "label": ["reliable-change band"]})
                ),
                "mark": {
                    "type": "text",
                    "align": "left",
                    "baseline": "bottom",
                    "dx": 3,
                    "dy": -2,
                    "fontSize": 10,
                    "color": GREY,
                },
                "encoding": {"x": x, "y": y, "text": {"field": "label", "type": "nominal"}},
            }
        )
    if not band.empty:
        band_data = _values(band[[c for c in ("session", "low", "high", "mid", "floor") if c in band]])
        layers.append(
            {
                "data": band_data,
                "mark": {"type": "area", "color": GREEN, "opacity": 0.16, "interpolate": "monotone"},
                "encoding": {
                    "x": x,
                    "y": _field(y, "low"),
                    "y2": {"field": "high"},
                    "tooltip": [
                        {"field": "session", "type": "quantitative", "title": "Session"},
                        {"field": "low", "type": "quantitative", "title": "Expected from", "format": ".1f"},
                        {"field": "high", "type": "quantitative", "title": "Expected to", "format": ".1f"},
                    ],
                },
            }
        )
        for edge in ("low", "high"):
            layers.append(
                {
                    "data": band_data,
                    "mark": {
                        "type": "line",
                        "color": GREEN,
                        "strokeWidth": 1,
                        "opacity": 0.8,
                        "interpolate": "monotone",
                    },
                    "encoding": {"x": x, "y": _field(y, edge)},
                }
            )
        for column, name, width_ in (("mid", EXPECTED, 1.5), ("floor", FLOOR, 1.2)):
            if (column == "mid" and has_mid) or (column == "floor" and has_floor):
                line = band.dropna(subset=[column])[["session", column]].rename(columns={column: "value"})
                layers.append(
                    {
                        "data": _values(line.assign(series=name)),
                        "mark": {"type": "line", "strokeWidth": width_, "interpolate": "monotone"},
                        "encoding": {"x": x, "y": y, "color": key["color"], "strokeDash": key["strokeDash"]},
                    }
                )
    if cut is not None:
        layers += _cutoff_layers(cut, x_hi, x, y, key, CUTOFF)
    layers += _score_layers(
        points,
        x,
        y,
        key,
        [
            {"field": "session", "type": "quantitative", "title": "Session"},
            {"field": "date", "type": "nominal", "title": "Date"},
            {"field": "value", "type": "quantitative", "title": measure.code, "format": f".{decimals}f"},
            {
                "field": "change",
                "type": "quantitative",
                "title": "Change since intake",
                "format": f"+.{decimals}f",
            },
        ],
    )
    if not marked.empty:
        layers.append(_marker_layer(marked, ALERT, x, y, key))

    subtitle: list[str] = []
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
    return {**_top(width, height, title or f"{measure.code} — {measure.name}", subtitle), "layer": layers}


def alliance_chart(
    scores: pd.DataFrame,
    measure: Measure,
    *,
    drops: pd.DataFrame | None = None,
    title: str | None = None,
    width: int | str = "container",
    height: int = 220,
) -> Spec:
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
    key = _key(series)
    last = int(points["session"].max())
    x, y = _x(int(points["session"].min()), last), _y(measure, title=f"{measure.code} (alliance)")
    layers: list[Spec] = []
    if cut is not None:
        layers += _cutoff_layers(cut, last, x, y, key, ALLIANCE_CUTOFF)
    layers += _score_layers(
        points,
        x,
        y,
        key,
        [
            {"field": "session", "type": "quantitative", "title": "Session"},
            {"field": "date", "type": "nominal", "title": "Date"},
            {
                "field": "value",
                "type": "quantitative",
                "title": measure.code,
                "format": f".{measure.decimals}f",
            },
            {
                "field": "change",
                "type": "quantitative",
                "title": "Change since last",
                "format": f"+.{measure.decimals}f",
            },
        ],
    )
    if not marked.empty:
        layers.append(_marker_layer(marked, DROP, x, y, key))
    subtitle = [f"Below {_fmt(cut, 2)} the alliance deserves a conversation."] if cut is not None else []
    return {**_top(width, height, title or f"{measure.code} — {measure.name}", subtitle), "layer": layers}


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


def _item_range(items: pd.DataFrame, measure: Measure) -> tuple[float, float]:
    lo = measure.item_min if measure.item_min is not None else float(items["score"].min())
    hi = measure.item_max if measure.item_max is not None else float(items["score"].max())
    return lo, hi


def item_heatmap(
    items: pd.DataFrame,
    measure: Measure,
    *,
    title: str | None = None,
    width: int | str = "container",
) -> Spec:
    """Item scores as a session-by-item grid; each cell prints its value, so colour is never needed to read it.

    ``items``: session, item, score (see ``items_long``). Darker cells are worse, whichever direction the
    measure runs.
    """
    if items is None or items.empty:
        raise ValueError("item_heatmap needs item scores")
    labels = _item_order(items, measure)
    lo, hi = _item_range(items, measure)
    worse_high = not measure.higher_is_better
    frame = items.copy()
    frame["label"] = frame["score"].map(lambda v: _fmt(v, measure.decimals))
    # Badness in 0..1 decides the text colour, so labels stay readable on dark and light cells.
    span = (hi - lo) or 1.0
    frame["bad"] = ((frame["score"] - lo) / span) if worse_high else ((hi - frame["score"]) / span)
    sessions = sorted(int(s) for s in frame["session"].unique())
    data = _values(frame)
    x = {
        "field": "session",
        "type": "ordinal",
        "title": "Session",
        "sort": sessions,
        "axis": {"labelAngle": 0},
    }
    y = {"field": "item", "type": "nominal", "title": None, "sort": labels}
    direction = "higher is better" if measure.higher_is_better else "higher is worse"
    cells = {
        "data": data,
        "mark": {"type": "rect", "stroke": "white", "strokeWidth": 1},
        "encoding": {
            "x": x,
            "y": y,
            "color": {
                "field": "score",
                "type": "quantitative",
                "title": f"Item score ({direction})",
                "scale": {"domain": [lo, hi], "range": _VIRIDIS[::-1] if worse_high else _VIRIDIS},
                "legend": {"orient": "bottom", "gradientLength": 180},
            },
            "tooltip": [
                {"field": "session", "type": "ordinal", "title": "Session"},
                {"field": "item", "type": "nominal", "title": "Item"},
                {"field": "score", "type": "quantitative", "title": "Score"},
            ],
        },
    }
    text = {
        "data": data,
        "mark": {"type": "text", "fontSize": 11},
        "encoding": {
            "x": x,
            "y": y,
            "text": {"field": "label", "type": "nominal"},
            "color": {"condition": {"test": "datum.bad > 0.55", "value": "white"}, "value": "black"},
        },
    }
    top = _top(
        width,
        max(90, 26 * len(labels)),
        title or f"{measure.code} items by session",
        ["Darker cells are worse; each cell shows its score."],
    )
    return {**top, "layer": [cells, text]}


def item_small_multiples(
    items: pd.DataFrame,
    measure: Measure,
    *,
    title: str | None = None,
    width: int = 160,
    columns: int = 4,
) -> Spec:
    """One small line chart per item on a shared scale, with the measure's item cutoff where it has one."""
    if items is None or items.empty:
        raise ValueError("item_small_multiples needs item scores")
    labels = _item_order(items, measure)
    lo, hi = _item_range(items, measure)
    y = {
        "field": "score",
        "type": "quantitative",
        "title": "Score",
        "scale": {"domain": [lo, hi], "nice": False},
    }
    x = {
        "field": "session",
        "type": "quantitative",
        "title": "Session",
        "axis": {"tickMinStep": 1, "format": "d"},
    }
    layers: list[Spec] = []
    if measure.item_cutoff is not None:
        layers.append(
            {
                "mark": {"type": "rule", "color": VERMILLION, "strokeDash": [8, 4]},
                "encoding": {"y": {"datum": measure.item_cutoff}},
            }
        )
    layers += [
        {"mark": {"type": "line", "color": BLUE, "strokeWidth": 2}, "encoding": {"x": x, "y": y}},
        {
            "mark": {"type": "point", "color": BLUE, "filled": True, "size": 40},
            "encoding": {
                "x": x,
                "y": y,
                "tooltip": [
                    {"field": "item", "type": "nominal", "title": "Item"},
                    {"field": "session", "type": "quantitative", "title": "Session"},
                    {"field": "score", "type": "quantitative", "title": "Score"},
                ],
            },
        },
    ]
    subtitle = (
        [f"Dashed line: item cutoff {_fmt(measure.item_cutoff, 2)}."]
        if measure.item_cutoff is not None
        else []
    )
    return {
        "$schema": SCHEMA,
        "data": _values(items),
        "title": {"text": title or f"{measure.code} items", "subtitle": subtitle, "anchor": "start"},
        "facet": {"field": "item", "type": "nominal", "title": None, "sort": labels},
        "columns": columns,
        "spec": {"width": width, "height": 110, "layer": layers},
    }
