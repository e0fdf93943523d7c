"""The Import page in AppTest: opened on a store of its own, and its widgets, figures and text read back."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "views/import_data.py"


def import_page(monkeypatch, db: Path) -> AppTest:  # noqa: ANN001 - pytest's monkeypatch
    """The Import page of app.py on the store file ``db``."""
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def widget(at: AppTest, suffix: str):
    """The mapping editor's widget whose key ends with this suffix (keys carry the upload's id)."""
    for box in at.selectbox:
        if box.key and box.key.endswith(suffix):
            return box
    raise AssertionError(f"no selectbox with a key ending in {suffix!r}")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def page_text(at: AppTest, choices: bool = False) -> str:
    """Everything the page shows as text: messages and tables (with their headers), and with ``choices``
    the options of its select boxes too."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "subheader"):
        parts += [str(e.value) for e in at.get(kind)]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    if choices:
        for box in [*at.selectbox, *at.multiselect]:
            parts += [str(o) for o in box.options]
    return "\n".join(parts)


def map_by_hand(at: AppTest, client_id: str, session_date: str, measure: str, total: str) -> None:
    """Choose the client, date and one measure's total column in the mapping editor."""
    widget(at, "__client_id").select(client_id).run()
    widget(at, "__session_date").select(session_date).run()
    widget(at, "__m0_measure").select(measure).run()
    widget(at, "__m0_total").select(total).run()
