"""Import: upload an export, check the recognised layout and mapping, import it, see every rejected row, undo."""

from __future__ import annotations

import copy
import json

import pandas as pd
import streamlit as st

from caseload.ingest import ImportError_, import_file, preview_file, rejected_rows_csv, undo_import
from caseload.ingest.privacy import KIND_LABELS, mask
from caseload.safety import UnsafeUpload, check_upload, display_name, download_name, neutralise_frame
from caseload.store import imports
from views._auth import account_box, audit_action, require_viewer
from views._shared import get_connection, get_registry

FILE_TYPES = ["csv", "txt", "tsv", "xlsx", "xlsm", "ods", "xls"]
NONE = "(none)"
ROLES = [
    ("client_id", "Client code", True),
    ("clinician_id", "Clinician", False),
    ("session_date", "Session date", False),
    ("session_number", "Session number", False),
    ("episode_id", "Episode / case", False),
    ("rater", "Rater", False),
    ("age_group", "Age group", False),
    ("ending", "Episode ending (planned / unplanned / ended)", False),
]
DATE_FORMATS = {
    "auto": "Recognise",
    "dmy": "day/month/year",
    "mdy": "month/day/year",
    "ymd": "year-month-day",
}
LAST_REPORT = "import_last_report"
# The upload last imported with its identifier columns dropped: its refusal then reads as done, not as an error.
DROPPED_UPLOAD = "import_dropped_upload"

viewer = require_viewer()
account_box(viewer)
st.title("Import")
st.caption(
    "Upload an anonymized export (CSV or Excel). Caseload recognises the layout, shows what it will read, "
    "checks every row and stores the ratings in one step; rows it cannot use are listed with the reason. "
    "Files with names, e-mail addresses, phone numbers or birth dates are refused. Nothing leaves this computer."
)
con = get_connection()
registry = get_registry()


@st.cache_data(show_spinner=False, max_entries=8)
def _preview(_con, _data: bytes, name: str, file_id: str, registry_key: str):  # noqa: ANN001, ANN202
    """The recognised layout of an upload, once per uploaded file (not on every rerun)."""
    return preview_file(_con, _data, file_name=name, registry=registry)


def _options(columns: list[str]) -> list[str]:
    return [NONE, *columns]


def _pick(
    label: str, columns: list[str], current: str | None, key: str, required: bool = False
) -> str | None:
    options = _options(columns)
    index = options.index(current) if current in options else 0
    choice = st.selectbox(label + (" *" if required else ""), options, index=index, key=key, format_func=mask)
    return None if choice == NONE else choice


