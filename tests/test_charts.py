"""The client charts: what each layer draws, read back from the Vega-Lite spec, that the spec is valid
Vega-Lite, and that Vega can render it."""

from __future__ import annotations

import pandas as pd
import pytest

from caseload import charts


def _layers(spec: dict) -> tuple[list[dict], dict]:
    return spec["layer"], spec.get("datasets", {})


def _rows(layer: dict, datasets: dict) -> list[dict]:
    data = layer["data"]
    return data["values"] if "values" in data else datasets[data["name"]]


def _mark(layer: dict) -> str:
    mark = layer["mark"]
    return mark if isinstance(mark, str) else mark["type"]


def _scores(values, start=1):
    return pd.DataFrame(
        {
            "session": range(start, start + len(values)),
            "score": values,
            "date": pd.date_range("2026-01-05", periods=len(values), freq="7D"),
        }
    )


def _rule_values(layers, datasets) -> list[float]:
    return [
        row["value"]
        for layer in layers
        if _mark(layer) == "rule" and layer.get("encoding", {}).get("color")
        for row in _rows(layer, datasets)
    ]


def test_outcome_chart_draws_the_cutoff_for_the_clients_age_group(registry):
    ors = registry["ORS"]
    adult, _ = _layers(charts.outcome_chart(_scores([18, 20, 22]), ors))
    teen_layers, teen_data = _layers(charts.outcome_chart(_scores([18, 20, 22]), ors, age_group="adolescent"))
    assert _rule_values(*_layers(charts.outcome_chart(_scores([18, 20, 22]), ors))) == [25]
    assert _rule_values(teen_layers, teen_data) == [28]
    texts = [r["label"] for layer in teen_layers if _mark(layer) == "text" for r in _rows(layer, teen_data)]
    assert "cutoff 28" in texts


def test_reliable_change_band_spans_intake_plus_minus_the_threshold_clipped_to_the_range(registry):
    layers, data = _layers(charts.outcome_chart(_scores([37.5, 38, 39]), registry["ORS"]))
    rect = next(layer for layer in layers if _mark(layer) == "rect")
    row = _rows(rect, data)[0]
    assert (row["y0"], row["y1"]) == (32.5, 40)  # 37.5 + 5 is clipped to the ORS maximum 40


def test_expected_band_is_drawn_with_a_caption_naming_model_and_n(registry):
    expected = pd.DataFrame(
        {
            "session": [1, 2, 3, 4],
            "low": [17, 18, 19, 20],
            "median": [19, 21, 22, 23],
            "high": [21, 23, 25, 26],
        }
    )
    chart = charts.outcome_chart(
        _scores([18, 19]),
        registry["ORS"],
        expected=expected,
        expected_caption="Expected: intake-matched model, n = 412",
    )
    spec = chart
    assert any("n = 412" in line for line in spec["title"]["subtitle"])
    area = next(layer for layer in spec["layer"] if _mark(layer) == "area")
    rows = area["data"]["values"]
    assert [r["session"] for r in rows] == [1, 2, 3, 4]  # up to two sessions past the latest rating
    assert "Expected (median)" in spec["layer"][-1]["encoding"]["color"]["scale"]["domain"]


def test_alerts_are_marked_at_the_session_where_they_fired_with_their_words(registry):
    alerts = pd.DataFrame(
        {"session": [3, 3, 9], "message": ["Below expected range", "No reliable change", "gone"]}
    )
    layers, data = _layers(charts.outcome_chart(_scores([20, 19, 17, 18]), registry["ORS"], alerts=alerts))
    marker = layers[-1]
    rows = _rows(marker, data)
    assert [(r["session"], r["value"]) for r in rows] == [(3, 17)]  # session 9 has no score: not drawn
    assert rows[0]["message"] == "Below expected range · No reliable change"
    assert marker["encoding"]["shape"]["scale"]["range"][-1] == "triangle-down"


