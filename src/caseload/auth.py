"""Users, roles and sign-in sessions for a shared deployment, kept in the store and usable offline.

Sign-in is on exactly when the store holds at least one user: a single therapist who never adds one
runs without it; the first ``caseload user add`` (which must create an admin) turns it on for every
page and cannot be forgotten halfway. Passwords are stored only as argon2id hashes (salted, slow,
memory-hard). A session is a random token whose SHA-256 is stored; it expires after a period without
use and, at the latest, a fixed time after sign-in.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from caseload.signin_limits import IDLE_MINUTES, MAX_HOURS, ROLES
from caseload.store import get_setting, now_utc, transaction

MIN_PASSWORD = 10
MAX_PASSWORD = 256  # hashing a megabyte of "password" would be a cheap denial of service
TOUCH_SECONDS = 60  # last_seen is written at most this often per session
FAILED_LIMIT = 5  # failed sign-ins per user within FAILED_WINDOW before further tries are refused
FAILED_WINDOW = timedelta(minutes=15)

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASHER = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile: 64 MiB, 3 passes


@functools.cache
def _dummy_hash() -> str:
    """A hash verified against when the user does not exist (same cost as a real check). Made on first use:
    at import it cost every `caseload` command, an import included, 0.2-0.5 s."""
    return _HASHER.hash("not-a-real-password")


class AuthError(ValueError):
    """A user-management or sign-in request that cannot be done; the message says why."""


@dataclass(frozen=True)
class User:
    """One account: its role, the clinician code it treats under, and the codes it supervises."""

    username: str
    role: str
    clinician_id: str | None
    supervises: tuple[str, ...]
    created_at: datetime


def hash_password(password: str) -> str:
    """An argon2id hash (with its own random salt) of the password."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when the password matches the stored hash; never raises for a wrong or malformed one."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_username(username: str) -> str:
    """The username if it is 2-32 lowercase letters, digits, '.', '_' or '-'; AuthError otherwise."""
    if not _USERNAME.match(username or ""):
        raise AuthError(
            f"Username {username!r} is not allowed: use 2-32 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username


def check_code(code: str, what: str = "clinician code") -> str:
    """A clinician code as it appears in the exports (letters, digits, '.', '_', '-'); AuthError otherwise."""
    if not _CODE.match(code or ""):
        raise AuthError(f"{what.capitalize()} {code!r} is not allowed: use letters, digits, '.', '_' or '-'.")
    return code


def check_password(password: str, username: str) -> str:
    """The password if it is long enough and not the username; AuthError with the rule otherwise."""
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AuthError(f"The password must have at most {MAX_PASSWORD} characters.")
    if password.strip().lower() == username.lower():
        raise AuthError("The password must not be the username.")
    return password


def signin_required(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the store has any user: then every page asks for sign-in."""
    return bool(con.execute("select count(*) from users").fetchall()[0][0])


def get_user(con: duckdb.DuckDBPyConnection, username: str) -> User | None:
    """The account with this username, or None."""
    rows = con.execute(f"select {_USER_COLUMNS} from users u where u.username = ?", [username]).fetchall()
    return _user(rows[0]) if rows else None


# One round trip per lookup: the account and the codes it supervises (sign-in checks run on every page view).
_USER_COLUMNS = """u.username, u.role, u.clinician_id, u.created_at,
    (select list(clinician_id order by clinician_id) from supervision where supervisor = u.username)"""


def _user(row: tuple) -> User:
    name, role, clinician_id, created, codes = row[:5]
    return User(name, role, clinician_id, tuple(codes or ()), created)


def list_users(con: duckdb.DuckDBPyConnection) -> list[User]:
    """Every account, by username."""
    names = [r[0] for r in con.execute("select username from users order by username").fetchall()]
    return [u for u in (get_user(con, n) for n in names) if u is not None]


def _check_role(role: str, clinician_id: str | None, supervises: tuple[str, ...]) -> None:
    if role not in ROLES:
        raise AuthError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    if role == "clinician" and not clinician_id:
        raise AuthError(
            "A clinician account needs the clinician code used in the exports (--clinician CODE), "
            "so Caseload knows whose clients are theirs."
        )
    if role != "supervisor" and supervises:
        raise AuthError("Only a supervisor account supervises other clinicians.")


def add_user(
    con: duckdb.DuckDBPyConnection,
    username: str,
    password: str,
    role: str,
    clinician_id: str | None = None,
    supervises: tuple[str, ...] | list[str] = (),
) -> User:
    """Create an account; the first one must be an admin, so someone can manage users and read the audit."""
    check_username(username)
    check_password(password, username)
    if clinician_id is not None:
        check_code(clinician_id)
    supervises = tuple(dict.fromkeys(check_code(c) for c in supervises))
    _check_role(role, clinician_id, supervises)
    password_hash = hash_password(password)
    with transaction(con):
        if get_user(con, username) is not None:
            raise AuthError(f"There is already a user {username!r}.")
        if not signin_required(con) and role != "admin":
            raise AuthError(
                "The first user must be an admin (--role admin): adding users turns sign-in on, and an "
                "admin is needed to manage users and read the audit trail."
            )
        now = now_utc()
        con.execute(
            "insert into users values (?, ?, ?, ?, ?, ?)",
            [username, role, clinician_id, password_hash, now, now],
        )
        for code in supervises:
            con.execute("insert into supervision values (?, ?)", [username, code])
    user = get_user(con, username)
    assert user is not None
    return user


def remove_user(con: duckdb.DuckDBPyConnection, username: str) -> None:
    """Delete an account with its sessions and supervision links; the last admin stays while others exist."""
    with transaction(con):
        user = get_user(con, username)
        if user is None:
            raise AuthError(f"There is no user {username!r}.")
        if user.role == "admin":
            admins, others = con.execute(
                "select count(*) filter (where role = 'admin'), count(*) filter (where role <> 'admin') from users"
            ).fetchall()[0]
            if admins == 1 and others:
                raise AuthError(
                    f"{username!r} is the last admin: add another admin first, or remove the other "
                    f"{others} user(s) to turn sign-in off."
                )
        con.execute("delete from sessions where username = ?", [username])
        con.execute("delete from supervision where supervisor = ?", [username])
        con.execute("delete from users where username = ?", [username])


def set_password(con: duckdb.DuckDBPyConnection, username: str, password: str) -> None:
    """Replace a user's password and end all their sessions."""
    check_password(password, username)
    password_hash = hash_password(password)
    with transaction(con):
        if get_user(con, username) is None:
            raise AuthError(f"There is no user {username!r}.")
        con.execute(
            "update users set password_hash = ?, password_changed_at = ? where username = ?",
            [password_hash, now_utc(), username],
        )
        con.execute("delete from sessions where username = ?", [username])


def set_supervisees(
    con: duckdb.DuckDBPyConnection, username: str, codes: list[str] | tuple[str, ...]
) -> User:
    """Replace the clinician codes a supervisor supervises."""
    codes = tuple(dict.fromkeys(check_code(c) for c in codes))
    with transaction(con):
        user = get_user(con, username)
        if user is None:
            raise AuthError(f"There is no user {username!r}.")
        if user.role != "supervisor":
            raise AuthError(f"{username!r} is a {user.role}, not a supervisor.")
        con.execute("delete from supervision where supervisor = ?", [username])
        for code in codes:
            con.execute("insert into supervision values (?, ?)", [username, code])
    updated = get_user(con, username)
    assert updated is not None
    return updated


def recent_failures(con: duckdb.DuckDBPyConnection, username: str, now: datetime | None = None) -> int:
    """Failed sign-ins for this username within the failure window (read from the audit trail)."""
    now = now or now_utc()
    return int(
        con.execute(
            """select count(*) from audit_log where action = 'sign_in_failed' and username = ?
               and logged_at > ? and logged_at > coalesce((select max(logged_at) from audit_log
                   where action = 'sign_in' and username = ?), '-infinity'::timestamp)""",
            [username, now - FAILED_WINDOW, username],
        ).fetchall()[0][0]
    )


def authenticate(
    con: duckdb.DuckDBPyConnection, username: str, password: str, now: datetime | None = None
) -> User:
    """The user if the password is right; AuthError with one message for every kind of failure.

    Unknown users cost as much time as known ones (no username probing), and after FAILED_LIMIT
    failures within FAILED_WINDOW further tries are refused until the window has passed.
    """
    from caseload import audit

    name = (username or "").strip().lower()
    rows = con.execute("select password_hash from users where username = ?", [name]).fetchall()
    stored = rows[0][0] if rows else _dummy_hash()
    if len(password or "") > MAX_PASSWORD:
        password = ""
    locked = bool(rows) and recent_failures(con, name, now) >= FAILED_LIMIT
    ok = verify_password(stored, password or "") and bool(rows) and not locked
    if not ok:
        if rows:
            audit.record(con, name, "sign_in_failed", locked=locked)
        if locked:
            minutes = int(FAILED_WINDOW.total_seconds() // 60)
            raise AuthError(f"Too many failed sign-ins for this user. Try again in {minutes} minutes.")
        raise AuthError("Wrong username or password.")
    audit.record(con, name, "sign_in")
    if _HASHER.check_needs_rehash(stored):
        con.execute("update users set password_hash = ? where username = ?", [hash_password(password), name])
    user = get_user(con, name)
    assert user is not None
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_limits(con: duckdb.DuckDBPyConnection) -> tuple[timedelta, timedelta]:
    """Idle timeout and absolute session lifetime: settings auth.idle_minutes / auth.max_hours or the defaults."""
    idle = float(get_setting(con, "auth.idle_minutes", str(IDLE_MINUTES)) or IDLE_MINUTES)
    hours = float(get_setting(con, "auth.max_hours", str(MAX_HOURS)) or MAX_HOURS)
    return timedelta(minutes=idle), timedelta(hours=hours)


def start_session(con: duckdb.DuckDBPyConnection, user: User, now: datetime | None = None) -> str:
    """A new session token for a signed-in user (only its SHA-256 is stored)."""
    now = now or now_utc()
    _, lifetime = session_limits(con)
    token = secrets.token_urlsafe(32)
    con.execute(
        "insert into sessions values (?, ?, ?, ?, ?)",
        [_token_digest(token), user.username, now, now, now + lifetime],
    )
    con.execute("delete from sessions where expires_at < ?", [now])
    return token


def session_user(
    con: duckdb.DuckDBPyConnection, token: str | None, now: datetime | None = None
) -> User | None:
    """The user of a live session, or None when the token is unknown, idle too long or past its lifetime."""
    if not token:
        return None
    now = now or now_utc()
    digest = _token_digest(token)
    rows = con.execute(
        f"""select {_USER_COLUMNS}, s.last_seen, s.expires_at,
                   (select value from settings where key = 'auth.idle_minutes')
            from sessions s join users u using (username) where s.token_sha256 = ?""",
        [digest],
    ).fetchall()
    if not rows:
        return None
    last_seen, expires_at, idle_setting = rows[0][5:]
    idle = timedelta(minutes=float(idle_setting or IDLE_MINUTES))
    if now >= expires_at or now - last_seen >= idle:
        con.execute("delete from sessions where token_sha256 = ?", [digest])
        return None
    if (now - last_seen).total_seconds() >= TOUCH_SECONDS:
        con.execute("update sessions set last_seen = ? where token_sha256 = ?", [now, digest])
    return _user(rows[0])


def end_session(con: duckdb.DuckDBPyConnection, token: str | None) -> None:
    """Sign out: the token stops working at once."""
    if token:
        con.execute("delete from sessions where token_sha256 = ?", [_token_digest(token)])