def _mapping_editor(sheet, key: str) -> dict:  # noqa: ANN001 - a SheetPreview
    """Widgets prefilled by recognition; returns the mapping as the user leaves it."""
    mapping = copy.deepcopy(sheet.mapping)
    mapping.pop("date_format_used", None)
    cols = sheet.columns
    grid = st.columns(4)
    for i, (role, label, required) in enumerate(ROLES):
        with grid[i % 4]:
            chosen = _pick(label, cols, mapping.get(role), f"{key}_{role}", required)
        if chosen:
            mapping[role] = chosen
        else:
            mapping.pop(role, None)
    fmt = grid[len(ROLES) % 4].selectbox(
        "Date format",
        list(DATE_FORMATS),
        format_func=DATE_FORMATS.get,
        index=list(DATE_FORMATS).index(mapping.get("date_format") or "auto"),
        key=f"{key}_date_format",
        help="Recognise reads the format from the dates; choose one when days and months could be swapped.",
    )
    if fmt == "auto":
        mapping.pop("date_format", None)
    else:
        mapping["date_format"] = fmt
    if mapping.get("measure_column") is not None or not mapping.get("measures"):
        st.markdown("**Scores in rows** (one row per client, session and measure)")
        c1, c2 = st.columns(2)
        with c1:
            mcol = _pick("Measure column", cols, mapping.get("measure_column"), f"{key}_measure_column")
        with c2:
            total = _pick("Total column", cols, mapping.get("total"), f"{key}_total")
        items = st.multiselect(
            "Item columns, in item order (used for every measure)",
            cols,
            default=[c for c in mapping.get("items") or [] if c in cols],
            key=f"{key}_items",
            format_func=mask,
        )
        for name, value in (("measure_column", mcol), ("total", total)):
            if value:
                mapping[name] = value
            else:
                mapping.pop(name, None)
        if items:
            mapping["items"] = items
        else:
            mapping.pop("items", None)
        if mcol:
            mapping.pop("measures", None)
        for code, item_cols in (mapping.get("measure_items") or {}).items():
            st.caption(f"{code} items: {', '.join(map(mask, item_cols))}")
        if mcol:
            return mapping
    entries = mapping.get("measures") or []
    wide = any(e.get("session_number") is not None for e in entries)
    st.markdown("**Measures in columns**" + (" (one column per session)" if wide else ""))
    if wide:
        table = pd.DataFrame(
            [
                {
                    "Session": e.get("session_number"),
                    "Measure": e["measure"],
                    "Total column": e.get("total"),
                    "Date column": e.get("session_date"),
                }
                for e in entries
            ]
        )
        st.dataframe(table, hide_index=True, width="stretch")
        return mapping
    edited = []
    for j, entry in enumerate(entries + [{"measure": None, "items": [], "total": None}]):
        c1, c2, c3 = st.columns([1, 2, 3])
        codes = [NONE, *registry]
        code = c1.selectbox(
            "Measure",
            codes,
            index=codes.index(entry["measure"]) if entry.get("measure") in codes else 0,
            key=f"{key}_m{j}_measure",
        )
        with c2:
            total = _pick("Total column", cols, entry.get("total"), f"{key}_m{j}_total")
        items = c3.multiselect(
            "Item columns, in item order",
            cols,
            default=[c for c in entry.get("items") or [] if c in cols],
            key=f"{key}_m{j}_items",
            format_func=mask,
        )
        if code != NONE and (total or items):
            edited.append({**entry, "measure": code, "total": total, "items": items})
    mapping["measures"] = edited
    return mapping


def _show_report(report: dict) -> None:
    if report["refused"]:
        st.error(report["refused_reason"], icon=":material/block:")
    else:
        endings = report.get("endings_added") or 0
        also = (
            f" {endings:,} stored rating{'s' if endings != 1 else ''} took the episode ending this file gives."
            if endings
            else ""
        )
        st.success(
            f"{report['file']}: {report['records_added']:,} ratings stored.{also}",
            icon=":material/check_circle:",
        )
    c = st.columns(4)
    c[0].metric("Rows read", f"{report['rows_read']:,}", border=True)
    c[1].metric("Imported", f"{report['rows_imported']:,}", border=True)
    c[2].metric("Duplicate", f"{report['rows_duplicate']:,}", border=True)
    c[3].metric("Rejected", f"{report['rows_rejected']:,}", border=True)
    st.caption(
        f"Rows read = imported + duplicate + rejected: {report['rows_read']:,} = {report['rows_imported']:,} + "
        f"{report['rows_duplicate']:,} + {report['rows_rejected']:,}. Duplicates were already stored or repeat "
        "an earlier row; they are not stored twice."
    )
    for warning in report["warnings"]:
        st.caption(f":material/info: {warning}")
    if report["conflicts"]:
        st.warning(
            f"{len(report['conflicts'])} rating(s) differ from ratings already stored for the same session; "
            "the stored ones were kept (see the rows below).",
            icon=":material/difference:",
        )
    if report["errors"]:
        frame = pd.DataFrame(report["errors"])[
            ["row", "line", "column", "value", "reason", "message", "row_outcome"]
        ]
        frame.columns = ["Row", "Line", "Column", "Value", "Reason", "Message", "Row outcome"]
        st.markdown(f"**Rows with problems** ({len(frame):,})")
        st.dataframe(frame, hide_index=True, width="stretch", key="import_errors")
        if report["import_id"] is not None:
            data = rejected_rows_csv(con, report["import_id"])
        else:
            data = neutralise_frame(frame).to_csv(index=False).encode("utf-8")
        st.download_button(
            "Download rejected rows (CSV)",
            data=data,
            file_name=download_name("rejected_rows", str(report["import_id"] or "refused"), suffix="csv"),
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
            key="download_rejected",
        )


