"""What a new user sees: the start screen of an empty store on every page, and the Measures & about page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from caseload.measures import load_measures

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(monkeypatch, tmp_path):
    """An AppTest of app.py on a fresh store file of its own."""
    monkeypatch.setenv("CASELOAD_DB", str(tmp_path / "store.duckdb"))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def test_an_empty_store_opens_on_a_start_screen_offering_sample_data_and_import(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "Caseload"
    assert "The store is empty" in at.info[0].value
    button = at.button(key="load_sample")
    assert button.label == "Load sample caseload"
    assert "synthetic" in button.help.lower()
    assert "**synthetic** clients" in _texts(at)
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["Import your export"]
    assert links[0].proto.page.endswith("import")


@pytest.mark.parametrize("page", ["views/client.py", "views/supervision.py"])
def test_other_pages_of_an_empty_store_show_the_same_start_screen_not_an_error(app, page):
    at = app.run()
    at.switch_page(page).run()
    assert not at.exception
    assert at.button(key="load_sample").label == "Load sample caseload"
    assert not at.get("vega_lite_chart")


def test_measures_page_lists_every_measure_with_its_sources_and_licence(app, registry):
    at = app.run()
    at.switch_page("views/measures.py").run()
    assert not at.exception
    assert at.title[0].value == "Measures & about"
    table = at.dataframe[0].value
    assert list(table["Code"]) == list(registry)
    ors = table.set_index("Code").loc["ORS"]
    assert ors["Clinical cutoff"] == "25" and "adolescent 28" in ors["Cutoffs by age"]
    assert ors["Reliable change"] == "5 (≥)"
    labels = [e.label for e in at.expander]
    assert "ORS — Outcome Rating Scale" in labels
    text = _texts(at)
    assert "Miller & Duncan" in text  # the ORS licence note
    assert "Kroenke et al. 2001" in text  # a PHQ-9 source


def test_measures_page_says_where_the_store_is_and_how_to_choose_another(app, tmp_path):
    at = app.run()
    at.switch_page("views/measures.py").run()
    text = _texts(at)
    assert str(tmp_path / "store.duckdb") in text
    assert "--db" in text and "CASELOAD_DB" in text
    assert "0 ratings of 0 clients" in text


def test_a_measures_file_from_the_environment_is_used_and_named(app, monkeypatch, tmp_path):
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[measures.HAMD]\nname = "Hamilton Depression Rating Scale"\nkind = "outcome"\n'
        "higher_is_better = false\nmin = 0\nmax = 52\ncutoff = 19.9\nreliable_change = 6.0\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CASELOAD_MEASURES", str(extra))
    at = app.run()
    at.switch_page("views/measures.py").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("Code")
    assert table.loc["HAMD", "Clinical cutoff"] == "19.9"
    assert table.loc["HAMD", "Origin"] == "extra.toml"
    assert str(extra) in _texts(at)
    assert list(table.index) == [*load_measures(), "HAMD"][: len(table)]


def test_a_broken_measures_file_is_explained_instead_of_crashing(app, monkeypatch, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[measures.X]\nname = 'x'\n", encoding="utf-8")
    monkeypatch.setenv("CASELOAD_MEASURES", str(bad))
    at = app.run()
    assert not at.exception
    assert "measures file cannot be used" in at.error[0].value
    assert "bad.toml" in at.error[0].value


def test_a_store_that_cannot_be_opened_is_explained_instead_of_crashing(app, monkeypatch, tmp_path):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database" * 200)
    monkeypatch.setenv("CASELOAD_DB", str(junk))
    at = app.run()
    assert not at.exception
    assert "junk.duckdb" in at.error[0].value
