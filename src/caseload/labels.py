"""Words, symbols and sort order for the statuses the engine computes, shared by pages, charts and exports.

Every status is shown as a symbol *and* a word, so nothing depends on colour alone (greyscale prints,
colour-blind readers).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusStyle:
    """How one status looks: symbol, word, rank (0 = most urgent), colour and chart shape."""

    symbol: str
    word: str
    rank: int
    colour: str
    shape: str

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.word}"


# Colours from the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
# shapes differ too, so a greyscale print still tells the statuses apart.
# Symbols are plain text glyphs that common fonts (DejaVu, the system UI fonts) carry, not colour emoji:
# a machine without an emoji font would show empty boxes, and a greyscale print would lose the colour.
STATUS = {
    "off_track": StatusStyle("▼", "Off track", 0, "#D55E00", "triangle-down"),
    "at_risk": StatusStyle("⚠", "At risk", 1, "#E69F00", "diamond"),
    "on_track": StatusStyle("✔", "On track", 3, "#009E73", "circle"),
    "not_enough_data": StatusStyle("○", "Not enough data", 4, "#999999", "square"),
}

ALLIANCE = {
    "concern": StatusStyle("⚑", "Alliance concern", 2, "#CC79A7", "triangle-down"),
    "ok": StatusStyle("✓", "Alliance OK", 5, "#0072B2", "circle"),
    "not_rated": StatusStyle("–", "Alliance not rated", 6, "#999999", "square"),
}

# Same order as caseload.alerts.SEVERITIES: a critical alert (an endorsed risk item) outranks everything.
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
SEVERITY_SYMBOL = {"critical": "‼", "high": "▼", "medium": "⚠", "low": "ℹ", "info": "ℹ"}


def status_label(status: object) -> str:
    """'▼ Off track' for 'off_track'; unknown or missing statuses are shown as they are, never dropped."""
    style = STATUS.get(str(status)) if status is not None else None
    if style is None:
        return "…" if status is None else str(status).replace("_", " ").capitalize()
    return style.label


def alliance_label(status: object) -> str:
    """'⚑ Alliance concern' for 'concern'."""
    style = ALLIANCE.get(str(status)) if status is not None else None
    if style is None:
        return "–" if status is None else str(status).replace("_", " ").capitalize()
    return style.label


def status_rank(status: object) -> int:
    """0 for the most urgent status; unknown statuses sort after the known ones."""
    style = STATUS.get(str(status))
    return style.rank if style else 9


CATEGORY_WORDS = {
    "recovered": "Recovered",
    "improved": "Reliably improved",
    "unchanged": "No reliable change",
    "deteriorated": "Reliably deteriorated",
    "harmed": "Deteriorated into clinical range",
    "not_enough_data": "Not enough data",
}
IMPROVED_CATEGORIES = ("recovered", "improved")
DETERIORATED_CATEGORIES = ("deteriorated", "harmed")


def category_label(category: object) -> str:
    """A change category (caseload.change.CATEGORIES) in words; unknown categories are shown as they are."""
    if category is None or (isinstance(category, float) and category != category):
        return ""
    text = str(category)
    return CATEGORY_WORDS.get(text, text.replace("_", " ").capitalize())
