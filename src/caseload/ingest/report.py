"""What an import did: the per-file report, its row errors, and the one exception for unusable input."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Reasons a row (or one measure in a row) is not stored. 'no_scores' is informational: the row holds no
# rating at all (every measure blank or skipped, e.g. a REDCap enrolment event); it never trips --strict.
REASONS = {
    "missing_client_id": "client code missing",
    "invalid_date": "not a calendar date",
    "future_date": "date in the future",
    "early_date": "date before any outcome measure was in use",
    "missing_session": "neither a date nor a session number",
    "invalid_session": "session number is not a whole number",
    "non_numeric": "text where a score belongs",
    "out_of_range": "score outside the measure's range",
    "not_whole": "a fraction where the measure's items are whole numbers",
    "items_total_mismatch": "items and total disagree",
    "partial_items": "too many missing items",
    "extra_items": "a value in an item column beyond the measure's items",
    "unknown_measure": "measure not in the registry",
    "unknown_rater": "rater not recognised",
    "unknown_ending": "episode ending not recognised",
    "conflicting_duplicate": "same session twice with different scores",
    "conflict": "differs from the rating (or its ending) already stored",
    "skipped_with_scores": "marked as skipped but holds a score",
    "no_scores": "no ratings in the row",
}
INFO_REASONS = {"no_scores"}


class ImportError_(Exception):  # noqa: N801 - the trailing underscore keeps it apart from the builtin
    """Input Caseload cannot read at all (binary junk, empty, hostile, unrecognisable); one clear message."""


@dataclass(frozen=True)
class RowError:
    """One problem in one data row: where it is (row among data rows, physical line), what and why."""

    row: int | None
    line: int | None
    column: str | None
    value: str | None
    reason: str
    message: str
    measure: str | None = None
    sheet: str | None = None
    row_outcome: str = "rejected"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    """Counts and findings for one file; rows_read == rows_imported + rows_duplicate + rows_rejected."""

    file: str
    sha256: str
    layout: str = ""
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    records_added: int = 0
    # Ratings already stored without an ending that this file's rows gave one (those rows count as duplicate).
    endings_added: int = 0
    records_by_measure: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    import_id: int | None = None
    refused: bool = False
    refused_reason: str | None = None
    identifier_columns: list[dict[str, Any]] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, Any] | None = None
    sheets: list[str] = field(default_factory=list)

    def check_invariant(self) -> None:
        """Raise if a row went missing from the counts (a bug, never a user error)."""
        total = self.rows_imported + self.rows_duplicate + self.rows_rejected
        if total != self.rows_read:
            raise AssertionError(
                f"{self.file}: {self.rows_read} rows read but {total} accounted for "
                f"({self.rows_imported} imported, {self.rows_duplicate} duplicate, {self.rows_rejected} rejected)"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly report, the same one the CLI prints with --json."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "layout": self.layout,
            "sheets": list(self.sheets),
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "rows_duplicate": self.rows_duplicate,
            "rows_rejected": self.rows_rejected,
            "records_added": self.records_added,
            "endings_added": self.endings_added,
            "records_by_measure": dict(self.records_by_measure),
            "import_id": self.import_id,
            "refused": self.refused,
            "refused_reason": self.refused_reason,
            "identifier_columns": list(self.identifier_columns),
            "dropped_columns": list(self.dropped_columns),
            "conflicts": list(self.conflicts),
            "warnings": list(self.warnings),
            "errors": [e.to_dict() for e in self.errors],
            "mapping": self.mapping,
        }

    def summary(self) -> str:
        """One line a person can read: what was stored and what was not."""
        if self.refused:
            return f"{self.file}: refused, nothing stored. {self.refused_reason}"
        parts = [
            f"{self.file}: {self.rows_read} rows read",
            f"{self.rows_imported} imported ({self.records_added} ratings added)",
            f"{self.rows_duplicate} duplicate"
            + (f" ({self.endings_added} gave a stored rating its ending)" if self.endings_added else ""),
            f"{self.rows_rejected} rejected",
        ]
        text = ", ".join(parts)
        if self.conflicts:
            text += f"; {len(self.conflicts)} conflict(s) with stored ratings"
        if self.dropped_columns:
            text += f"; dropped columns: {', '.join(self.dropped_columns)}"
        return text
