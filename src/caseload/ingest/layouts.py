"""Recognise an export's layout from its header: where the header is, which column holds what.

The result is a *mapping*: a plain, JSON-serialisable dict naming columns by their header text, the same
dict a user edits on the Import page or passes with ``--mapping FILE``. Keys:

``client_id`` (required), ``clinician_id``, ``episode_id`` (+ ``episode_pattern``), ``age_group``, ``rater``,
``ending`` (how the episode ended, on the rating that closed it: planned, unplanned or ended),
``session_date`` (+ ``date_format``: 'ymd', 'dmy', 'mdy' or a strptime format), ``session_number``
(+ ``session_pattern``, a regex whose first group is the number, e.g. for REDCap event names), and either

- long layout: ``measure_column`` (+ ``measure_values`` {cell text: measure code}), ``total``, ``items``
  (generic item columns in item order) and ``measure_items`` {code: [item columns]}; or
- one row per session / per client: ``measures``: a list of {measure, items, total, skip, session_number
  (a constant, for wide per-client sheets), session_date (a column overriding the row's date)}.

``values`` recodes answer text to numbers ({'several days': 1}); ``header_row`` is the physical line of the
(last) header row. Recognition never guesses a client column from content alone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from caseload.measures import Measure, normalise_measure_name

# Header synonyms per role, compared after norm(): lower case, umlauts folded, only letters and digits.
# Order matters: the first synonym present wins.
ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "client_id": (
        "clientid",
        "client",
        "clientcode",
        "clientno",
        "clientnr",
        "clientnumber",
        "clientref",
        "clientreference",
        "clientpseudonym",
        "klient",
        "klientin",
        "klientid",
        "klientnr",
        "klientcode",
        "klientencode",
        "klientenid",
        "klientennr",
        "klientennummer",
        "patientencode",
        "patientenid",
        "patientennr",
        "patientennummer",
        "patientid",
        "patient",
        "patientcode",
        "patientno",
        "patientnr",
        "pseudonym",
        "participantid",
        "participant",
        "subjectid",
        "subject",
        "recordid",
        "personid",
        "code",
        "caseid",
        "casenumber",
        "caseno",
        "fallnummer",
    ),
    "episode_id": (
        "episodeid",
        "episode",
        "caseid",
        "casenumber",
        "caseno",
        "case",
        "treatmentepisode",
        "fall",
    ),
    "clinician_id": (
        "clinicianid",
        "clinician",
        "cliniciancode",
        "therapistid",
        "therapist",
        "therapistcode",
        "providerid",
        "provider",
        "providercode",
        "practitionerid",
        "practitioner",
        "counsellor",
        "counselor",
        "therapeut",
        "therapeutin",
        "behandler",
        "behandlerin",
        "staffid",
        "staff",
    ),
    "session_date": (
        "sessiondate",
        "date",
        "qdate",
        "datum",
        "sitzungsdatum",
        "appointmentdate",
        "visitdate",
        "datecompleted",
        "completeddate",
        "completiondate",
        "surveydate",
        "responsedate",
        "ratingdate",
        "recordeddate",
        "enddate",
        "startdate",
        "timestamp",
    ),
    "session_number": (
        "sessionnumber",
        "session",
        "sessionno",
        "sessionnr",
        "sessionid",
        "qsession",
        "sitzung",
        "sitzungsnummer",
        "sitzungnr",
        "visit",
        "visitnumber",
        "visitno",
        "appointmentnumber",
        "redcaprepeatinstance",
    ),
    "measure_column": (
        "measure",
        "instrument",
        "task",
        "questionnaire",
        "scale",
        "form",
        "test",
        "fragebogen",
        "messinstrument",
        "outcomemeasure",
        "measurename",
        "instrumentname",
    ),
    "total": (
        "total",
        "score",
        "totalscore",
        "value",
        "wert",
        "result",
        "sum",
        "summe",
        "gesamt",
        "rawscore",
    ),
    "rater": (
        "rater",
        "respondent",
        "informant",
        "raterrole",
        "ratertype",
        "qwho",
        "who",
        "completedby",
        "reporter",
    ),
    "age_group": ("agegroup", "clientgroup", "altersgruppe", "population", "agecategory"),
    "ending": (
        "ending",
        "endingtype",
        "endtype",
        "episodeending",
        "termination",
        "terminationtype",
        "dischargetype",
        "dischargereason",
        "discharge",
        "closuretype",
        "closurereason",
        "closedreason",
        "beendigung",
        "abschluss",
    ),
}
# Headers that name the ending unmistakably: mapped whatever the cells say, so an unknown value is reported.
STRONG_ENDING_NAMES = {"ending", "endingtype", "endtype", "episodeending", "terminationtype", "dischargetype"}
REDCAP_EVENT = "redcapeventname"
STRONG_MEASURE_NAMES = {
    "measure",
    "instrument",
    "questionnaire",
    "fragebogen",
    "messinstrument",
    "measurename",
    "instrumentname",
    "outcomemeasure",
}
QUALTRICS_NOT_CLIENT = {
    "responseid",
    "ipaddress",
    "recipientemail",
    "recipientfirstname",
    "recipientlastname",
}
# Qualtrics metadata columns whose question-text row repeats the name with spaces ('Start Date').
QUALTRICS_METADATA = {
    "startdate",
    "enddate",
    "recordeddate",
    "ipaddress",
    "responseid",
    "progress",
    "finished",
}
QUALTRICS_CLIENT_REFERENCE = {"externalreference", "externaldatareference"}
TOTAL_WORDS = ("total", "score", "sum", "summe", "gesamt", "raw", "wert", "value", "sumscore", "totalscore")
ITEM_WORDS = ("q", "item", "question", "frage", "i")
DATE_WORDS = ("date", "datum", "sessiondate", "day")
SESSION_EVENT_PATTERN = r"(?:session|visit|sitzung|appointment|termin|s)[_ ]?(\d+)"
ARM_PATTERN = r"arm_(\d+)"

# Standard answer texts of the PHQ/GAD family (Qualtrics 'choice text' exports), recoded to their scores.
CHOICE_TEXT = {
    "not at all": 0,
    "several days": 1,
    "more than half the days": 2,
    "nearly every day": 3,
    "überhaupt nicht": 0,
    "an einzelnen tagen": 1,
    "an mehr als der hälfte der tage": 2,
    "beinahe jeden tag": 3,
}
_DESCRIPTION_CLIENT = re.compile(r"client (code|id|number|no)|your (code|id)|pseudonym|klient", re.I)


def norm(text: str) -> str:
    """Header text reduced to lower-case letters and digits ('Session #' -> 'session', 'Klient' -> 'klient')."""
    return _norm(str(text))


@lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower())


def tokens(text: str) -> list[str]:
    """Header words: split at non-letters and camelCase ('orsIndividual' -> ['ors', 'individual'])."""
    return list(_tokens(str(text)))


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    # Cached: header detection asks for the words of every measure's item names for every cell it tries.
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    folded = unicodedata.normalize("NFKD", spaced.replace("ß", "ss")).encode("ascii", "ignore").decode()
    return tuple(t for t in re.split(r"[^a-z0-9]+", folded.lower()) if t)


@dataclass
class Header:
    """Where the header is and what the columns are called."""

    line: int  # physical line of the (last) header row
    index: int  # position of that row in the grid's head
    names: list[str]
    descriptions: list[str] = field(default_factory=list)
    kind: str = "plain"  # 'plain', 'qualtrics', 'two-level'
    skip_after: int = 0  # rows after the header row that are header too (Qualtrics)
    name_line: int = 0  # physical line of the row holding the column names


@dataclass
class Recognition:
    """A proposed mapping, how sure we are, and what a person should check."""

    mapping: dict[str, Any]
    layout: str
    header: Header
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ----------------------------------------------------------------------------- measure column patterns


_ALIAS_CACHE: dict[tuple[str, tuple[str, ...]], list[str]] = {}


def _alias_keys(m: Measure) -> list[str]:
    """The measure's code and aliases as norm() keys, longest first (cached: headers are checked often)."""
    cache_key = (m.code, m.aliases)
    if cache_key not in _ALIAS_CACHE:
        keys = {norm(m.code), *(norm(a) for a in m.aliases)}
        keys = {k for k in keys if k and k not in {norm(w) for w in TOTAL_WORDS}}
        _ALIAS_CACHE[cache_key] = sorted(keys, key=len, reverse=True)
    return _ALIAS_CACHE[cache_key]


