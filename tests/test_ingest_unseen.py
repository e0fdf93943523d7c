"""Exports in the styles of the examples that the examples do not show: every row stored or reported.

Each file is written here (small, synthetic, invented codes); nothing is copied from ../shared/data.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from _exports import import_export, stored_ratings

from caseload.store import ratings


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


# ----------------------------------------------------------------------------- Qualtrics

QUALTRICS_META = [
    "StartDate",
    "EndDate",
    "Status",
    "IPAddress",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecordedDate",
    "ResponseId",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "ExternalReference",
    "LocationLatitude",
    "LocationLongitude",
    "DistributionChannel",
    "UserLanguage",
]
QUALTRICS_TEXT = [
    "Start Date",
    "End Date",
    "Response Type",
    "IP Address",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "Recorded Date",
    "Response ID",
    "Recipient Last Name",
    "Recipient First Name",
    "Recipient Email",
    "External Data Reference",
    "Location Latitude",
    "Location Longitude",
    "Distribution Channel",
    "User Language",
]
GAD7_QS = [f"Q5_{k}" for k in range(1, 8)]


def _qualtrics_gad7(import_id_row: bool) -> str:
    """A Qualtrics GAD-7 survey sent to a contact list: the client code is the contact's external reference."""

    def response(day: str, rid: str, ref: str, progress: str, answers: list[str]) -> list[str]:
        stamp = f"2026-01-{day} 10:05:01"
        return [
            stamp,
            stamp,
            "0",
            "",
            progress,
            "300",
            "1",
            stamp,
            rid,
            "",
            "",
            "",
            ref,
            "",
            "",
            "email",
            "EN",
        ]

    rows = [
        QUALTRICS_META + GAD7_QS,
        QUALTRICS_TEXT + [f"Over the last 2 weeks ... - item {k}" for k in range(1, 8)],
    ]
    if import_id_row:
        rows.append(
            [json.dumps({"ImportId": m.lower()}) for m in QUALTRICS_META]
            + [json.dumps({"ImportId": f"QID5_{k}"}) for k in range(1, 8)]
        )
    answers = [["1", "2", "1", "0", "3", "2", "1"], ["0", "0", "1", "0", "1", "2", "1"], ["2"] + [""] * 6]
    for (day, rid, ref, progress), a in zip(
        [
            ("05", "R_1a", "EXT-0107", "100"),
            ("12", "R_1b", "EXT-0107", "100"),
            ("13", "R_2a", "EXT-0219", "14"),
        ],
        answers,
        strict=True,
    ):
        rows.append(response(day, rid, ref, progress, a) + a)
    return _csv(rows)


def test_a_qualtrics_contact_list_survey_takes_the_client_code_from_the_external_reference(con, registry):
    report = import_export(con, registry, _qualtrics_gad7(import_id_row=True), "qualtrics_gad7.csv")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (3, 2, 1)
    assert stored_ratings(con) == [
        ("EXT-0107", "GAD7", 1, "2026-01-05", 10.0),
        ("EXT-0107", "GAD7", 2, "2026-01-12", 5.0),
    ]
    (err,) = report.errors
    assert (err.row, err.line, err.column, err.reason) == (3, 6, "Q5_2", "partial_items")
    assert "ResponseId" not in set(ratings(con).client_id)


def test_a_qualtrics_export_whose_import_id_row_was_deleted_reads_the_question_row_as_header(con, registry):
    report = import_export(con, registry, _qualtrics_gad7(import_id_row=False), "qualtrics_gad7_2rows.csv")
    # The question-text row ('Recipient Last Name' under RecipientLastName) is no data row: it neither
    # makes the file look as if it held names nor becomes a rejected row.
    assert not report.refused, report.refused_reason
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (3, 2, 1)
    assert [e.line for e in report.errors] == [5]
    assert len(ratings(con)) == 2
    assert report.mapping["sheets"][""]["header_rows"] == 2  # the import's record says what was skipped


# ----------------------------------------------------------------------------- identifiers

# Identifier headers as practices spell them, none of them exactly a word of the built-in list.
IDENTIFIER_HEADERS = {
    "Name des Klienten": "Lena Beispiel",
    "Vor- und Nachname": "Lena Beispiel",
    "Date of Birth (dd/mm/yyyy)": "03/04/1985",
    "Geburtstag": "03.04.1985",
    "Mobile Number": "0151 2345678",
    "Patient e-mail": "lena@example.org",
    "Address line 1": "Musterweg 12",
    "Krankenversicherungsnummer": "A123456789",
}


