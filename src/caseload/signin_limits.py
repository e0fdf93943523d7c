"""Roles and sign-in session limits: plain constants, so the command line can show them without loading
DuckDB and argon2 (caseload.auth does the work)."""

ROLES = ("admin", "supervisor", "clinician")
IDLE_MINUTES = 30
MAX_HOURS = 12