def test_every_series_differs_by_dash_or_shape_not_colour_alone(registry):
    expected = pd.DataFrame({"session": [1, 2], "low": [17, 18], "median": [19, 21], "high": [21, 23]})
    alerts = pd.DataFrame({"session": [2], "message": ["x"]})
    spec = charts.outcome_chart(_scores([18, 19]), registry["ORS"], expected=expected, alerts=alerts)
    dashes = next(
        layer["encoding"]["strokeDash"]["scale"]
        for layer in spec["layer"]
        if "strokeDash" in layer["encoding"]
    )
    shapes = next(
        layer["encoding"]["shape"]["scale"] for layer in spec["layer"] if "shape" in layer["encoding"]
    )
    domain = dashes["domain"]
    assert shapes["domain"] == domain
    looks = {(str(dash), shape) for dash, shape in zip(dashes["range"], shapes["range"], strict=True)}
    assert domain == ["Client's score", "Expected (median)", "Clinical cutoff", "Alert"]
    assert len(looks) == len(domain)


def test_tooltips_carry_session_date_score_and_change_since_intake(registry):
    layers, data = _layers(charts.outcome_chart(_scores([18.2, 24.3]), registry["ORS"]))
    points = next(layer for layer in layers if _mark(layer) == "point")
    assert [t["title"] for t in points["encoding"]["tooltip"]] == [
        "Session",
        "Date",
        "ORS",
        "Change since intake",
    ]
    assert [round(r["change"], 1) for r in _rows(points, data)] == [0.0, 6.1]
    assert _rows(points, data)[1]["date"] == "2026-01-12"


def test_a_symptom_measure_is_labelled_higher_is_worse(registry):
    spec = charts.outcome_chart(_scores([18, 12, 8]), registry["PHQ9"])
    y_titles = {
        layer["encoding"]["y"].get("title") for layer in spec["layer"] if "y" in layer.get("encoding", {})
    }
    assert "PHQ9 total (higher is worse)" in y_titles


def test_a_single_rating_still_gives_a_chart_with_a_usable_axis(registry):
    spec = charts.outcome_chart(_scores([18]), registry["ORS"])
    points = next(layer for layer in spec["layer"] if _mark(layer) == "point")
    assert points["encoding"]["x"]["scale"]["domain"] == [1, 2]


def test_no_scores_is_refused_rather_than_drawn_empty(registry):
    with pytest.raises(ValueError):
        charts.outcome_chart(_scores([]), registry["ORS"])
    with pytest.raises(ValueError):
        charts.alliance_chart(_scores([]), registry["SRS"])


def test_alliance_chart_draws_its_cutoff_and_marks_drops(registry):
    drops = pd.DataFrame({"session": [3], "message": ["Fell 3.5 points"]})
    layers, data = _layers(charts.alliance_chart(_scores([38, 39, 35.5, 37]), registry["SRS"], drops=drops))
    assert _rule_values(layers, data) == [36]
    marker = _rows(layers[-1], data)
    assert [(r["session"], r["value"], r["message"]) for r in marker] == [(3, 35.5, "Fell 3.5 points")]
    points = next(layer for layer in layers if _mark(layer) == "point")
    assert [r["change"] for r in _rows(points, data)][1:] == [1.0, -3.5, 1.5]


def test_item_rows_follow_the_measures_item_order_and_skip_missing_items(registry):
    sessions = pd.DataFrame(
        {"session": [1, 2, 3], "items": [[5.1, 4.0, 6.2, 3.3], None, [6.0, float("nan"), 7.1, 4.4]]}
    )
    items = charts.items_long(sessions, registry["ORS"])
    assert list(items["item"][:4]) == ["Individual", "Interpersonal", "Social", "Overall"]
    assert len(items) == 7
    assert charts.items_long(sessions.drop(columns="items"), registry["ORS"]).empty