def _store_text(db) -> str:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        parts = []
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'VARCHAR[]')"
        ).fetchall():
            parts += [str(r[0]) for r in con.execute(f'select "{column}" from "{table}"').fetchall()]
    finally:
        con.close()
    return "\n".join(parts)


def test_identifier_columns_spelled_in_other_words_are_refused_and_dropped_on_request(tmp_path, capsys):
    from caseload.cli import main

    header = ["Klient-Code", "Sitzung", "Datum", "ORS", "SRS", *IDENTIFIER_HEADERS]
    lines = [header]
    for k, (day, ors, srs) in enumerate([("05.01.2026", "18,4", "36"), ("12.01.2026", "21,0", "37,5")], 1):
        lines.append(["K-301", str(k), day, ors, srs, *IDENTIFIER_HEADERS.values()])
    export = tmp_path / "praxis_mit_namen.csv"
    export.write_bytes("".join(";".join(cells) + "\r\n" for cells in lines).encode("cp1252"))
    db = tmp_path / "store.duckdb"

    assert main(["import", "--db", str(db), "--json", str(export)]) == 1
    refused_out = capsys.readouterr().out
    (report,) = json.loads(refused_out)
    assert report["refused"]
    for column in IDENTIFIER_HEADERS:
        assert repr(column) in report["refused_reason"], column

    assert main(["import", "--db", str(db), "--json", "--drop-identifiers", str(export)]) == 0
    dropped_out = capsys.readouterr().out
    (report,) = json.loads(dropped_out)
    assert (report["rows_read"], report["rows_imported"], report["records_added"]) == (2, 2, 4)
    assert set(report["dropped_columns"]) == set(IDENTIFIER_HEADERS)
    text = refused_out + dropped_out + _store_text(db)
    for value in ("Lena", "Beispiel", "1985", "0151", "lena@", "Musterweg", "A123456789"):
        assert value not in text, value


# ----------------------------------------------------------------------------- REDCap


def test_a_redcap_export_with_repeating_instruments_dates_each_rating_by_its_own_instrument(con, registry):
    phq = [f"phq9_{k}" for k in range(1, 10)]
    gad = [f"gad7_{k}" for k in range(1, 8)]
    header = [
        "record_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "consent_date",
        "reasons___1",
        "reasons___2",
        "registration_complete",
        "phq9_date",
        *phq,
        "phq9_total",
        "phq9_complete",
        "gad7_date",
        *gad,
        "gad7_total",
        "gad7_complete",
    ]
    blank_phq, blank_gad = [""] * 12, [""] * 10

    def base(record: str, instrument: str, instance: str) -> list[str]:
        return [record, instrument, instance, "site_a", "", "", "", ""]

    rows = [
        header,
        ["4101", "", "", "site_a", "2026-01-02", "1", "0", "2", *blank_phq, *blank_gad],
        [*base("4101", "phq9", "1"), "2026-01-05", *["1"] * 9, "9", "2", *blank_gad],
        [*base("4101", "phq9", "2"), "2026-01-19", *["0", "1"] * 4, "0", "4", "2", *blank_gad],
        [*base("4101", "gad7", "1"), *blank_phq, "2026-01-06", *["2"] * 7, "14", "2"],
        [*base("4102", "gad7", "1"), *blank_phq, "2026-01-07", *["3"] * 7, "22", "2"],  # above 21
    ]
    report = import_export(con, registry, _csv(rows), "redcap_repeating.csv")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (5, 3, 2)
    assert stored_ratings(con) == [
        ("4101", "GAD7", 1, "2026-01-06", 14.0),
        ("4101", "PHQ9", 1, "2026-01-05", 9.0),
        ("4101", "PHQ9", 2, "2026-01-19", 4.0),
    ]
    by_row = {e.row: e for e in report.errors}
    assert by_row[1].reason == "no_scores"  # the registration row holds no rating
    assert (by_row[5].column, by_row[5].value, by_row[5].reason) == ("gad7_total", "22", "out_of_range")