def measure_of_total(name: str, registry: dict[str, Measure], hint: str | None = None) -> str | None:
    """The measure whose total this header names ('ORS total', 'Total_ORS', 'PHQ-9 Total', 'ORS')."""
    words = [t for t in tokens(name) if t not in TOTAL_WORDS]
    had_total_word = len(words) < len(tokens(name))
    if not words:
        return hint if had_total_word and hint else None
    return normalise_measure_name("".join(words), registry)


def measure_item(name: str, registry: dict[str, Measure]) -> tuple[str, int, bool] | None:
    """(measure, k, explicit_item_word) for 'ORSQ1', 'phq9_3', 'core10_q01', 'ORS_5' (k may be a session)."""
    low = str(name).strip().lower()
    squeezed = re.sub(r"[\s_\-.]", "", low)
    for code, m in registry.items():
        for key in _alias_keys(m):
            # A key is letters and digits only (norm): a header not starting with it cannot match, and its
            # pattern need not be compiled (one per alias and measure, ~0.5 ms each).
            if not (squeezed.startswith(key) or low.startswith(key)):
                continue
            pattern = rf"^{key}[\s_\-.]*(?P<word>q|item|question|frage|i)?[\s_\-.]*0*(?P<k>\d{{1,3}})$"
            hit = re.match(pattern, squeezed) or re.match(pattern, low)
            if hit:
                return code, int(hit.group("k")), bool(hit.group("word"))
    return None


