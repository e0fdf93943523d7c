"""The audit trail holds who did what and when, and never more than a client code (caseload.audit)."""

from __future__ import annotations

from datetime import datetime

import pytest

from caseload import audit


def test_an_entry_records_who_did_what_to_which_client_and_when(con):
    audit.record(con, "ann", "view_client", client_id="C001", at=datetime(2026, 11, 1, 9, 30))
    audit.record(con, "ann", "export", format="xlsx", rows=42, at=datetime(2026, 11, 1, 9, 31))
    frame = audit.entries(con)
    assert frame["action"].tolist() == ["export", "view_client"]  # newest first
    assert frame["what"].tolist() == ["exported data", "viewed a client"]
    assert frame.loc[1, "client_id"] == "C001"
    assert frame.loc[0, "detail"] == '{"format": "xlsx", "rows": 42}'
    assert frame.loc[1, "logged_at"] == datetime(2026, 11, 1, 9, 30)


def test_entries_can_be_filtered_by_user_action_client_and_time(con):
    audit.record(con, "ann", "view_client", client_id="C001", at=datetime(2026, 11, 1))
    audit.record(con, "bob", "view_client", client_id="C101", at=datetime(2026, 11, 2))
    audit.record(con, "bob", "import", import_id=3, rows=10, at=datetime(2026, 11, 3))
    assert audit.entries(con, username="bob")["action"].tolist() == ["import", "view_client"]
    assert audit.entries(con, action="view_client")["client_id"].tolist() == ["C101", "C001"]
    assert audit.entries(con, client_id="C001")["username"].tolist() == ["ann"]
    assert len(audit.entries(con, since=datetime(2026, 11, 2))) == 2
    assert len(audit.entries(con, limit=1)) == 1


@pytest.mark.parametrize(
    "detail",
    [
        {"file": "Smith, John - sessions.csv"},  # a file name may carry a person's name
        {"note": "client said she feels worse"},
        {"names": ["Jane Doe"]},
        {"Bad-Key": 1},
        {"row": {"nested": 1}},
    ],
)
def test_free_text_and_file_names_are_never_audited(con, detail):
    with pytest.raises(audit.AuditError):
        audit.record(con, "ann", "import", **detail)
    assert audit.entries(con).empty


def test_only_client_codes_are_accepted_as_the_client(con):
    with pytest.raises(audit.AuditError):
        audit.record(con, "ann", "view_client", client_id="Jane Doe")
    with pytest.raises(audit.AuditError, match="unknown audit action"):
        audit.record(con, "ann", "read_notes")
    assert audit.entries(con).empty


def test_every_action_has_a_plain_description():
    assert all(text and text[0].islower() for text in audit.ACTIONS.values())