uploaded = st.file_uploader("Export file", type=FILE_TYPES, key="upload")
if uploaded is not None:
    data = uploaded.getvalue()
    name = display_name(uploaded.name)
    try:
        check_upload(data, name)
        preview = _preview(con, data, name, uploaded.file_id, json.dumps(sorted(registry)))
    except (UnsafeUpload, ImportError_) as exc:
        st.error(str(exc), icon=":material/error:")
        preview = None
    if preview is not None:
        if preview.skipped:
            st.caption("Not imported: " + "; ".join(preview.skipped))
        mappings: dict[str, dict] = {}
        recognised_ok = True
        tabs = (
            st.tabs([s.sheet or name for s in preview.sheets])
            if len(preview.sheets) > 1
            else [st.container()]
        )
        for tab, sheet in zip(tabs, preview.sheets, strict=True):
            with tab:
                st.markdown(
                    f"**Layout:** {sheet.layout} · header on row {sheet.header_row} · {sheet.rows:,} data rows"
                )
                for problem in sheet.problems:
                    recognised_ok = False
                    st.warning(f"{problem}. Choose the columns below.", icon=":material/help:")
                for note in sheet.notes:
                    st.caption(f":material/info: {note}")
                st.dataframe(sheet.frame, hide_index=True, width="stretch", key=f"preview_{sheet.sheet}")
                with st.expander("Column mapping", expanded=bool(sheet.problems)):
                    # Keys per upload, so a new file's editor starts from its own recognised mapping.
                    mappings[sheet.sheet] = _mapping_editor(sheet, f"map_{uploaded.file_id}_{sheet.sheet}")
        blocking = [f for f in preview.identifiers if f.blocking]
        drop = False
        if blocking:
            listed = "; ".join(
                f"**{mask(f.column)}** ({KIND_LABELS.get(f.kind, f.kind)}"
                + (
                    f", row{'s' if len(f.rows) > 1 else ''} {', '.join(map(str, f.rows[:10]))}"
                    if f.rows
                    else ""
                )
                + ")"
                for f in blocking
            )
            notice = st.empty()
            refusal = (
                f"This file contains direct identifiers: {listed}. Caseload stores anonymized data only, so the "
                "file is refused as it is."
            )
            dropped_note = (
                f"Imported without the identifier columns {listed}: they were not read, stored or shown."
            )
            if st.session_state.get(DROPPED_UPLOAD) == uploaded.file_id:
                notice.info(dropped_note, icon=":material/person_off:")
            else:
                notice.error(refusal, icon=":material/person_off:")
            drop = st.checkbox(
                "Drop these columns and import the rest",
                key="drop_identifiers",
                help="The identifier columns are not read, stored or shown; the ratings are imported.",
            )
        strict = st.checkbox(
            "Strict: import nothing if any row has a problem",
            key="strict",
            help="Without this, good rows are imported and the others are listed.",
        )
        edited = any(
            mappings[s.sheet] != {k: v for k, v in s.mapping.items() if k != "date_format_used"}
            for s in preview.sheets
        )
        if len(preview.sheet_names) > 1 or any(s.sheet for s in preview.sheets):
            given = {"sheets": mappings} if edited or not recognised_ok else None
        else:
            given = next(iter(mappings.values())) if edited or not recognised_ok else None
        no_client = [s.sheet or name for s in preview.sheets if not mappings[s.sheet].get("client_id")]
        if no_client:
            st.warning(
                f"Choose the client code column for {', '.join(no_client)} before importing.",
                icon=":material/help:",
            )
        disabled = (bool(blocking) and not drop) or bool(no_client)
        if st.button("Import", type="primary", icon=":material/upload:", key="do_import", disabled=disabled):
            with st.status(f"Importing {name}…", expanded=True) as status:
                bar = st.progress(0.0, text="starting")

                def _progress(fraction: float, text: str) -> None:
                    bar.progress(min(max(fraction, 0.0), 1.0), text=text)

                try:
                    report = import_file(
                        con,
                        data,
                        file_name=name,
                        registry=registry,
                        mapping=given,
                        strict=strict,
                        drop_identifiers=drop,
                        progress=_progress,
                        save_mapping=given is not None,
                    )
                except ImportError_ as exc:
                    status.update(label="Not imported", state="error")
                    st.error(str(exc), icon=":material/error:")
                    st.session_state.pop(LAST_REPORT, None)  # its figures would read as this file's
                    report = None
                if report is not None:
                    state = "error" if report.refused else "complete"
                    status.update(label=report.summary(), state=state, expanded=False)
                    st.session_state[LAST_REPORT] = report.to_dict()
                    if report.import_id is not None and blocking and drop:
                        st.session_state[DROPPED_UPLOAD] = uploaded.file_id
                        notice.info(dropped_note, icon=":material/person_off:")
                    if report.import_id is not None:
                        audit_action(
                            viewer, "import", import_id=report.import_id, ratings=report.records_added
                        )
                        st.cache_data.clear()

