"""Hardening: formula-injection-safe exports, upload checks before parsing, safe names, server config."""

from __future__ import annotations

import io
import tomllib
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from caseload import safety

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("x")', "-5 ", "-5+1", "+49 30 1234"],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_apostrophe(text):
    assert safety.neutralise_cell(text) == "'" + text
    assert safety.needs_neutralising(text)


@pytest.mark.parametrize("value", ["C001", "T-01", "a=b", "", -3.5, 12, None, True, "-5", "+2,5", "-1.5e3"])
def test_ordinary_codes_and_numbers_are_left_alone(value):
    assert safety.neutralise_cell(value) == value


def test_a_whole_frame_is_neutralised_for_csv_writers_including_headers():
    frame = pd.DataFrame(
        {"client_id": ["=cmd|' /C calc'!A0", "C002"], "total": [-3.0, 12.0], "=x": ["a", "b"]}
    )
    safe = safety.neutralise_frame(frame)
    assert safe["client_id"].tolist() == ["'=cmd|' /C calc'!A0", "C002"]
    assert safe["total"].tolist() == [-3.0, 12.0]
    assert list(safe.columns) == ["client_id", "total", "'=x"]
    assert frame["client_id"][0].startswith("=")  # the input is not changed


def test_an_upload_over_the_size_limit_is_refused_with_file_and_limit():
    with pytest.raises(safety.UnsafeUpload, match=r"big\.csv: 2\.0 MB is more than the 1 MB"):
        safety.check_upload(b"x" * (2 * 2**20), "big.csv", limit=2**20)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_a_workbook_with_thousands_of_parts_is_refused_unread():
    data = _zip({f"xl/worksheets/sheet{i}.xml": b"<x/>" for i in range(1_200)})
    with pytest.raises(safety.UnsafeUpload, match="1,200 parts"):
        safety.check_upload(data, "many.xlsx")


def test_a_zip_bomb_is_refused_before_it_is_decompressed():
    data = _zip({"xl/worksheets/sheet1.xml": b"\0" * (60 * 2**20)})  # 60 MB of zeros, ~60 KB packed
    assert len(data) < 2**20
    with pytest.raises(safety.UnsafeUpload, match="possible zip bomb"):
        safety.check_upload(data, "bomb.xlsx")
    with pytest.raises(safety.UnsafeUpload, match="unpack to"):
        safety.check_workbook_zip(data, "bomb.xlsx", max_unzipped=50 * 2**20)


def test_a_damaged_zip_is_refused_with_a_message():
    with pytest.raises(safety.UnsafeUpload, match="damaged spreadsheet"):
        safety.check_upload(b"PK\x03\x04" + b"garbage" * 100, "broken.xlsx")


def test_a_normal_workbook_passes(tmp_path):
    frame = pd.DataFrame({"client_id": ["C1"], "total": [20.0]})
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    safety.check_upload(buffer.getvalue(), "ok.xlsx")


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\jane\\export.csv", "export.csv"),
        ("report\x00.csv\n", "report.csv"),
        ("", "upload"),
    ],
)
def test_uploaded_names_are_only_shown_never_used_as_paths(raw, shown):
    assert safety.display_name(raw) == shown


def test_download_names_use_only_safe_characters():
    assert safety.download_name("../C001", "summary", suffix="pdf") == "C001_summary.pdf"
    assert safety.download_name("C 0/0\\1", suffix=".x/lsx") == "C-0-0-1.xlsx"
    assert "/" not in safety.download_name("/", "..", suffix="csv")


def test_the_server_config_binds_to_localhost_with_xsrf_allowed_hosts_an_upload_limit_and_no_tracebacks():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert set(server["allowedHosts"]) <= {"localhost", "127.0.0.1"}
    assert server["maxUploadSize"] * 2**20 <= safety.MAX_UPLOAD_BYTES
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] in ("none", "type")


def test_the_app_command_binds_to_localhost_unless_told_otherwise():
    from caseload.cli import build_parser

    args = build_parser().parse_args(["app"])
    assert args.address == "127.0.0.1"