def generic_item(name: str) -> int | None:
    """k for generic item columns ('item1', 'Item 2', 'q3', 'i4')."""
    hit = re.match(r"^(?:item|q|i|question|frage)[\s_\-.]*0*(\d{1,2})$", str(name).strip().lower())
    return int(hit.group(1)) if hit else None


def wide_date(name: str) -> int | None:
    """k for per-session date columns ('Date_3', 'Datum 3', 'Session 3 date', 'S3_date')."""
    low = str(name).strip().lower()
    hit = re.match(r"^(?:session[\s_\-.]*)?(?:date|datum)[\s_\-.]*0*(\d{1,3})$", low) or re.match(
        r"^(?:s|session|sitzung)[\s_\-.]*0*(\d{1,3})[\s_\-.]*(?:date|datum)$", low
    )
    return int(hit.group(1)) if hit else None


def wide_session_total(name: str, registry: dict[str, Measure]) -> tuple[str, int] | None:
    """(measure, k) for 'Session 3 ORS', 'S3 ORS', 'ORS S3', 'ORS session 3' (sessions across columns)."""
    low = str(name).strip().lower()
    squeezed = re.sub(r"[\s_\-.]", "", low)
    for code, m in registry.items():
        for key in _alias_keys(m):
            hit = None
            if squeezed.endswith(
                key
            ):  # the key ends the first pattern and starts the second (see measure_item)
                hit = re.match(rf"^(?:s|session|sitzung)[\s_\-.]*0*(\d{{1,3}})[\s_\-.]*{key}$", squeezed)
            if not hit and squeezed.startswith(key):
                hit = re.match(rf"^{key}[\s_\-.]*(?:s|session|sitzung)[\s_\-.]*0*(\d{{1,3}})$", squeezed)
            if hit:
                return code, int(hit.group(1))
    return None


def item_by_name(name: str, measure: Measure) -> int | None:
    """Position (0-based) of the measure item this header names ('Individually', 'q_goals', 'srs_overall')."""
    alias_words = {norm(a) for a in (measure.code, *measure.aliases)}
    words = [w for w in tokens(name) if w not in alias_words and w not in ITEM_WORDS]
    if not words:
        return None
    hits = set()
    for pos, (code, label) in enumerate(
        zip(measure.items, measure.item_labels or measure.items, strict=False)
    ):
        for candidate in (tokens(code), tokens(label)):
            head = candidate[:2]
            if len(words) >= len(head) and all(
                words[i].startswith(c[: max(4, len(c) - 2)]) for i, c in enumerate(head)
            ):
                hits.add(pos)
                break
    return hits.pop() if len(hits) == 1 else None