# ----------------------------------------------------------------------------- dates


def test_dates_in_excels_day_month_name_year_format_are_read(con, registry):
    text = "Client,Session Date,ORS\r\nM-1,5-Jan-26,18.5\r\nM-1,19-Jan-26,21.0\r\nM-2,2-Feb-26,30\r\n"
    report = import_export(con, registry, text, "excel_dmmmyy.csv")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (3, 3, 0)
    assert stored_ratings(con) == [
        ("M-1", "ORS", 1, "2026-01-05", 18.5),
        ("M-1", "ORS", 2, "2026-01-19", 21.0),
        ("M-2", "ORS", 1, "2026-02-02", 30.0),
    ]


# ----------------------------------------------------------------------------- workbooks


def _xlsx(rows: list[list[object]], title: str = "ORS Tracker") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    notes = wb.active
    notes.title = "How to use"
    notes.append(["Type the date and the ORS total after each session."])
    ws = wb.create_sheet(title)
    for row in rows:
        ws.append(row)
    ws.merge_cells("A1:H1")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _tracker(second_client_dates: list[object]) -> bytes:
    from datetime import datetime

    return _xlsx(
        [
            ["Outcome tracker – Praxis Nord"],
            ["Therapist: T9", None, None, "exported 01.02.2026"],
            ["Client", None, "Date_1", "ORS_1", "Date_2", "ORS_2", "Date_3", "ORS_3"],
            # leading zeros kept; a decimal comma and padding in text cells; a date serial number
            ["007", None, datetime(2026, 1, 5), "18,5", datetime(2026, 1, 12), " 20.0 ", 46041, 22],
            [3105, None, second_client_dates[0], 12, second_client_dates[1], 14.5, None, None],
        ]
    )


def test_a_hand_made_wide_tracker_workbook_reads_every_client_and_session(con, registry):
    from datetime import datetime

    report = import_export(
        con, registry, _tracker([datetime(2026, 1, 6), datetime(2026, 1, 13)]), "tracker.xlsx"
    )
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (2, 2, 0)
    assert stored_ratings(con) == [
        ("007", "ORS", 1, "2026-01-05", 18.5),
        ("007", "ORS", 2, "2026-01-12", 20.0),
        ("007", "ORS", 3, "2026-01-19", 22.0),
        ("3105", "ORS", 1, "2026-01-06", 12.0),
        ("3105", "ORS", 2, "2026-01-13", 14.5),
    ]
    assert any("How to use" in w for w in report.warnings)


def test_text_dates_typed_among_date_cells_are_read_in_their_own_format(con, registry):
    report = import_export(con, registry, _tracker(["06/01/2026", "13/01/2026"]), "tracker_text_dates.xlsx")
    assert [(e.row, e.column, e.value) for e in report.errors] == []
    assert ("3105", "ORS", 2, "2026-01-13", 14.5) in stored_ratings(con)


# Phone numbers as notes hold them; each is the only identifier in its row.
PHONES_IN_NOTES = [
    "Rückruf unter +49 30 1234567",
    "mobil 01512345678",
    "Praxis (030) 1234567",
    "Handy 0170/1234567",
    "über Mutter +49 (0)30 7654321",
    "AT: +43 1 5123456",
]


def test_phone_numbers_in_notes_in_every_usual_spelling_are_found_and_masked(con, registry):
    rows = [["Klient", "Sitzung", "Datum", "ORS", "Notiz"]]
    rows += [["K-9", str(k), f"{k + 4:02d}.01.2026", "20", note] for k, note in enumerate(PHONES_IN_NOTES, 1)]
    rows.append(["K-9", "9", "20.01.2026", "21", "ORS 18,5 -> 21; Termine 12.01., 19.01.; SRS 36/40"])
    text = "".join(";".join(r) + "\n" for r in rows)

    refused = import_export(con, registry, text, "notizen.csv")
    assert refused.refused
    (finding,) = refused.identifier_columns
    assert (finding["column"], finding["kind"]) == ("Notiz", "phone_in_text")
    assert finding["rows"] == list(range(1, len(PHONES_IN_NOTES) + 1))  # the score note is no phone

    kept = import_export(con, registry, text, "notizen.csv", drop_identifiers=True)
    assert (kept.rows_imported, kept.dropped_columns) == (len(PHONES_IN_NOTES) + 1, ["Notiz"])
    assert "1234567" not in json.dumps(kept.to_dict()) + json.dumps(refused.to_dict())


