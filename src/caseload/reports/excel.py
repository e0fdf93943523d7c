"""The caseload and supervision tables as a formatted Excel workbook (openpyxl), ready to open in a meeting.

Headers in bold on a fill, widths fitted to the content, the header row frozen, number formats per
column, an autofilter. Text that starts with = + - @ (or a tab / carriage return) is written as plain
text with Excel's quote prefix, so a crafted client code can never run as a formula (CSV/formula
injection). Same trigger characters as caseload.safety; in a workbook the quote prefix is a cell style, so
the text itself stays unchanged (no visible apostrophe), unlike a CSV, where safety.neutralise_cell adds one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from datetime import date, datetime

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from caseload.safety import FORMULA_PREFIXES
from caseload.supervision import TOO_FEW
from caseload.views import caseload_table, most_urgent_first

HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
HEADER_FONT = Font(bold=True)
MAX_WIDTH = 60

SCORE, CHANGE, INTEGER, PERCENT, EFFECT, DATE = "0.0", "+0.0;-0.0;0.0", "0", '0"%"', "0.00", "yyyy-mm-dd"

CASELOAD_FORMATS = {
    "Sessions": INTEGER,
    "First score": SCORE,
    "Latest score": SCORE,
    "Change": CHANGE,
    "Latest alliance": SCORE,
    "Days since last": INTEGER,
    "Last session": DATE,
    "Episode": "@",
}

SUPERVISION_HEADERS = {
    "clinician_id": ("Clinician", None),
    "clients": ("Clients", INTEGER),
    "episodes": ("Episodes", INTEGER),
    "active_episodes": ("Active episodes", INTEGER),
    "intake_mean": ("Intake mean", SCORE),
    "sessions_per_episode": ("Sessions per episode", SCORE),
    "with_change": ("Episodes with a change", INTEGER),
    "improved_pct": ("% reliably improved", PERCENT),
    "recovered_pct": ("% recovered", PERCENT),
    "deteriorated_pct": ("% deteriorated", PERCENT),
    "off_track_pct": ("% off track now", PERCENT),
    "effect_size": ("Effect size", EFFECT),
    "effect_size_low": ("ES 95% CI low", EFFECT),
    "effect_size_high": ("ES 95% CI high", EFFECT),
    "closed_episodes": ("Closed episodes", INTEGER),
    "good_outcome_pct": ("% good outcome (closed)", PERCENT),
    "planned_endings": ("Planned endings", INTEGER),
    "unplanned_endings": ("Unplanned endings (recorded)", INTEGER),
    "inferred_unplanned": ("Unplanned endings (inferred)", INTEGER),
    "endings_not_recorded": ("Endings not recorded", INTEGER),
    "dropout_pct": ("% dropout", PERCENT),
    "dropout_good": ("Dropouts, good at last rating", INTEGER),
    "dropout_not_good": ("Dropouts, not good at last rating", INTEGER),
    "sessions_per_closed": ("Sessions per closed episode", SCORE),
    "weeks_per_closed": ("Weeks per closed episode", SCORE),
    "note": ("Note", None),
}
_WITHHELD = {
    "improved_pct",
    "recovered_pct",
    "deteriorated_pct",
    "off_track_pct",
    "effect_size",
}
# Shares of closed episodes: withheld (NaN) when a group has too few closed episodes (supervision.py).
_CLOSED_WITHHELD = {"good_outcome_pct", "dropout_pct"}


def safe_text(value: str) -> tuple[str, bool]:
    """The text and whether it must be stored as quote-prefixed text because a spreadsheet would run it."""
    return value, value.startswith(FORMULA_PREFIXES)


def _cell_value(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date() if value.time() == datetime.min.time() else value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def write_table(
    ws: Worksheet,
    frame: pd.DataFrame,
    formats: dict[str, str] | None = None,
    freeze: str = "A2",
) -> None:
    """Write a frame with a formatted header, number formats, fitted widths, frozen panes and a filter."""
    formats = formats or {}
    columns = list(frame.columns)
    widths = [len(str(c)) for c in columns]
    for j, name in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=str(name))
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, row in enumerate(frame.itertuples(index=False, name=None), start=2):
        for j, raw in enumerate(row, start=1):
            value = _cell_value(raw)
            cell = ws.cell(row=i, column=j)
            if isinstance(value, str):
                text, dangerous = safe_text(value)
                cell.value = text
                cell.data_type = "s"  # never a formula, whatever the text starts with
                if dangerous:
                    cell.quotePrefix = True
            else:
                cell.value = value
            fmt = formats.get(columns[j - 1])
            if fmt and not isinstance(value, str):
                cell.number_format = fmt
            elif isinstance(value, date) and not fmt:
                cell.number_format = DATE
            shown = (
                len(format(value, ".1f"))
                if isinstance(value, float)
                else (10 if isinstance(value, date) else len(str(value)) if value is not None else 0)
            )
            widths[j - 1] = max(widths[j - 1], shown)
    for j, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(MAX_WIDTH, width + 2)
    ws.freeze_panes = freeze
    if len(frame):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(frame) + 1}"


def _supervision_frame(summary: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    for key, (header, _) in SUPERVISION_HEADERS.items():
        if key not in summary:
            continue
        column = summary[key].astype(object)
        if key in _WITHHELD and "comparable" in summary:
            column = column.where(summary["comparable"].astype(bool), TOO_FEW)
        if key in _CLOSED_WITHHELD:
            column = column.where(summary[key].notna(), TOO_FEW)
        out[header] = column
    return out


def _about_rows(lines: Iterable[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(list(lines), columns=["Item", "Value"])


def caseload_workbook(
    overview: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    discuss: pd.DataFrame | None = None,
    *,
    measure_code: str | None = None,
    min_n: int | None = None,
    notes: Iterable[tuple[str, str]] = (),
    generated_at: datetime | None = None,
) -> bytes:
    """An .xlsx with sheets Caseload, Supervision, Clients to discuss and About, as bytes for a download."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Caseload"
    write_table(ws, caseload_table(most_urgent_first(overview)), CASELOAD_FORMATS, freeze="C2")
    if summary is not None:
        formats = {header: fmt for header, fmt in SUPERVISION_HEADERS.values() if fmt}
        write_table(wb.create_sheet("Supervision"), _supervision_frame(summary), formats, freeze="B2")
    if discuss is not None:
        write_table(
            wb.create_sheet("Clients to discuss"), caseload_table(discuss), CASELOAD_FORMATS, freeze="C2"
        )
    when = generated_at or datetime.now().replace(microsecond=0)
    about = [
        ("Generated", when.strftime("%Y-%m-%d %H:%M")),
        ("Rows in Caseload", str(len(overview))),
    ]
    if measure_code:
        about.append(("Supervision measure", measure_code))
    if min_n is not None:
        about.append(
            ("Minimum n", f"Groups with fewer than {min_n} episodes with a change are shown as '{TOO_FEW}'.")
        )
    about += list(notes)
    about.append(
        (
            "Privacy",
            "Pseudonymous client codes only. Store and share this file like any clinical record.",
        )
    )
    write_table(wb.create_sheet("About"), _about_rows(about), freeze="A2")
    wb.properties.creator = "Caseload"
    wb.properties.created = when
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
