"""Users, password hashes, sign-in and sessions (caseload.auth)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _team import PASSWORD, fast_hashing  # noqa: F401 - fixture

from caseload import audit, auth
from caseload.store import now_utc, set_setting

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def team(con):
    auth.add_user(con, "admin1", PASSWORD, "admin")
    auth.add_user(con, "ann", PASSWORD, "clinician", clinician_id="T01")
    auth.add_user(con, "sue", PASSWORD, "supervisor", supervises=["T01", "T02"])
    return con


def test_sign_in_is_off_until_the_first_user_is_added(con):
    assert not auth.signin_required(con)
    auth.add_user(con, "admin1", PASSWORD, "admin")
    assert auth.signin_required(con)


def test_the_first_user_must_be_an_admin(con):
    with pytest.raises(auth.AuthError, match="first user must be an admin"):
        auth.add_user(con, "ann", PASSWORD, "clinician", clinician_id="T01")
    assert not auth.signin_required(con)


def test_passwords_are_stored_only_as_salted_argon2id_hashes(team):
    rows = team.execute("select username, password_hash from users order by username").fetchall()
    hashes = [h for _, h in rows]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == len(hashes)  # same password, different salts


def test_the_production_hasher_is_slow_and_memory_hard():
    from argon2 import PasswordHasher

    params = PasswordHasher().hash("x").split("$")[3]  # m=65536,t=3,p=4 as of argon2-cffi 21+
    settings = dict(p.split("=") for p in params.split(","))
    assert int(settings["m"]) >= 19 * 1024 and int(settings["t"]) >= 2


def test_a_clinician_account_needs_the_clinician_code_from_the_exports(team):
    with pytest.raises(auth.AuthError, match="clinician code used in the exports"):
        auth.add_user(team, "bob", PASSWORD, "clinician")


@pytest.mark.parametrize(
    "username, password, message",
    [
        ("Ann Smith", PASSWORD, "not allowed"),
        ("x", PASSWORD, "not allowed"),
        ("carl", "short", "at least 10"),
        ("carl-the-clinician", "carl-the-clinician", "must not be the username"),
        ("carl", "x" * 300, "at most 256"),
    ],
)
def test_bad_usernames_and_weak_passwords_are_refused_with_the_rule(team, username, password, message):
    with pytest.raises(auth.AuthError, match=message):
        auth.add_user(team, username, password, "clinician", clinician_id="T09")


def test_a_duplicate_username_is_refused(team):
    with pytest.raises(auth.AuthError, match="already a user"):
        auth.add_user(team, "ann", PASSWORD, "clinician", clinician_id="T05")


def test_only_supervisors_supervise(team):
    with pytest.raises(auth.AuthError, match="Only a supervisor"):
        auth.add_user(team, "bob", PASSWORD, "clinician", clinician_id="T05", supervises=["T01"])
    with pytest.raises(auth.AuthError, match="not a supervisor"):
        auth.set_supervisees(team, "ann", ["T02"])


def test_supervisees_can_be_replaced(team):
    assert auth.get_user(team, "sue").supervises == ("T01", "T02")
    assert auth.set_supervisees(team, "sue", ["T03"]).supervises == ("T03",)


def test_the_right_password_signs_in_and_is_audited(team):
    user = auth.authenticate(team, "ann", PASSWORD)
    assert (user.username, user.role, user.clinician_id) == ("ann", "clinician", "T01")
    assert audit.entries(team, username="ann")["action"].tolist() == ["sign_in"]


def test_usernames_are_matched_case_insensitively_at_sign_in(team):
    assert auth.authenticate(team, "  Ann ", PASSWORD).username == "ann"


def test_a_wrong_password_and_an_unknown_user_get_the_same_message(team):
    with pytest.raises(auth.AuthError) as wrong:
        auth.authenticate(team, "ann", "not the password")
    with pytest.raises(auth.AuthError) as unknown:
        auth.authenticate(team, "nobody", "not the password")
    assert str(wrong.value) == str(unknown.value) == "Wrong username or password."
    assert audit.entries(team, action="sign_in_failed")["username"].tolist() == ["ann"]


def test_repeated_failures_lock_the_account_for_a_while_even_with_the_right_password(team):
    for _ in range(auth.FAILED_LIMIT):
        with pytest.raises(auth.AuthError, match="Wrong"):
            auth.authenticate(team, "ann", "guess guess guess")
    with pytest.raises(auth.AuthError, match="Too many failed sign-ins"):
        auth.authenticate(team, "ann", PASSWORD)
    later = now_utc() + auth.FAILED_WINDOW + timedelta(minutes=1)
    assert auth.recent_failures(team, "ann", now=later) == 0


def test_a_successful_sign_in_resets_the_failure_count(team):
    for _ in range(auth.FAILED_LIMIT - 1):
        with pytest.raises(auth.AuthError):
            auth.authenticate(team, "ann", "guess guess guess")
    auth.authenticate(team, "ann", PASSWORD)
    assert auth.recent_failures(team, "ann") == 0


def test_a_session_token_identifies_the_user_and_only_its_hash_is_stored(team):
    user = auth.authenticate(team, "ann", PASSWORD)
    token = auth.start_session(team, user)
    assert auth.session_user(team, token).username == "ann"
    stored = team.execute("select token_sha256 from sessions").fetchall()
    assert token not in {r[0] for r in stored}
    assert auth.session_user(team, token + "x") is None
    assert auth.session_user(team, None) is None


def test_a_session_expires_after_idle_time(team):
    user = auth.get_user(team, "ann")
    start = now_utc()
    token = auth.start_session(team, user, now=start)
    assert auth.session_user(team, token, now=start + timedelta(minutes=auth.IDLE_MINUTES - 1)) is not None
    # use keeps it alive: last seen moved to start + 29 min
    assert (
        auth.session_user(team, token, now=start + timedelta(minutes=2 * auth.IDLE_MINUTES - 2)) is not None
    )
    assert auth.session_user(team, token, now=start + timedelta(minutes=4 * auth.IDLE_MINUTES)) is None
    assert team.execute("select count(*) from sessions").fetchall()[0][0] == 0


def test_a_session_ends_at_its_lifetime_even_when_in_use(team):
    set_setting(team, "auth.max_hours", "1")
    user = auth.get_user(team, "ann")
    start = now_utc()
    token = auth.start_session(team, user, now=start)
    for minutes in range(10, 60, 10):
        assert auth.session_user(team, token, now=start + timedelta(minutes=minutes)) is not None
    assert auth.session_user(team, token, now=start + timedelta(minutes=61)) is None


def test_signing_out_changing_the_password_or_removing_the_user_ends_sessions(team):
    ann = auth.get_user(team, "ann")
    token = auth.start_session(team, ann)
    auth.end_session(team, token)
    assert auth.session_user(team, token) is None

    token = auth.start_session(team, ann)
    auth.set_password(team, "ann", "another long password")
    assert auth.session_user(team, token) is None
    with pytest.raises(auth.AuthError):
        auth.authenticate(team, "ann", PASSWORD)
    assert auth.authenticate(team, "ann", "another long password").username == "ann"

    token = auth.start_session(team, ann)
    auth.remove_user(team, "ann")
    assert auth.session_user(team, token) is None
    assert auth.get_user(team, "ann") is None


def test_a_role_change_applies_to_a_live_session_at_once(team):
    token = auth.start_session(team, auth.get_user(team, "sue"))
    auth.set_supervisees(team, "sue", ["T09"])
    assert auth.session_user(team, token).supervises == ("T09",)


def test_the_last_admin_cannot_be_removed_while_others_remain(team):
    with pytest.raises(auth.AuthError, match="last admin"):
        auth.remove_user(team, "admin1")
    auth.remove_user(team, "ann")
    auth.remove_user(team, "sue")
    auth.remove_user(team, "admin1")  # the last user: sign-in turns off
    assert not auth.signin_required(team)


def test_removing_a_supervisor_removes_their_links(team):
    auth.remove_user(team, "sue")
    assert team.execute("select count(*) from supervision").fetchall()[0][0] == 0


def test_an_unknown_user_cannot_be_changed_or_removed(team):
    with pytest.raises(auth.AuthError, match="no user"):
        auth.set_password(team, "nobody", "a long enough password")
    with pytest.raises(auth.AuthError, match="no user"):
        auth.remove_user(team, "nobody")