def test_masking_removes_every_phone_spelling_the_scan_finds():
    from caseload.ingest.privacy import mask

    for note in PHONES_IN_NOTES:
        masked = mask(note)
        assert "[phone number removed]" in masked and not any(ch.isdigit() for ch in masked), masked


# ----------------------------------------------------------------------------- OpenFIT skip flags


def test_a_score_under_a_skip_flag_is_reported_not_silently_dropped(con, registry):
    text = (
        "Client_ID,Session_ID,Session_Date,ORS_Skip,Total_ORS,SRS_Skip,Total_SRS\r\n"
        "K-51,1,2026-01-05,Y,20.0,N,36.0\r\n"  # ORS skipped, yet a total is there
        "K-51,2,2026-01-12,N,21.0,Y,\r\n"
    )
    report = import_export(con, registry, text, "openfit_skip.csv")
    # A skip flag and a score contradict each other (formats-and-norms: keep a skip flag distinct from a
    # score): neither is trusted, and the row says why; the row's SRS and the second session are stored.
    assert [(e.row, e.measure, e.column, e.value, e.reason) for e in report.errors] == [
        (1, "ORS", "Total_ORS", "20.0", "skipped_with_scores")
    ]
    assert "marked as skipped in column 'ORS_Skip'" in report.errors[0].message
    assert sorted((r[1], r[2]) for r in stored_ratings(con)) == [("ORS", 2), ("SRS", 1)]
    assert report.rows_read == report.rows_imported + report.rows_duplicate + report.rows_rejected


def test_a_fraction_among_whole_number_answers_is_rejected_and_a_ruler_score_is_not(con, registry):
    """PHQ-9 items are answer choices 0-3: 1.5 is no answer, and summing it would store a total of 10
    beside items adding up to 9.5. ORS marks are measured to a tenth, so 5.5 there is an ordinary score."""
    phq = ",".join(f"phq9_{k}" for k in range(1, 10))
    text = (
        f"client,date,{phq}\r\n"
        "P-1,2026-01-05,1,1,1.5,1,1,1,1,1,1\r\n"
        "P-1,2026-01-12,1,1,2.0,1,1,1,1,1,1\r\n"  # a whole number written with a decimal: fine
    )
    report = import_export(con, registry, text, "phq_fraction.csv")
    assert [(e.row, e.measure, e.column, e.value, e.reason) for e in report.errors] == [
        (1, "PHQ9", "phq9_3", "1.5", "not_whole")
    ]
    assert (
        "not a whole number; PHQ9 items are answered with a whole number from 0 to 3"
        in report.errors[0].message
    )
    assert stored_ratings(con) == [("P-1", "PHQ9", 1, "2026-01-12", 10.0)]  # numbered among stored dates

    ors = import_export(
        con, registry, "client,date,ORS1,ORS2,ORS3,ORS4\r\nO-1,2026-01-05,5.5,6.1,7,8\r\n", "ors.csv"
    )
    assert (ors.rows_imported, ors.errors) == (1, [])


def test_a_value_beyond_a_measures_items_in_shared_item_columns_is_reported(con, registry):
    """A long file shares item1..item9 between PHQ-9 and GAD-7 rows: a GAD-7 row with item8 filled has
    shifted items or the wrong measure name, and storing its first seven would hide that."""
    items = ",".join(f"item{k}" for k in range(1, 10))
    text = (
        f"client,date,measure,{items}\r\n"
        "A1,2026-01-05,PHQ9,1,1,1,1,1,1,1,1,1\r\n"
        "A1,2026-01-05,GAD7,1,1,1,1,1,1,1,2,\r\n"
        "A1,2026-01-12,GAD7,1,1,1,1,1,1,1,,\r\n"
    )
    report = import_export(con, registry, text, "shared_items.csv")
    assert [(e.row, e.measure, e.column, e.value, e.reason) for e in report.errors] == [
        (2, "GAD7", "item8", "2", "extra_items")
    ]
    assert report.errors[0].message.startswith("GAD7 has 7 items, yet column 'item8' beyond them holds '2'")
    assert [(r[1], r[3], r[4]) for r in stored_ratings(con)] == [
        ("GAD7", "2026-01-12", 7.0),
        ("PHQ9", "2026-01-05", 9.0),
    ]


