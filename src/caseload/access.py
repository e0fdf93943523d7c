"""Who may see which clients, as SQL: every store query that returns client data filters by a Viewer.

A clinician sees ratings recorded under their own clinician code, a supervisor those of the codes they
supervise (and their own), an admin everything. With sign-in off (a single user on their own machine)
the viewer is ``Viewer.everyone()``. Filtering is by rating row: a session recorded under another
clinician's code stays hidden even when the client is shared, and ratings without a clinician code are
visible only to viewers who see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from caseload.auth import User

LOCAL_USER = "local"  # the audit trail's name for the single user when sign-in is off


@dataclass(frozen=True)
class Viewer:
    """The person looking: username, role and the clinician codes whose ratings they may see (None = all)."""

    username: str
    role: str
    clinician_ids: frozenset[str] | None

    @staticmethod
    def everyone() -> Viewer:
        """The viewer when sign-in is off: sees the whole store."""
        return Viewer(LOCAL_USER, "admin", None)

    @property
    def sees_all(self) -> bool:
        """True for admins and single-user mode."""
        return self.clinician_ids is None

    @property
    def is_admin(self) -> bool:
        """Admins manage users and read the audit trail."""
        return self.role == "admin"

    def can_see_clinician(self, clinician_id: str | None) -> bool:
        """Whether ratings recorded under this clinician code are visible."""
        if self.clinician_ids is None:
            return True
        return clinician_id is not None and clinician_id in self.clinician_ids

    def cache_key(self) -> tuple:
        """A hashable, stable key for caches whose result depends on what this viewer may see."""
        return (self.role, None if self.clinician_ids is None else tuple(sorted(self.clinician_ids)))


def viewer_for(user: User) -> Viewer:
    """The Viewer of a signed-in account."""
    if user.role == "admin":
        return Viewer(user.username, "admin", None)
    codes = set(user.supervises) if user.role == "supervisor" else set()
    if user.clinician_id:
        codes.add(user.clinician_id)
    return Viewer(user.username, user.role, frozenset(codes))


def sql_literal(text: str) -> str:
    """A SQL string literal for DuckDB (single quotes doubled; DuckDB has no backslash escapes)."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be part of a clinician code")
    return "'" + text.replace("'", "''") + "'"


def clinician_condition(viewer: Viewer, column: str = "clinician_id") -> tuple[str, list[str]]:
    """A WHERE condition with ``?`` parameters restricting ``column`` to the viewer's clinician codes."""
    if viewer.clinician_ids is None:
        return "true", []
    if not viewer.clinician_ids:
        return "false", []
    codes = sorted(viewer.clinician_ids)
    return f"{column} in ({', '.join('?' for _ in codes)})", codes


def clinician_condition_sql(viewer: Viewer, column: str = "clinician_id") -> str:
    """The same condition with the codes written in as literals, for queries that cannot take parameters."""
    if viewer.clinician_ids is None:
        return "true"
    if not viewer.clinician_ids:
        return "false"
    return f"{column} in ({', '.join(sql_literal(c) for c in sorted(viewer.clinician_ids))})"


def visible_ratings(viewer: Viewer) -> str:
    """A subquery to use in place of the ``ratings`` table: ``select ... from {visible_ratings(v)} r``."""
    if viewer.clinician_ids is None:
        return "ratings"
    return f"(select * from ratings where {clinician_condition_sql(viewer)})"


def can_see_client(con: duckdb.DuckDBPyConnection, viewer: Viewer, client_id: str) -> bool:
    """Whether the viewer may see at least one stored rating of this client."""
    cond, params = clinician_condition(viewer)
    rows = con.execute(
        f"select count(*) from ratings where client_id = ? and {cond}", [client_id, *params]
    ).fetchall()
    return bool(rows[0][0])


def visible_client_ids(con: duckdb.DuckDBPyConnection, viewer: Viewer) -> list[str]:
    """Client codes with at least one rating the viewer may see, sorted."""
    cond, params = clinician_condition(viewer)
    rows = con.execute(f"select distinct client_id from ratings where {cond} order by 1", params).fetchall()
    return [r[0] for r in rows]


def visible_clinician_ids(con: duckdb.DuckDBPyConnection, viewer: Viewer) -> list[str]:
    """Clinician codes in the store that the viewer may see, sorted."""
    cond, params = clinician_condition(viewer)
    rows = con.execute(
        f"select distinct clinician_id from ratings where clinician_id is not null and {cond} order by 1",
        params,
    ).fetchall()
    return [r[0] for r in rows]
