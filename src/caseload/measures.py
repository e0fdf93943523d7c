"""The instrument registry: range, direction, items, cutoffs, reliable change and the source of each number.

Built-in measures live in ``measures.toml`` beside this module; a user TOML file in the same form
(``[measures.CODE]``) adds measures or overrides single keys of ours.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

Z_CRIT = 1.959964  # two-sided 95% critical value used by Jacobson & Truax (1991)

KINDS = ("outcome", "alliance")
AGE_GROUPS = ("adult", "adolescent", "child")


class MeasureError(ValueError):
    """A measure definition that cannot be used, with the file and key that are wrong."""


@dataclass(frozen=True)
class Measure:
    """One instrument: how to score it and how to read a score."""

    code: str
    name: str
    kind: str
    higher_is_better: bool
    min: float
    max: float
    cutoff: float | None = None
    cutoffs: dict[str, float] = field(default_factory=dict)
    reliable_change: float | None = None
    reliability: float | None = None
    sd: float | None = None
    items: tuple[str, ...] = ()
    item_labels: tuple[str, ...] = ()
    item_min: float | None = None
    item_max: float | None = None
    decimals: int = 0
    max_missing_items: int = 0
    proration: str = "mean"
    risk_items: tuple[str, ...] = ()
    risk_threshold: float = 0.0
    item_cutoff: float | None = None
    drop_threshold: float | None = None
    aliases: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    licence: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    origin: str = "built-in"

    @property
    def n_items(self) -> int:
        return len(self.items)

    def cutoff_for(self, age_group: str | None = None) -> float | None:
        """The clinical cutoff for a population, falling back to the measure's default cutoff."""
        if age_group and age_group in self.cutoffs:
            return self.cutoffs[age_group]
        return self.cutoff

    def is_clinical(self, score: float, age_group: str | None = None) -> bool | None:
        """True when the score lies strictly on the clinical side of the cutoff; None without a cutoff."""
        cut = self.cutoff_for(age_group)
        if cut is None or score is None or (isinstance(score, float) and math.isnan(score)):
            return None
        return score < cut if self.higher_is_better else score > cut

    def reliable_change_threshold(self) -> tuple[float | None, bool]:
        """Points of change that count as reliable, and whether the threshold must be strictly exceeded.

        Given in points, a change of at least the threshold is reliable; derived from reliability and SD
        (Jacobson & Truax), the threshold must be strictly exceeded.
        """
        if self.reliable_change is not None:
            return float(self.reliable_change), False
        if self.reliability is not None and self.sd is not None:
            return Z_CRIT * self.sd * math.sqrt(2) * math.sqrt(1 - self.reliability), True
        return None, False

    def improvement(self, first: float, latest: float) -> float:
        """Change expressed so that a positive number is always an improvement."""
        return (latest - first) if self.higher_is_better else (first - latest)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view of the measure, including the derived reliable-change threshold."""
        rc, strict = self.reliable_change_threshold()
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "min": self.min,
            "max": self.max,
            "cutoff": self.cutoff,
            "cutoffs": dict(self.cutoffs),
            "reliable_change": rc,
            "reliable_change_strict": strict,
            "reliability": self.reliability,
            "sd": self.sd,
            "items": list(self.items),
            "item_labels": list(self.item_labels),
            "item_min": self.item_min,
            "item_max": self.item_max,
            "decimals": self.decimals,
            "max_missing_items": self.max_missing_items,
            "proration": self.proration,
            "risk_items": list(self.risk_items),
            "risk_threshold": self.risk_threshold,
            "item_cutoff": self.item_cutoff,
            "drop_threshold": self.drop_threshold,
            "aliases": list(self.aliases),
            "age_groups": list(self.age_groups),
            "licence": self.licence,
            "sources": dict(self.sources),
            "origin": self.origin,
        }


_FIELDS = set(Measure.__dataclass_fields__) - {"code", "origin"}
_TUPLE_FIELDS = {"items", "item_labels", "risk_items", "aliases", "age_groups"}
_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _measure_from_table(code: str, table: dict[str, Any], origin: str, base: Measure | None) -> Measure:
    unknown = set(table) - _FIELDS
    if unknown:
        raise MeasureError(f"{origin}: [measures.{code}] has unknown key(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _TUPLE_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MeasureError(f"{origin}: [measures.{code}] {key} must be a list of strings")
            value = tuple(value)
        elif key in ("cutoffs", "sources"):
            if not isinstance(value, dict):
                raise MeasureError(f"{origin}: [measures.{code}] {key} must be a table")
            value = {**(getattr(base, key) if base else {}), **value}
        values[key] = value
    if base is not None:
        m = replace(base, **values, origin=origin if base.origin == origin else f"{base.origin} + {origin}")
    else:
        missing = {"name", "kind", "higher_is_better", "min", "max"} - set(values)
        if missing:
            raise MeasureError(f"{origin}: [measures.{code}] is missing {', '.join(sorted(missing))}")
        m = Measure(code=code, origin=origin, **values)
    if m.item_labels and len(m.item_labels) != len(m.items):
        if base is not None and "items" in values and "item_labels" not in values:
            m = replace(m, item_labels=())
        else:
            raise MeasureError(f"{origin}: [measures.{code}] item_labels must match items in length")
    _check(m, origin)
    return m


def _check(m: Measure, origin: str) -> None:
    where = f"{origin}: [measures.{m.code}]"
    if not _CODE_RE.match(m.code):
        raise MeasureError(
            f"{where}: a measure code is letters, digits and underscores, starting with a letter"
        )
    if m.kind not in KINDS:
        raise MeasureError(f"{where} kind must be one of {', '.join(KINDS)}, not {m.kind!r}")
    if not m.min < m.max:
        raise MeasureError(f"{where} needs min < max (got {m.min} and {m.max})")
    for key, cut in [("cutoff", m.cutoff), *((f"cutoffs.{k}", v) for k, v in m.cutoffs.items())]:
        if cut is not None and not (m.min <= cut <= m.max):
            raise MeasureError(f"{where} {key} = {cut} lies outside {m.min}..{m.max}")
    if m.reliable_change is not None and m.reliable_change <= 0:
        raise MeasureError(f"{where} reliable_change must be positive")
    if m.reliability is not None and not (0 <= m.reliability < 1):
        raise MeasureError(f"{where} reliability must lie in [0, 1)")
    if m.sd is not None and m.sd <= 0:
        raise MeasureError(f"{where} sd must be positive")
    if m.max_missing_items < 0 or (m.items and m.max_missing_items >= len(m.items)):
        raise MeasureError(f"{where} max_missing_items must be between 0 and the number of items - 1")
    if m.proration not in ("mean", "none"):
        raise MeasureError(f"{where} proration must be 'mean' or 'none'")
    for item in m.risk_items:
        if item not in m.items:
            raise MeasureError(f"{where} risk item {item!r} is not one of its items")


def _load_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MeasureError(f"{origin}: not valid TOML: {exc}") from None
    table = data.get("measures")
    if not isinstance(table, dict):
        raise MeasureError(f"{origin}: expected [measures.CODE] tables")
    return table


def builtin_measures() -> dict[str, Measure]:
    """The registry shipped with Caseload."""
    text = files("caseload").joinpath("measures.toml").read_text(encoding="utf-8")
    return {
        code: _measure_from_table(code, t, "built-in", None)
        for code, t in _load_toml(text, "built-in").items()
    }


def load_measures(path: str | Path | None = None) -> dict[str, Measure]:
    """The built-in registry, extended and overridden by a user TOML file when one is given."""
    registry = builtin_measures()
    if path is None:
        return registry
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MeasureError(f"{p}: cannot read the measures file ({exc.strerror})") from None
    for code, table in _load_toml(text, p.name).items():
        if not isinstance(table, dict):
            raise MeasureError(f"{p.name}: measures.{code} must be a table")
        registry[code] = _measure_from_table(code, table, p.name, registry.get(code))
    return registry


def normalise_measure_name(raw: str, registry: dict[str, Measure]) -> str | None:
    """The registry code for a measure as spelled in an export ('PHQ-9', 'phq9', 'ors_total'), or None."""
    key = re.sub(r"[\s\-_.]+", "", str(raw).strip().upper())
    for code, m in registry.items():
        spellings = {code, *m.aliases}
        if key in {re.sub(r"[\s\-_.]+", "", s.upper()) for s in spellings}:
            return code
    return None