@pytest.mark.parametrize(("code", "darkest_at"), [("ORS", "low"), ("PHQ9", "high")])
def test_heat_map_makes_worse_scores_darker_whichever_way_the_measure_runs(registry, code, darkest_at):
    measure = registry[code]
    items = pd.DataFrame(
        {"session": [1, 1], "item": list((measure.item_labels or measure.items)[:2]), "score": [0.0, 2.0]}
    )
    spec = charts.item_heatmap(items, measure)
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    darkest = "#440154"
    assert (scale["range"][0] == darkest) == (darkest_at == "low")
    assert scale["domain"] == [measure.item_min, measure.item_max]
    texts = [layer for layer in spec["layer"] if _mark(layer) == "text"]
    assert texts, "every cell prints its value"


def test_item_small_multiples_show_the_item_cutoff(registry):
    items = pd.DataFrame({"session": [1, 2], "item": ["Relationship", "Relationship"], "score": [9.5, 8.0]})
    spec = charts.item_small_multiples(items, registry["SRS"])
    assert spec["spec"]["layer"][0]["encoding"]["y"]["datum"] == registry["SRS"].item_cutoff


def _every_chart(registry) -> list[dict]:
    expected = pd.DataFrame(
        {
            "session": [1, 2, 3],
            "low": [17, 18, 19],
            "median": [19, 21, 22],
            "high": [21, 23, 25],
            "floor": [15, 16, 17],
        }
    )
    marks = pd.DataFrame({"session": [2], "message": ["x"]})
    items = pd.DataFrame({"session": [1, 2], "item": ["Individual", "Individual"], "score": [4.0, 5.5]})
    return [
        charts.outcome_chart(_scores([18, 19, 17]), registry["ORS"], expected=expected, alerts=marks),
        charts.outcome_chart(_scores([18]), registry["PHQ9"], width=500),
        charts.alliance_chart(_scores([38, 34.5]), registry["SRS"], drops=marks),
        charts.item_heatmap(items, registry["ORS"]),
        charts.item_small_multiples(items, registry["SRS"]),
    ]


def test_every_chart_is_valid_vega_lite(registry):
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()
    for spec in _every_chart(registry):
        validate_jsonschema(spec, schema)  # raises on any invalid property


def test_charts_render_offline_to_png(registry):
    vlc = pytest.importorskip("vl_convert")
    expected = pd.DataFrame(
        {"session": [1, 2, 3], "low": [17, 18, 19], "median": [19, 21, 22], "high": [21, 23, 25]}
    )
    chart = charts.outcome_chart(
        _scores([18, 19, 17]),
        registry["ORS"],
        expected=expected,
        alerts=pd.DataFrame({"session": [3], "message": ["x"]}),
        width=600,
    )
    png = vlc.vegalite_to_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_items_given_as_a_dict_of_item_codes_are_named_by_their_neutral_labels(registry):
    sessions = pd.DataFrame(
        {
            "session": [1, 2],
            "items": [{"individual": 5.0, "interpersonal": 4.0, "social": None, "overall": 3.0}, None],
        }
    )
    items = charts.items_long(sessions, registry["ORS"])
    assert list(items["item"]) == ["Individual", "Interpersonal", "Overall"]
    assert list(items["score"]) == [5.0, 4.0, 3.0]


def test_the_off_track_line_is_drawn_when_the_band_has_a_floor(registry):
    expected = pd.DataFrame(
        {
            "session": [1, 2, 3],
            "low": [18, 19, 20],
            "median": [18, 21, 22],
            "high": [18, 23, 25],
            "floor": [18, 17, 18],
        }
    )
    spec = charts.outcome_chart(_scores([18, 16]), registry["ORS"], expected=expected)
    lines = [layer for layer in spec["layer"] if _mark(layer) == "line" and "strokeDash" in layer["encoding"]]
    floors = [layer for layer in lines if layer["data"]["values"][0]["series"] == charts.FLOOR]
    assert [r["value"] for r in floors[0]["data"]["values"]] == [18, 17, 18]
