"""The guide panel on the Client page and the print view of the client summary, through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from _stores import sample_store
from streamlit.testing.v1 import AppTest

from caseload.engine import caseload_overview, client_detail
from caseload.guide import discussion_guide
from caseload.measures import load_measures
from caseload.reports.client_summary import JARGON
from caseload.store import connect

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return sample_store(tmp_path_factory.mktemp("sample") / "sample.duckdb")


@pytest.fixture(scope="module")
def risk_client(sample_db) -> tuple[str, dict]:
    """A client of the sample with a risk alert (so the guide opens with safety prompts), and its detail."""
    con = connect(sample_db)
    try:
        registry = load_measures()
        overview = caseload_overview(con, registry)
        with_risk = overview[overview["alerts"].map(lambda a: any(x["rule"] == "risk_item" for x in a))]
        client_id = str((with_risk if not with_risk.empty else overview)["client_id"].iloc[0])
        return client_id, client_detail(con, registry, client_id)
    finally:
        con.close()


def _open(db: Path, monkeypatch, page: str, **params: str) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def test_the_client_page_lists_the_guide_with_a_checkbox_per_prompt(sample_db, risk_client, monkeypatch):
    client_id, detail = risk_client
    guide = discussion_guide(detail, load_measures())
    at = _open(sample_db, monkeypatch, "views/client.py", client=client_id)
    assert not at.exception
    boxes = [c for c in at.checkbox if c.key and c.key.startswith("guide_")]
    assert [c.label for c in boxes] == [p.clinician for p in guide]
    assert [c.value for c in boxes] == [p.section == "risk" for p in guide]
    assert len(at.get("download_button")) == 1
    assert f"{sum(p.section == 'risk' for p in guide)} of {len(guide)} prompts ticked." in _texts(at)
    # Ticking a prompt is remembered and counted.
    option = next(i for i, p in enumerate(guide) if p.section == "option")
    boxes[option].check().run()
    assert f"{sum(p.section == 'risk' for p in guide) + 1} of {len(guide)} prompts ticked." in _texts(at)


def test_the_print_view_shows_the_summary_with_the_chosen_topics_and_no_identifier(
    sample_db, risk_client, monkeypatch
):
    client_id, detail = risk_client
    registry = load_measures()
    guide = discussion_guide(detail, registry)
    chosen = [p for p in guide if p.section in ("question", "option")][:2]
    at = _open(
        sample_db,
        monkeypatch,
        "views/print_summary.py",
        client=client_id,
        prompts=",".join(p.id for p in chosen),
    )
    assert not at.exception
    text = _texts(at)
    assert "Your feedback summary" in text and f"Client code {client_id}" in text
    assert "Where you started and where you are" in text and "What we will talk about next" in text
    for p in chosen:
        assert p.client in text
    assert "@media print" in text and 'data-testid="stSidebar"' in text
    assert len(at.get("vega_lite_chart")) == 1
    clinician = str(detail["clinician_id"])
    visible = text.split("</style>")[-1]
    assert clinician not in visible.replace(client_id, "")
    lowered = visible.lower()
    for word in JARGON:
        assert word.lower() not in lowered, word


def test_the_print_view_without_a_client_says_where_to_start(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch, "views/print_summary.py")
    assert not at.exception
    assert "Open this view from a client's page" in at.info[0].value


def test_the_print_view_of_an_unknown_client_says_so(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch, "views/print_summary.py", client="NOBODY")
    assert not at.exception
    assert "There is no client “NOBODY”" in at.warning[0].value
