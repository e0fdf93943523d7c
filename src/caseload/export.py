"""Every stored rating back out, in the canonical long layout that Caseload imports again unchanged.

Columns: client_id, clinician_id, episode_id, age_group, session_date, session_number, measure, rater,
item_1..item_K (K = the most items any stored rating has; blank where a measure has fewer or the rating
was stored as a total only), total, ending. The episode written is the one Caseload uses: the export's own
id where the ratings came with one, otherwise the episode inferred from gaps (and any per-client gap or
recorded ending: "episode-2"), so a re-import reproduces the same episodes even if the rules change later.
What was set in the app travels too: an age group set for a client fills its ratings that have none, and
an ending recorded in the app is written on the ratings of the episode's last session date.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pandas as pd

from caseload import store
from caseload.access import Viewer
from caseload.episodes import episode_ratings
from caseload.safety import neutralise_cell

BASE_COLUMNS = store.RATING_COLUMNS[: store.RATING_COLUMNS.index("rater") + 1]  # client_id .. rater
TEXT_COLUMNS = ("client_id", "clinician_id", "episode_id", "age_group", "measure", "rater", "ending")


def export_frame(con: duckdb.DuckDBPyConnection, viewer: Viewer | None = None) -> pd.DataFrame:
    """The stored ratings the viewer may see (default: all) in the canonical long layout, by client and session."""
    rated = episode_ratings(con, viewer=viewer)
    if rated.empty:
        return pd.DataFrame(columns=[*BASE_COLUMNS, "total", "ending"])
    frame = pd.DataFrame(
        {
            "client_id": rated["client_id"],
            "clinician_id": rated["clinician_id"],
            "episode_id": rated["episode_id"].where(
                rated["episode_id"].notna(), "episode-" + rated["episode"].astype(str)
            ),
            "age_group": _age_groups(con, rated),
            "session_date": pd.to_datetime(rated["session_date"]).dt.date,
            "session_number": rated["session_number"].astype("Int64"),
            "measure": rated["measure"],
            "rater": rated["rater"],
        }
    )
    items = rated["items"].map(lambda v: list(v) if v is not None and not _is_na(v) else [])
    width = int(items.map(len).max() or 0)
    for k in range(width):
        frame[f"item_{k + 1}"] = items.map(lambda v, k=k: v[k] if k < len(v) else None).astype("Float64")
    frame["total"] = rated["total"].astype(float)
    frame["ending"] = _endings(con, rated)
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype("str")
    return frame.reset_index(drop=True)


def _endings(con: duckdb.DuckDBPyConnection, rated: pd.DataFrame) -> pd.Series:
    """Each rating's ending: the one recorded in the app for its client and date, else the export's."""
    recorded = con.execute("select client_id, ended_on, ending from episode_endings").df()
    own = rated["ending"].astype(object).where(rated["ending"].notna(), None)
    if recorded.empty:
        return own
    keys = pd.DataFrame(
        {
            "client_id": rated["client_id"].to_numpy(),
            "ended_on": pd.to_datetime(rated["session_date"]).to_numpy(),
        }
    )
    recorded["ended_on"] = pd.to_datetime(recorded["ended_on"])
    found = keys.merge(recorded, on=["client_id", "ended_on"], how="left")["ending"].to_numpy(dtype=object)
    out = pd.Series(found, index=rated.index, dtype=object)
    return out.where(out.notna(), own)


def _age_groups(con: duckdb.DuckDBPyConnection, rated: pd.DataFrame) -> pd.Series:
    """Each rating's age group: the export's, else the one set for the client in the app (else blank)."""
    own = rated["age_group"].astype(object).where(rated["age_group"].notna(), None)
    settings = con.execute(
        "select client_id, age_group from client_settings where age_group is not null"
    ).df()
    if settings.empty:
        return own
    mapped = rated["client_id"].map(dict(zip(settings["client_id"], settings["age_group"], strict=True)))
    return own.where(own.notna(), mapped.astype(object))


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def export_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV; text cells that a spreadsheet would run as formulas are neutralised."""
    safe = frame.copy()
    for column in TEXT_COLUMNS:
        if column in safe:
            safe[column] = safe[column].map(neutralise_cell)
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def export_xlsx_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as one worksheet 'ratings': header row frozen, dates as dates, text neutralised."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("ratings")
    ws.freeze_panes = "A2"
    for idx, column in enumerate(frame.columns, start=1):
        width = 12 if column.startswith("item_") else 14
        ws.column_dimensions[_letter(idx)].width = width
    bold = Font(bold=True)
    header = []
    for column in frame.columns:
        cell = WriteOnlyCell(ws, value=column)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    text_cols = {frame.columns.get_loc(c) for c in TEXT_COLUMNS if c in frame}
    date_col = frame.columns.get_loc("session_date") if "session_date" in frame else None
    for row in frame.itertuples(index=False, name=None):
        out = []
        for i, value in enumerate(row):
            if _is_na(value):
                out.append(None)
                continue
            if i in text_cols:
                value = neutralise_cell(str(value))
            elif hasattr(value, "item"):
                value = value.item()
            if i == date_col:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "yyyy-mm-dd"
                out.append(cell)
            else:
                out.append(value)
        ws.append(out)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def write_export(con: duckdb.DuckDBPyConnection, out: Path, viewer: Viewer | None = None) -> int:
    """Write every stored rating the viewer may see to ``out`` (.csv or .xlsx); returns how many were written."""
    frame = export_frame(con, viewer)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        data = export_csv_bytes(frame)
    elif suffix == ".xlsx":
        data = export_xlsx_bytes(frame)
    else:
        raise ValueError(
            f"{out.name}: the export is written as .csv or .xlsx, not {suffix or 'no extension'}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return len(frame)
