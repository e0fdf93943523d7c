"""Caseload: a local-first dashboard for routine outcome monitoring in psychotherapy."""

__version__ = "0.1.0"
