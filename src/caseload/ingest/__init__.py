"""Importing exports: read CSV/Excel, recognise the layout, drop identifiers, validate, store, undo.

The API the CLI, the Import page and the sample loader use:
``import_file``, ``preview_file``, ``undo_import``, ``saved_mapping`` / ``save_mapping``,
``rejected_rows_csv``, ``ImportReport``, ``RowError`` and ``ImportError_``.
"""

from caseload.ingest.load import forget_mapping, rejected_rows_csv, save_mapping, saved_mapping, undo_import
from caseload.ingest.pipeline import Preview, SheetPreview, import_file, preview_file, signature
from caseload.ingest.report import ImportError_, ImportReport, RowError

__all__ = [
    "ImportError_",
    "ImportReport",
    "Preview",
    "RowError",
    "SheetPreview",
    "forget_mapping",
    "import_file",
    "preview_file",
    "rejected_rows_csv",
    "save_mapping",
    "saved_mapping",
    "signature",
    "undo_import",
]
