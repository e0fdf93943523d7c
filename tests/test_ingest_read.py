"""Readers: the fast (pyarrow) CSV path gives exactly the grid the csv module gives, and odd files still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseload.ingest import read
from caseload.ingest.read import ImportError_, _read_csv_python, decode_text, read_grids, sniff_delimiter

EXPORTS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "exports"


def _both(data: bytes, name: str, monkeypatch):
    monkeypatch.setattr(read, "FAST_MIN_BYTES", 0)
    fast = read.read_csv_grid(data, name)
    text, encoding = decode_text(data, name)
    slow = _read_csv_python(text, name, encoding, sniff_delimiter(text))
    return fast, slow


@pytest.mark.parametrize("name", sorted(p.name for p in EXPORTS.glob("*.csv")) if EXPORTS.is_dir() else [])
def test_the_fast_csv_reader_gives_the_same_grid_as_the_csv_module(shared_data, name, monkeypatch):
    fast, slow = _both((shared_data / "exports" / name).read_bytes(), name, monkeypatch)
    assert fast.table.equals(slow.table)
    assert fast.delimiter == slow.delimiter


@pytest.mark.parametrize(
    "text",
    [
        'a,b\r\n1,"two\r\nlines"\r\n\r\n3,4\r\n',  # quoted newline and a blank line: line numbers still exact
        "a;b\n1;2\n\n\n3;4",  # no final newline
        "a,b\n1,2\n3\n",  # ragged: the csv module decides
        'a,b\n1,x"y\n',  # a stray quote inside a field
        "a,b\r1,2\r",  # old Mac line ends
        "\ufeffa,b\n1,2\n",  # BOM
    ],
)
def test_odd_but_readable_csv_gives_the_same_rows_either_way(text, monkeypatch):
    fast, slow = _both(text.encode("utf-8"), "odd.csv", monkeypatch)
    # Empty lines are no rows for pyarrow and empty records for the csv module: both are blank, not data.
    assert _filled(fast) == _filled(slow)


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n3,4\n",  # no quotes, no blank lines: record k is on line k
        "a,b\n1,2\n3,4",  # the same without a final newline
        "\ufeffa;b\n1;2\n",  # after a BOM
        "\na,b\n1,2\n",  # a leading blank line: lines counted from the bytes instead
        "a,b\n1,2\n\n3,4\n",  # a blank line in the middle
        "a,b\r\n1,2\r\n3,4\r\n",  # Windows line ends
    ],
)
def test_well_formed_csv_gives_the_same_grid_and_physical_lines_either_way(text, monkeypatch):
    fast, slow = _both(text.encode("utf-8"), "plain.csv", monkeypatch)
    assert _filled(fast) == _filled(slow)
    assert [line for line, _cells in _filled(fast)] == [
        n for n, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1) if raw.strip()
    ]


def _filled(grid) -> list[tuple[int, list[str | None]]]:
    return [(line, cells) for line, cells in grid.head(100) if any(cells)]


def test_windows_1252_text_reads_with_its_special_characters(monkeypatch):
    data = "Klient;Wert;Bemerkung\nKL-1;27,4;„gut“ – 5 €\n".encode("cp1252")
    fast, slow = _both(data, "de.csv", monkeypatch)
    assert fast.table.equals(slow.table)
    assert slow.table.column("c2").to_pylist()[1] == "„gut“ – 5 €"


def test_a_csv_with_a_nul_byte_is_refused_as_binary():
    with pytest.raises(ImportError_, match="binary"):
        read_grids(b"a,b\n1,\x002\n" * 100_000, "x.csv")


def test_a_workbook_cell_reads_as_the_text_a_person_sees(tmp_path):
    from datetime import date

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Client", "Date", "Total", "Note"])
    ws.append([3105, date(2026, 1, 5), 27.4, "seen twice"])
    ws.append(["007", date(2026, 1, 12), 30, None])
    path = tmp_path / "w.xlsx"
    wb.save(path)
    (grid,) = read_grids(path.read_bytes(), "w.xlsx")
    rows = grid.head(5)
    assert rows[1] == (2, ["3105", "2026-01-05", "27.4", "seen twice"])
    assert rows[2] == (3, ["007", "2026-01-12", "30", ""])


@pytest.mark.parametrize(
    "data",
    [
        b"client,notes,total\nC1,a@b.org,7.4\nC2, padded ,8\n",
        b'client,total\nC1,"7,4"\nC2,"line\nbreak"\n',
        b"client;total\nC1;7,4\nC2;\xa08\xa0\n",  # Windows-1252: a no-break space is the byte A0
        "client;total\nC1;7,4\nC2;\u00a08\n".encode(),  # UTF-8: C2 A0
        b"client\tnotes\tscore\nC1\tx y\t5\n",
        b"client,total\r\nC1,5\r\nC2,6\r\n",
    ],
)
def test_the_bytes_a_grid_says_no_cell_holds_are_in_no_cell(data, monkeypatch):
    monkeypatch.setattr(read, "FAST_MIN_BYTES", 0)
    grid = read.read_csv_grid(data, "x.csv")
    cells = [
        v for name in grid.table.column_names if name != "_line" for v in grid.table.column(name).to_pylist()
    ]
    chars = {b" ": " ", b"\t": "\t", b"\n": "\n", b"\r": "\r", b",": ",", b"@": "@", b"\xa0": "\u00a0"}
    for byte in grid.absent:
        char = chars[byte] if byte in chars else byte.decode("ascii")
        assert not any(char in (v or "") for v in cells), (byte, cells)
    held = {b for b, ch in chars.items() if any(ch in (v or "") for v in cells)}
    assert not held & grid.absent


def test_a_large_file_is_still_trimmed_and_read_with_decimal_commas_and_checked_for_addresses(
    con, registry, monkeypatch
):
    from datetime import date

    from caseload.ingest import import_file

    monkeypatch.setattr(read, "FAST_MIN_BYTES", 0)  # the pyarrow reader, as for a large file
    commas = 'client,date,measure,q1,q2,q3,q4\nC1,2026-01-05,ORS,"7,5",5,5,5\nC2, 2026-01-05 ,ORS,1,1,1,1\n'
    report = import_file(con, commas.encode(), file_name="c.csv", registry=registry, today=date(2026, 6, 1))
    assert (report.rows_imported, report.rows_rejected) == (2, 0)
    totals = dict(con.execute("select client_id, total from ratings").fetchall())
    assert totals == {"C1": 22.5, "C2": 4.0}
    mails = "client,date,measure,q1,q2,q3,q4,note\nC3,2026-01-05,ORS,1,1,1,1,ask ann@example.org\n"
    refused = import_file(con, mails.encode(), file_name="m.csv", registry=registry, today=date(2026, 6, 1))
    assert refused.refused and "note" in refused.refused_reason