def _qualifier_measure(qualifier: str | None, name: str, registry: dict[str, Measure]) -> str | None:
    """A measure named in the group header or as a word of the header ('SRS Overall', 'srs_goals')."""
    for text in (qualifier, name):
        if not text:
            continue
        for w in tokens(text):
            code = normalise_measure_name(w, registry)
            if code:
                return code
        code = normalise_measure_name(text, registry)
        if code:
            return code
    return None


# ----------------------------------------------------------------------------- header detection


def _known_header(cell: str, registry: dict[str, Measure]) -> bool:
    n = norm(cell)
    if not n:
        return False
    if any(n in syn for syn in ROLE_SYNONYMS.values()) or n == REDCAP_EVENT:
        return True
    if measure_of_total(cell, registry) or measure_item(cell, registry) or wide_date(cell) is not None:
        return True
    if generic_item(cell) is not None or wide_session_total(cell, registry):
        return True
    return any(item_by_name(cell, m) is not None for m in registry.values() if m.items)


def _is_number(cell: str) -> bool:
    return bool(re.fullmatch(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)", cell.strip()))


def find_header(
    head: list[tuple[int, list[str]]],
    registry: dict[str, Measure],
    wanted: set[str] | None = None,
    line: int | None = None,
) -> Header:
    """The header row: the row at ``line`` if given, else the early row naming the most known columns
    (or the most columns a given mapping names)."""
    rows = [(ln, cells) for ln, cells in head if any(c.strip() for c in cells)]
    if not rows:
        return Header(line=0, index=0, names=[])
    best_i: int | None = None
    if line is not None:
        best_i = next((i for i, (ln, _c) in enumerate(rows) if ln == line), None)
    if best_i is None:
        best_score = 0
        for i, (_line, cells) in enumerate(rows[:25]):
            if sum(1 for c in cells if c.strip()) <= best_score:
                continue  # a row scores at most its filled cells: this one cannot beat the best so far
            if wanted:
                score = sum(1 for c in cells if c.strip() and c.strip() in wanted)
            else:
                score = sum(1 for c in cells if _known_header(c, registry))
            if score > best_score:
                best_i, best_score = i, score
        if best_i is None or best_score < (1 if wanted else 2):
            best_i = None
            for i, (_line, cells) in enumerate(rows[:25]):
                filled = [c for c in cells if c.strip()]
                if len(filled) >= 2 and not any(_is_number(c) for c in filled):
                    best_i = i
                    break
    return header_from_index(rows, best_i or 0, registry)


def header_from_index(rows: list[tuple[int, list[str]]], best_i: int, registry: dict[str, Measure]) -> Header:
    """The header at rows[best_i], with Qualtrics metadata rows and a measure group row above resolved."""
    line, cells = rows[best_i]
    names = [c.strip() for c in cells]
    kind, descriptions, skip_after = "plain", [], 0
    # Qualtrics: variable names, question text, then {"ImportId": ...} metadata.
    following = rows[best_i + 1 : best_i + 3]
    for offset, (_l, nxt) in enumerate(following, start=1):
        if any(c.strip().startswith('{"ImportId"') for c in nxt):
            kind, skip_after = "qualtrics", offset
            if offset == 2:
                descriptions = [c.strip() for c in following[0][1]]
            break
    else:
        # Without the ImportId row (deleted in Excel, or an older export) the question-text row still
        # spells out the metadata names ('Start Date' under StartDate): a header row, not data.
        nxt = following[0][1] if following else []
        spelled = sum(
            1
            for name, cell in zip(names, nxt, strict=False)
            if norm(name) in QUALTRICS_METADATA and norm(cell) == norm(name)
        )
        if spelled >= 2:
            kind, skip_after, descriptions = "qualtrics", 1, [c.strip() for c in nxt]
    # Two-level header: a group row right above naming measures ('ORS' over its item columns).
    if best_i > 0:
        prev_line, prev = rows[best_i - 1]
        groups = [(j, c.strip()) for j, c in enumerate(prev) if c.strip()]
        if prev_line == line - 1 and groups and all(normalise_measure_name(g, registry) for _j, g in groups):
            kind = "two-level"
            current = None
            starts = dict(groups)
            for j in range(len(names)):
                current = starts.get(j, current)
                if current and names[j]:
                    names[j] = f"{current} {names[j]}"
    names = _unique_names(names)
    if skip_after:
        line = following[skip_after - 1][0]
    return Header(
        line=line,
        index=best_i,
        names=names,
        descriptions=descriptions,
        kind=kind,
        skip_after=skip_after,
        name_line=rows[best_i][0],
    )


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        base = name or f"Unnamed {i + 1}"
        if base in seen:
            seen[base] += 1
            out.append(f"{base}.{seen[base]}")
        else:
            seen[base] = 0
            out.append(base)
    return out


# ----------------------------------------------------------------------------- recognition


def recognise(
    header: Header,
    registry: dict[str, Measure],
    column_values: Any,
    sheet_name: str | None = None,
) -> Recognition:
    """Propose a mapping for the columns under ``header``.

    ``column_values(name)`` returns a few distinct non-blank values of a column, used only to confirm
    choices the header already suggests (a measure column's values, a REDCap instance column's use).
    """
    names = header.names
    used: set[str] = set()
    mapping: dict[str, Any] = {"header_row": header.name_line}
    notes: list[str] = []
    problems: list[str] = []

    def pick(role: str, exclude: set[str] | None = None) -> str | None:
        exclude = exclude or set()
        normed = {n: norm(n) for n in names if n not in used and n not in exclude}
        for syn in ROLE_SYNONYMS[role]:
            for n, k in normed.items():
                if k == syn:
                    return n
        return None

    # Client id: a header synonym; else a Qualtrics question asking for the client code.
    client = pick("client_id", exclude={n for n in names if norm(n) in QUALTRICS_NOT_CLIENT})
    if client and norm(client) in ("caseid", "casenumber", "caseno", "code") and header.descriptions:
        client = None
    if not client and header.descriptions:
        for n, d in zip(names, header.descriptions, strict=False):
            if _DESCRIPTION_CLIENT.search(d or "") and norm(n) not in QUALTRICS_NOT_CLIENT:
                client = n
                notes.append(f"client code taken from {n!r} ({d})")
                break
    if not client:
        # Qualtrics carries a contact's pseudonymous code in ExternalReference (the 'External Data
        # Reference' of a contact list); only a filled one is a client column (formats-and-norms 1.9).
        client = next((n for n in names if norm(n) in QUALTRICS_CLIENT_REFERENCE and column_values(n)), None)
        if client:
            notes.append(f"client code taken from {client!r} (the survey's external reference)")
    if client:
        mapping["client_id"] = client
        used.add(client)
    else:
        problems.append("no column with the client code was recognised")

    redcap_event = next((n for n in names if norm(n) == REDCAP_EVENT), None)
    for role in ("episode_id", "clinician_id", "age_group", "rater", "ending"):
        col = pick(role)
        if col and role == "age_group" and not _values_are_age_groups(column_values(col)):
            col = None
        if (
            col
            and role == "ending"
            and norm(col) not in STRONG_ENDING_NAMES
            and not _values_are_endings(column_values(col))
        ):
            col = None  # e.g. a "discharge" column holding dates
        if col and role == "rater" and not _values_are_raters(column_values(col)):
            col = None
        if col:
            mapping[role] = col
            used.add(col)
    if "episode_id" not in mapping and redcap_event:
        mapping["episode_id"] = redcap_event
        mapping["episode_pattern"] = ARM_PATTERN

    # Session number: explicit column, else a REDCap event name carrying the number.
    session = pick("session_number")
    if session and norm(session) == "redcaprepeatinstance" and not column_values(session):
        session = None
    if session:
        mapping["session_number"] = session
        used.add(session)
    elif redcap_event and any(re.search(SESSION_EVENT_PATTERN, v, re.I) for v in column_values(redcap_event)):
        mapping["session_number"] = redcap_event
        mapping["session_pattern"] = SESSION_EVENT_PATTERN
        used.add(redcap_event)

    # Wide per-client layout: Date_k / ORS_k columns.
    wide_dates = {wide_date(n): n for n in names if n not in used and wide_date(n) is not None}
    wide_totals: dict[tuple[str, int], str] = {}
    item_cols: dict[str, dict[int, str]] = {}
    for n in names:
        if n in used or wide_date(n) is not None:
            continue
        hit = wide_session_total(n, registry)
        if hit:
            wide_totals[hit] = n
            continue
        mi = measure_item(n, registry)
        if mi:
            code, k, explicit = mi
            m = registry[code]
            item_cols.setdefault(code, {})[k] = n
    for code, cols in list(item_cols.items()):
        m = registry[code]
        ks = set(cols)
        explicit_items = any(measure_item(c, registry)[2] for c in cols.values())  # type: ignore[index]
        if not explicit_items and (max(ks) > m.n_items or (ks & set(wide_dates))) or not m.items:
            for k, c in cols.items():
                wide_totals[(code, k)] = c
            del item_cols[code]

    session_date = pick("session_date")
    if session_date and not wide_totals:
        mapping["session_date"] = session_date
        used.add(session_date)

    measure_col = pick("measure_column")
    measure_values: dict[str, str] = {}
    if measure_col:
        values = column_values(measure_col)
        measure_values = {v: normalise_measure_name(v, registry) for v in values}
        # A weak name ('form', 'test') must hold known measures; a strong one ('measure') is trusted, so
        # rows naming unknown measures are rejected by name instead of the file being unrecognised.
        if not any(measure_values.values()) and norm(measure_col) not in STRONG_MEASURE_NAMES:
            measure_col = None

    if wide_totals:
        layout = "wide: one row per client, sessions across columns"
        if session_date:
            notes.append(f"{session_date!r} ignored: dates come from the per-session columns")
        entries = []
        for (code, k), col in sorted(wide_totals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            entry: dict[str, Any] = {"measure": code, "items": [], "total": col, "session_number": k}
            if k in wide_dates:
                entry["session_date"] = wide_dates[k]
            entries.append(entry)
            used.add(col)
        used.update(wide_dates.values())
        mapping["measures"] = entries
        mapping.pop("session_number", None)
    elif measure_col:
        layout = "long: one row per client, session and measure"
        mapping["measure_column"] = measure_col
        used.add(measure_col)
        unknown = sorted(v for v, c in measure_values.items() if c is None)
        if unknown:
            notes.append(
                f"measure values not in the registry (those rows will be rejected): {', '.join(unknown[:10])}"
            )
        total = pick("total")
        if total:
            mapping["total"] = total
            used.add(total)
        generic = {generic_item(n): n for n in names if n not in used and generic_item(n) is not None}
        if generic:
            mapping["items"] = [generic[k] for k in sorted(generic)]
            used.update(generic.values())
        measure_items = {}
        for code in sorted({c for c in measure_values.values() if c}):
            m = registry[code]
            found = _items_by_name(names, used, m, registry, header)
            if found:
                measure_items[code] = found
            elif code in item_cols and len(item_cols[code]) == m.n_items:
                measure_items[code] = [item_cols[code][k] for k in sorted(item_cols[code])]
        if measure_items:
            mapping["measure_items"] = measure_items
            for cols in measure_items.values():
                used.update(cols)
        if not total and not generic and not measure_items:
            problems.append(f"no score columns found next to the measure column {measure_col!r}")
        if measure_items or generic:
            layout = "long: one row per client, session and measure, item columns"
    else:
        layout = "one row per session, measures side by side"
        entries = _side_by_side(names, used, registry, header, item_cols, column_values, sheet_name)
        if header.kind == "qualtrics":
            layout = "survey export (Qualtrics): one row per response"
        elif redcap_event:
            layout = "survey export (REDCap flat): one row per record and event"
        for entry in entries:
            own_date = _measure_date_column(names, used, entry["measure"], registry)
            if own_date:  # a REDCap repeating instrument's own date field ('phq9_date')
                entry["session_date"] = own_date
                used.add(own_date)
        mapping["measures"] = entries
        if not entries:
            problems.append("no measure columns (items or totals of a known measure) were recognised")

    # Skip flags for the measures in use ('ORS_Skip').
    for entry in mapping.get("measures", []):
        skip = _skip_column(names, entry["measure"], registry)
        if skip:
            entry["skip"] = skip
            used.add(skip)

    if any(_values_are_choice_text(column_values(c)) for c in _score_columns(mapping)):
        mapping["values"] = dict(CHOICE_TEXT)
        notes.append("answers given as text ('Several days') are recoded to their scores (0-3)")

    has_session = mapping.get("session_number") or any(
        e.get("session_number") is not None for e in mapping.get("measures", [])
    )
    has_date = mapping.get("session_date") or any(e.get("session_date") for e in mapping.get("measures", []))
    if not has_session and not has_date:
        problems.append("no session date or session number column was recognised")
    elif not has_session:
        notes.append("no session number: sessions are numbered by date within each client")
    if header.kind == "qualtrics":
        if header.skip_after == 2:
            notes.append("Qualtrics export: 3 header rows (names, question text, import ids) skipped")
        else:
            notes.append("Qualtrics export: 2 header rows (names, question text) skipped")
    return Recognition(mapping=mapping, layout=layout, header=header, problems=problems, notes=notes)


def _items_by_name(
    names: list[str], used: set[str], m: Measure, registry: dict[str, Measure], header: Header
) -> list[str] | None:
    """The measure's item columns found by item name, in item order, or None unless all are there."""
    if not m.items:
        return None
    found: dict[int, str] = {}
    for n in names:
        if n in used:
            continue
        qualifier = _qualifier_measure(None, n, registry)
        if qualifier and qualifier != m.code:
            continue
        pos = item_by_name(n, m)
        if pos is not None and pos not in found:
            found[pos] = n
    if len(found) == m.n_items:
        return [found[i] for i in range(m.n_items)]
    return None


def _side_by_side(
    names: list[str],
    used: set[str],
    registry: dict[str, Measure],
    header: Header,
    item_cols: dict[str, dict[int, str]],
    column_values: Any,
    sheet_name: str | None,
) -> list[dict[str, Any]]:
    """Entries for sessions-in-rows files: each measure's item columns and/or total column."""
    hint = normalise_measure_name(sheet_name, registry) if sheet_name else None
    totals: dict[str, str] = {}
    for n in names:
        if n in used:
            continue
        code = measure_of_total(n, registry, hint=hint)
        if code and code not in totals and not measure_item(n, registry):
            totals[code] = n
    entries: dict[str, dict[str, Any]] = {}
    taken: set[str] = set(used) | set(totals.values())
    for code, cols in item_cols.items():
        m = registry[code]
        if set(cols) >= set(range(1, m.n_items + 1)):
            entries[code] = {"measure": code, "items": [cols[k] for k in range(1, m.n_items + 1)]}
            taken.update(entries[code]["items"])
    # Items named by their wording ('Individually', 'SRS Goals & topics').
    for code, m in registry.items():
        if code in entries or not m.items:
            continue
        found = _items_by_name(names, taken, m, registry, header)
        if found:
            entries[code] = {"measure": code, "items": found}
            taken.update(found)
    # Qualtrics-style matrix questions (Q2_1..Q2_9): a block whose size matches exactly one measure.
    groups: dict[str, dict[int, str]] = {}
    for n in names:
        hit = re.fullmatch(r"(q\d+)_(\d+)", n.strip().lower())
        if hit and n not in taken:
            groups.setdefault(hit.group(1), {})[int(hit.group(2))] = n
    for _g, cols in groups.items():
        ks = sorted(cols)
        if ks != list(range(1, len(ks) + 1)):
            continue
        fits = [c for c, m in registry.items() if m.n_items == len(ks) and c not in entries]
        if len(fits) == 1:
            entries[fits[0]] = {"measure": fits[0], "items": [cols[k] for k in ks]}
            taken.update(cols.values())
    for code, col in totals.items():
        entries.setdefault(code, {"measure": code, "items": []})["total"] = col
    for entry in entries.values():
        entry.setdefault("total", None)
    return [entries[c] for c in registry if c in entries]


MEASURE_DATE_WORDS = ("date", "datum", "timestamp")


def _measure_date_column(
    names: list[str], used: set[str], code: str, registry: dict[str, Measure]
) -> str | None:
    """The column dating one measure ('phq9_date', 'Date GAD-7', 'phq9_timestamp'), or None."""
    for n in names:
        if n in used:
            continue
        words = tokens(n)
        rest = [w for w in words if w not in MEASURE_DATE_WORDS]
        if rest and len(rest) < len(words) and normalise_measure_name("".join(rest), registry) == code:
            return n
    return None


def _skip_column(names: list[str], code: str, registry: dict[str, Measure]) -> str | None:
    for n in names:
        words = tokens(n)
        if any(w in ("skip", "skipped", "skipflag") for w in words):
            rest = [w for w in words if w not in ("skip", "skipped", "skipflag")]
            if rest and normalise_measure_name("".join(rest), registry) == code:
                return n
    return None


def _score_columns(mapping: dict[str, Any]) -> list[str]:
    cols = list(mapping.get("items") or [])
    if mapping.get("total"):
        cols.append(mapping["total"])
    for item_list in (mapping.get("measure_items") or {}).values():
        cols.extend(item_list)
    for entry in mapping.get("measures", []):
        cols.extend(c for c in entry.get("items") or [] if c)
        if entry.get("total"):
            cols.append(entry["total"])
    return cols


def _values_are_choice_text(values: list[str]) -> bool:
    return bool(values) and any(v.strip().lower() in CHOICE_TEXT for v in values)


AGE_GROUP_VALUES = {
    "adult": "adult",
    "adults": "adult",
    "erwachsene": "adult",
    "erwachsener": "adult",
    "a": "adult",
    "adolescent": "adolescent",
    "adolescents": "adolescent",
    "teen": "adolescent",
    "youth": "adolescent",
    "jugendliche": "adolescent",
    "jugendlicher": "adolescent",
    "child": "child",
    "children": "child",
    "kind": "child",
    "kinder": "child",
    "c": "child",
}
# How an export says an episode ended (on the rating that closed it); "" = no ending on this rating.
# Recorded as planned, unplanned or just "ended" (type not said). Anything else is reported, not guessed.
ENDING_VALUES = {
    "": "",
    "no": "",
    "none": "",
    "open": "",
    "active": "",
    "ongoing": "",
    "n": "",
    "0": "",
    "planned": "planned",
    "mutual": "planned",
    "agreed": "planned",
    "completed": "planned",
    "complete": "planned",
    "treatment completed": "planned",
    "planned ending": "planned",
    "regulär": "planned",
    "regulaer": "planned",
    "geplant": "planned",
    "unplanned": "unplanned",
    "unilateral": "unplanned",
    "dropout": "unplanned",
    "drop-out": "unplanned",
    "dropped out": "unplanned",
    "did not return": "unplanned",
    "lost contact": "unplanned",
    "lost to follow-up": "unplanned",
    "unplanned ending": "unplanned",
    "abbruch": "unplanned",
    "ungeplant": "unplanned",
    "ended": "ended",
    "end": "ended",
    "closed": "ended",
    "discharged": "ended",
    "terminated": "ended",
    "yes": "ended",
    "y": "ended",
    "1": "ended",
    "beendet": "ended",
}
RATER_VALUES = {
    "self": "self",
    "client": "self",
    "patient": "self",
    "selbst": "self",
    "0": "self",
    "s": "self",
    "own": "self",
    "klient": "self",
    "parent": "parent",
    "mother": "parent",
    "father": "parent",
    "carer": "parent",
    "caregiver": "parent",
    "guardian": "parent",
    "eltern": "parent",
    "mutter": "parent",
    "vater": "parent",
    "partner": "partner",
    "spouse": "partner",
    "teacher": "teacher",
    "lehrer": "teacher",
    "clinician": "clinician",
    "therapist": "clinician",
    "other": "other",
    "collateral": "other",
    "1": "other",
    "andere": "other",
}


def _values_are_age_groups(values: list[str]) -> bool:
    return bool(values) and all(v.strip().lower() in AGE_GROUP_VALUES for v in values)


def _values_are_endings(values: list[str]) -> bool:
    return bool(values) and all(v.strip().lower() in ENDING_VALUES for v in values)


def _values_are_raters(values: list[str]) -> bool:
    return bool(values) and all(v.strip().lower() in RATER_VALUES for v in values)


# The mapping keys that each name one column of the file (scores are mapped separately).
ROLE_KEYS = (
    "client_id",
    "clinician_id",
    "episode_id",
    "age_group",
    "rater",
    "ending",
    "session_date",
    "session_number",
    "measure_column",
)


def referenced_columns(mapping: dict[str, Any]) -> list[str]:
    """Every column a mapping reads, for checking it against a file's header."""
    cols = [mapping.get(k) for k in ROLE_KEYS]
    cols += _score_columns(mapping)
    for entry in mapping.get("measures", []):
        cols += [entry.get("skip"), entry.get("session_date")]
    return [c for c in dict.fromkeys(cols) if c]
