"""Defences for files Caseload writes or reads: spreadsheet formula injection and hostile uploads.

Every CSV and Excel export passes its text cells through ``neutralise_cell``. Uploads are checked for
size, and workbooks (zip containers) for entry count and unpacked size *before* any parser sees them.
An uploaded file's name or a sheet's name is only ever shown (via ``display_name``), never used as a
path; names of files Caseload writes come from ``download_name``.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from typing import Any

# A spreadsheet treats text starting with these as a formula (OWASP "CSV injection"); tab and CR too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ... except a plain signed number ("-5", "+2,5"), which a spreadsheet reads as that number.
_PLAIN_NUMBER = re.compile(r"[+-]\d+([.,]\d+)?([eE][+-]?\d+)?")

MAX_UPLOAD_BYTES = 50 * 2**20  # matches server.maxUploadSize = 50 in .streamlit/config.toml
MAX_ZIP_ENTRIES = 1_000  # a real xlsx has 10-50 parts; thousands mean a crafted file
MAX_UNZIPPED_BYTES = 1 << 30  # 1 GiB of XML is far beyond any rating export (1M rows are ~150 MB)
MAX_ENTRY_RATIO = 200  # a large entry compressed more than 200:1 is treated as a zip bomb
RATIO_FLOOR = 10 * 2**20  # small entries (styles, shared strings) may compress very well
MAX_NAME = 120


class UnsafeUpload(ValueError):
    """An uploaded file refused before parsing; the message names the file and the limit."""


def needs_neutralising(text: str) -> bool:
    """True for text that a spreadsheet would run as a formula."""
    return text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text)


def neutralise_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; anything else is unchanged.

    Numbers stay numbers (a negative score is not text), so only strings are touched; text holding just a
    signed number ("-5" as a rejected score) is left as it is too, so the download shows what the file held.
    """
    if isinstance(value, str) and needs_neutralising(value):
        return "'" + value
    return value


def neutralise_frame(frame):  # noqa: ANN001, ANN201 - pandas DataFrame in and out
    """A copy of a DataFrame with every text cell neutralised, for CSV/Excel writers of whole tables."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            out[column] = series.map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def display_name(file_name: str | None) -> str:
    """An uploaded file's or sheet's name made safe to show: last path part, no control characters, short."""
    text = str(file_name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.strip() or "upload"
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def download_name(*parts: str, suffix: str) -> str:
    """A file name for something Caseload writes, built only from [A-Za-z0-9._-] (e.g. client code + kind)."""
    cleaned = [re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip(".-") for p in parts]
    stem = "_".join(p for p in cleaned if p) or "caseload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix)
    return f"{stem[:MAX_NAME]}.{suffix}" if suffix else stem[:MAX_NAME]


def check_upload_size(data: bytes, file_name: str, limit: int = MAX_UPLOAD_BYTES) -> None:
    """UnsafeUpload when the upload is larger than the limit."""
    if len(data) > limit:
        raise UnsafeUpload(
            f"{display_name(file_name)}: {len(data) / 2**20:.1f} MB is more than the "
            f"{limit / 2**20:.0f} MB Caseload accepts in one file; split the export by date or clinician."
        )


def check_workbook_zip(
    data: bytes,
    file_name: str,
    max_entries: int = MAX_ZIP_ENTRIES,
    max_unzipped: int = MAX_UNZIPPED_BYTES,
) -> None:
    """UnsafeUpload for a zip-based workbook (xlsx/xlsm/ods) with too many entries or too much to unpack.

    Reads only the zip's central directory, so a zip bomb is refused before anything is decompressed.
    """
    name = display_name(file_name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        raise UnsafeUpload(f"{name}: a damaged spreadsheet (its zip container cannot be read)") from None
    if len(infos) > max_entries:
        raise UnsafeUpload(
            f"{name}: the workbook holds {len(infos):,} parts; a spreadsheet export has far fewer "
            f"(limit {max_entries:,}), so it is refused unread."
        )
    total = sum(i.file_size for i in infos)
    if total > max_unzipped:
        raise UnsafeUpload(
            f"{name}: the workbook would unpack to {total / 2**20:,.0f} MB (limit {max_unzipped / 2**20:,.0f} MB); "
            "refused unread as a possible zip bomb."
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_ENTRY_RATIO:
            raise UnsafeUpload(
                f"{name}: one part of the workbook is compressed {ratio:,.0f}:1 (limit {MAX_ENTRY_RATIO}:1); "
                "refused unread as a possible zip bomb."
            )


def check_upload(data: bytes, file_name: str, limit: int = MAX_UPLOAD_BYTES) -> None:
    """All checks an uploaded file gets before it is parsed: size, and for zip containers the zip limits."""
    check_upload_size(data, file_name, limit)
    if data[:4] == b"PK\x03\x04":
        check_workbook_zip(data, file_name)