def test_a_notes_column_with_phone_numbers_and_email_addresses_is_refused_naming_both(con, registry):
    text = (
        "Client,Session,Date,ORS,Notes\r\n"
        "N-1,1,2026-01-05,20,call back on 01512345678\r\n"
        "N-1,2,2026-01-12,22,wrote from mum.k@example.org\r\n"
        "N-1,3,2026-01-19,24,\r\n"
    )
    refused = import_export(con, registry, text, "notes.csv")
    assert refused.refused
    assert sorted((f["column"], f["kind"], tuple(f["rows"])) for f in refused.identifier_columns) == [
        ("Notes", "email_in_text", (2,)),
        ("Notes", "phone_in_text", (1,)),
    ]
    message = refused.refused_reason
    assert "'Notes' (e-mail" in message and "'Notes' (phone" in message and "example.org" not in message
    kept = import_export(con, registry, text, "notes.csv", drop_identifiers=True)
    assert (kept.rows_imported, kept.dropped_columns) == (3, ["Notes"])


def test_following_the_conflict_message_stores_the_later_exports_score_and_keeps_the_rest(con, registry):
    """The conflict message says: if this export is the correct one, undo the earlier import, then import
    this file again. Doing exactly that ends with the later export's ratings, nothing lost."""
    from caseload.ingest import undo_import

    head = "Client ID,Session,Date,ORS Total\n"
    first = import_export(con, registry, head + "A1,1,2026-01-05,20\nA1,2,2026-01-12,22\n", "jan.csv")
    later_text = head + "A1,1,2026-01-05,21\nA1,2,2026-01-12,22\nA1,3,2026-01-19,24\n"
    later = import_export(con, registry, later_text, "feb.csv")
    (error,) = later.errors
    assert error.reason == "conflict"
    assert "undo the earlier import, then import this file again" in error.message
    undo_import(con, first.import_id)
    again = import_export(con, registry, later_text, "feb.csv")
    assert (again.rows_imported, again.rows_duplicate, again.errors) == (1, 2, [])
    assert [(s, t) for _c, _m, s, _d, t in stored_ratings(con)] == [(1, 21.0), (2, 22.0), (3, 24.0)]


def test_a_score_typed_into_a_date_cell_is_reported_not_stored_as_a_session_in_1900(con, registry):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "ORS"
    ws.append(["Client", "Session", "Date", "ORS total"])
    for session, day, total in ((1, date(2026, 1, 5), 20), (2, 24, 22)):  # 24: a score in the date column
        ws.append(["E-1", session, day, total])
        ws.cell(ws.max_row, 3).number_format = "dd.mm.yyyy"
    buf = io.BytesIO()
    wb.save(buf)
    report = import_export(con, registry, buf.getvalue(), "dates.xlsx")
    assert [(e.row, e.column, e.value, e.reason) for e in report.errors] == [
        (2, "Date", "1900-01-24", "early_date")
    ]
    assert "before 1970" in report.errors[0].message
    assert stored_ratings(con) == [("E-1", "ORS", 1, "2026-01-05", 20.0)]


def test_a_saved_mapping_reads_next_months_file_whose_headers_differ_only_in_case(con, registry):
    """Signatures ignore letter case, so the saved mapping was found, then its column check failed on
    'KENNUNG' against 'Kennung' and the file was refused as unrecognised."""
    mapping = {
        "client_id": "Kennung",
        "session_date": "Tag",
        "measures": [{"measure": "ORS", "total": "Punkte"}],
    }
    import_export(con, registry, "Kennung,Tag,Punkte\nX1,05.01.2026,20\n", "jan.csv", mapping=mapping)
    later = import_export(con, registry, "KENNUNG,TAG,PUNKTE\nX1,12.01.2026,22.5\n", "feb.csv")
    assert later.mapping["sources"] == {"": "saved"}
    assert (later.rows_imported, later.errors) == (1, [])
    assert [(c, s, d, t) for c, _m, s, d, t in stored_ratings(con)] == [
        ("X1", 1, "2026-01-05", 20.0),
        ("X1", 2, "2026-01-12", 22.5),
    ]
