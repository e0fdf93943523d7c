"""Importing exports: read CSV/Excel, recognise the layout, drop identifiers, validate, store, undo.

The API the CLI, the Import page and the sample loader use:
``import_file``, ``preview_file``, ``undo_import``, ``saved_mapping`` / ``save_mapping``,
``rejected_rows_csv``, ``ImportReport``, ``RowError`` and ``ImportError_``.

The names are loaded on first use (PEP 562), so ``caseload.ingest.read`` can start parsing a file
before DuckDB is imported (see ``ahead.ReadAhead``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caseload.ingest.load import (
        forget_mapping,
        rejected_rows_csv,
        save_mapping,
        saved_mapping,
        undo_import,
    )
    from caseload.ingest.pipeline import Preview, SheetPreview, import_file, preview_file, signature
    from caseload.ingest.report import ImportError_, ImportReport, RowError

_HOMES = {
    "forget_mapping": "load",
    "rejected_rows_csv": "load",
    "save_mapping": "load",
    "saved_mapping": "load",
    "undo_import": "load",
    "Preview": "pipeline",
    "SheetPreview": "pipeline",
    "import_file": "pipeline",
    "preview_file": "pipeline",
    "signature": "pipeline",
    "ImportError_": "report",
    "ImportReport": "report",
    "RowError": "report",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
