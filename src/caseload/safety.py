"""Defences for files Caseload writes or reads: spreadsheet formula injection and hostile uploads."""

from __future__ import annotations

from typing import Any

# A spreadsheet treats text starting with these as a formula (OWASP "CSV injection"); tab and CR too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; anything else is unchanged.

    Numbers stay numbers (a negative score is not text), so only strings are touched.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
