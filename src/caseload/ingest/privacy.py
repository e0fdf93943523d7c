"""Direct identifiers: find them by header and by content, and mask them in anything we print or store.

Caseload holds pseudonymous codes and scores only. A file with names, e-mail addresses, phone numbers,
dates of birth, postal addresses or national ids (or e-mails/phones inside free-text cells) is refused
unless the user asks to drop those columns. Survey-platform metadata that locates a person (IP address,
latitude/longitude) is never needed for scoring and is always dropped, with a notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from caseload.ingest.layouts import norm, tokens

HEADER_KINDS: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "fullname",
        "clientname",
        "patientname",
        "firstname",
        "lastname",
        "surname",
        "forename",
        "givenname",
        "familyname",
        "vorname",
        "nachname",
        "recipientfirstname",
        "recipientlastname",
        "clientfirstname",
        "clientlastname",
        "providerfirstname",
        "providerlastname",
        "initials",
        "nom",
        "prenom",
    ),
    "email": (
        "email",
        "emailaddress",
        "mail",
        "recipientemail",
        "clientemail",
        "provideremail",
        "emailadresse",
    ),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "cell",
        "cellphone",
        "telefon",
        "handy",
        "telefonnummer",
        "mobilnummer",
    ),
    "date_of_birth": ("dob", "dateofbirth", "birthdate", "birthday", "geburtsdatum", "gebdatum", "geboren"),
    "address": (
        "address",
        "streetaddress",
        "street",
        "postcode",
        "postalcode",
        "zip",
        "zipcode",
        "adresse",
        "strasse",
        "anschrift",
        "plz",
        "homeaddress",
    ),
    "national_id": (
        "ssn",
        "socialsecuritynumber",
        "socialsecurity",
        "nhsnumber",
        "nhsno",
        "nino",
        "nationalinsurancenumber",
        "nationalid",
        "medicarenumber",
        "medicare",
        "insurancenumber",
        "versichertennummer",
        "svnr",
        "sozialversicherungsnummer",
        "passport",
        "passportnumber",
        "mrn",
        "medicalrecordnumber",
        "taxid",
    ),
}
# Metadata that locates a person but is not a direct identifier: dropped silently-with-notice, never refused.
DROP_KINDS: dict[str, tuple[str, ...]] = {
    "ip_address": ("ipaddress", "ip", "ipadresse"),
    "location": ("locationlatitude", "locationlongitude", "latitude", "longitude", "geolocation"),
}
KIND_LABELS = {
    "name": "names",
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "date_of_birth": "dates of birth",
    "address": "postal addresses",
    "national_id": "national id / insurance numbers",
    "email_in_text": "e-mail addresses in free text",
    "phone_in_text": "phone numbers in free text",
    "ip_address": "IP addresses",
    "location": "location coordinates",
}

# Numbers written with the trunk prefix or area code set apart, as in Germany and Austria: '+49 (0)30
# 1234567', '0049 30 1234567', '(030) 1234567', '030/1234567'. Written so Python and RE2 read them alike.
_TRUNK_FORMS = (
    r"\+\d{1,3}\s?\(0\)\s?\d{1,5}[\s/-]?\d{3,8}",
    r"00\d{2,3}[\s-]\d{1,5}[\s-]\d{3,8}",
    r"\(0\d{2,5}\)\s?\d{4,8}",
    r"0\d{2,5}\s?/\s?\d{4,8}",
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(
    r"(?<![\w.,/:-])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{2,5}\)[\s.\-]?)?\d{3,5}(?:[\s\-]\d{3,8}|\.\d{3,4}\.\d{2,4})(?:[\s\-]\d{2,4})?"
    r"(?![\w/:-]|[.,]\d)"
    r"|(?<![\w.,/:-])\+\d[\d\s]{8,16}\d(?![\w/:-]|[.,]\d)|(?<![\w.,/:-])0\d{9,11}(?![\w/:-]|[.,]\d)"
    r"|(?<![\w.,/:-])" + r"(?:" + r"|".join(_TRUNK_FORMS) + r")(?![\w/:-]|[.,]\d)"
)
IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# SQL (RE2) versions used to scan whole columns inside DuckDB.
SQL_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
SQL_PHONE = (
    r"(^|[^\w.,/:-])"
    r"((\+\d{1,3}[ .-]?)?(\(\d{2,5}\)[ .-]?)?\d{3,5}([ -]\d{3,8}|\.\d{3,4}\.\d{2,4})([ -]\d{2,4})?"
    r"|\+\d[\d\s]{8,16}\d|0\d{9,11}|" + r"|".join(_TRUNK_FORMS) + r")"
    r"($|[^\w/:.,-]|[.,]($|\D))"
)
SQL_IP = r"^\s*(\d{1,3}\.){3}\d{1,3}\s*$"


@dataclass
class Finding:
    """One column that holds identifiers: its header, the kind, and (for free text) the rows."""

    column: str
    kind: str
    rows: list[int] = field(default_factory=list)
    blocking: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": mask(self.column),
            "kind": self.kind,
            "rows": list(self.rows),
            "blocking": self.blocking,
        }

    def describe(self) -> str:
        text = f"{mask(self.column)!r} ({KIND_LABELS.get(self.kind, self.kind)}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10]) + (" ..." if len(self.rows) > 10 else "")
            text += f" in row{'s' if len(self.rows) > 1 else ''} {shown}"
        return text + ")"


# Header words, for headers that say the same in more words ('Name des Klienten', 'Mobile Number',
# 'Date of Birth (dd/mm/yyyy)'): a word naming the identifier plus only words saying whose it is or how
# it is written. A word outside these lists ('Therapist name', 'Measure name') keeps a header unflagged.
_WHOSE = frozenset(
    "client clients klient klienten klientin patient patienten patientin participant teilnehmer teilnehmerin "
    "person recipient guardian parent parents mother father eltern mutter vater carer contact kontakt "
    "emergency notfall notfallkontakt own".split()
)
_FILLER = frozenset(
    "of the des der die s and und or oder in im no nr nummer number numbers address adresse addresses "
    "home work private privat primary secondary main mobile day evening business office full first last "
    "given family middle vor nach sur fore preferred legal maiden 1 2 3 dd mm yyyy yy tt jjjj mmm".split()
)
_KIND_WORDS: dict[str, frozenset[str]] = {
    "name": frozenset(
        "name names namen vorname nachname vornamen nachnamen surname forename firstname lastname "
        "givenname familyname familienname klientenname patientenname fullname".split()
    ),
    "email": frozenset("email mail emailaddress emailadresse mailadresse".split()),
    "phone": frozenset(
        "phone telephone tel telefon mobile mobil handy cell cellphone mobilephone phonenumber telefonnummer "
        "handynummer mobilnummer telefonnr telnr fax".split()
    ),
    "date_of_birth": frozenset("dob birthdate birthday geburtsdatum geburtstag gebdatum geboren".split()),
    "address": frozenset(
        "address streetaddress street postcode postalcode zip zipcode adresse strasse anschrift plz "
        "postleitzahl hausnummer wohnadresse".split()
    ),
    "national_id": frozenset(
        "ssn nhsnumber nino nationalid medicarenumber medicare medicaid insurancenumber versichertennummer "
        "versicherungsnummer krankenversicherungsnummer kvnr svnr sozialversicherungsnummer passport mrn".split()
    ),
}
# Phrases of several words that name an identifier on their own ('date of birth', 'e mail', 'address line').
_KIND_PHRASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "date_of_birth": (("date", "of", "birth"), ("birth", "date"), ("geb", "datum")),
    "email": (("e", "mail"),),
    "address": (("address", "line"), ("street", "address"), ("postal", "code"), ("zip", "code")),
    "national_id": (("insurance", "no"), ("insurance", "number"), ("social", "security"), ("health", "card")),
}


def _kind_by_words(name: str) -> str | None:
    """The identifier kind a header names in several words, or None."""
    words = [w for w in tokens(re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", name)) if w]
    if not words:
        return None
    for kind, phrases in _KIND_PHRASES.items():
        for phrase in phrases:
            for i in range(len(words) - len(phrase) + 1):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    rest = words[:i] + words[i + len(phrase) :]
                    if all(w in _WHOSE or w in _FILLER for w in rest):
                        return kind
    for kind, kind_words in _KIND_WORDS.items():
        if any(w in kind_words for w in words) and all(
            w in kind_words or w in _WHOSE or w in _FILLER for w in words
        ):
            return kind
    return None


def header_kind(name: str) -> tuple[str, bool] | None:
    """(kind, blocking) when a header names an identifier column, else None."""
    n = norm(name)
    if not n:
        return None
    # A header that is itself an address (a person's, typed into the header row).
    if EMAIL_RE.search(str(name)):
        return "email", True
    for kind, words in HEADER_KINDS.items():
        if n in words:
            return kind, True
    for kind, words in DROP_KINDS.items():
        if n in words:
            return kind, False
    kind = _kind_by_words(str(name))
    return (kind, True) if kind else None


def mask(text: str | None) -> str | None:
    """The text with e-mail addresses, phone numbers and IP addresses replaced by placeholders."""
    if text is None:
        return None
    text = EMAIL_RE.sub("[e-mail removed]", str(text))
    text = IPV4_RE.sub("[IP address removed]", text)
    return PHONE_RE.sub("[phone number removed]", text)


def refusal_message(file_name: str, findings: list[Finding]) -> str:
    """The message for a refused file: which columns hold what, and how to go on."""
    listed = "; ".join(f.describe() for f in findings)
    return (
        f"{file_name} contains direct identifiers: {listed}. Caseload stores anonymized data only. "
        "Remove these columns from the export, or import again choosing to drop them "
        "(caseload import --drop-identifiers): the rest of the file is then imported without them."
    )