if LAST_REPORT in st.session_state:
    st.subheader("Last import")
    _show_report(st.session_state[LAST_REPORT])

st.subheader("Past imports")
history = imports(con)
if history.empty:
    st.caption("No imports yet.")
else:
    shown = pd.DataFrame(
        {
            "Import": history["import_id"],
            "File": history["file_name"],
            "SHA-256": history["sha256"].str.slice(0, 12),
            "Imported (UTC)": history["imported_at"].dt.strftime("%Y-%m-%d %H:%M"),
            "Rows read": history["rows_read"],
            "Imported": history["rows_imported"],
            "Duplicate": history["rows_duplicate"],
            "Rejected": history["rows_rejected"],
            "Ratings added": history["records_added"],
            "Held now": history["ratings_held"],
            "Status": history["undone_at"].map(lambda t: "undone" if pd.notna(t) else "active"),
        }
    )
    # Widths that fit the table in the page at 1400 pixels, Status included (no sideways scrolling).
    number = st.column_config.NumberColumn
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="past_imports",
        column_config={
            "Import": number(width=52),
            "File": st.column_config.TextColumn(width=150),
            "SHA-256": st.column_config.TextColumn(
                width=96, help="The first 12 characters of the file's SHA-256"
            ),
            "Imported (UTC)": st.column_config.TextColumn(width=122),
            **{c: number(width=70) for c in ("Rows read", "Imported", "Duplicate", "Rejected")},
            "Ratings added": number(width=98),
            "Held now": number(width=72, help="Ratings this import holds now"),
            "Status": st.column_config.TextColumn(width=62),
        },
    )
    active = history[history["undone_at"].isna()]
    if not active.empty:
        c1, c2 = st.columns([3, 1])
        labels = {
            i: f"#{i} {f} ({n:,} ratings now)"
            for i, f, n in zip(active["import_id"], active["file_name"], active["ratings_held"], strict=True)
        }
        choice = c1.selectbox(
            "Undo an import (removes its ratings; those a later import also held stay, with that import)",
            list(active["import_id"]),
            format_func=labels.__getitem__,
            key="undo_choice",
        )
        if c2.button("Undo import", icon=":material/undo:", key="undo"):
            removed = undo_import(con, int(choice))
            audit_action(viewer, "undo_import", import_id=int(choice), ratings=removed)
            st.session_state.pop(LAST_REPORT, None)
            st.cache_data.clear()
            st.toast(
                f"Import #{choice} undone: {removed:,} rating{'' if removed == 1 else 's'} removed.",
                icon=":material/undo:",
            )
            st.rerun()

st.subheader("Export every rating")
st.caption(
    "Every stored rating in Caseload's own long layout (client, clinician, episode, age group, date, session, "
    "measure, rater, items, total). Importing this file into an empty Caseload reproduces the same caseload. "
    "Text that a spreadsheet would run as a formula is neutralised."
)
e1, e2 = st.columns([1, 3])
export_format = e1.radio("Format", ["CSV", "Excel"], horizontal=True, key="export_format")
if e2.button("Prepare the export", icon=":material/database:", key="export_prepare"):
    from caseload.export import export_csv_bytes, export_frame, export_xlsx_bytes

    everything = export_frame(con)
    suffix = "csv" if export_format == "CSV" else "xlsx"
    payload = export_csv_bytes(everything) if suffix == "csv" else export_xlsx_bytes(everything)
    st.session_state["export_file"] = (payload, suffix, len(everything))
    audit_action(viewer, "export", what="all_ratings", format=suffix, ratings=len(everything))
if "export_file" in st.session_state:
    payload, suffix, n_ratings = st.session_state["export_file"]
    st.download_button(
        f"Download {n_ratings:,} ratings ({suffix.upper()})",
        data=payload,
        file_name=f"caseload_ratings.{suffix}",
        mime="text/csv"
        if suffix == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        on_click="ignore",
        icon=":material/download:",
        key="export_download",
    )
