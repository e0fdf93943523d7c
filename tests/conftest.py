"""Shared fixtures: the measure registry, throwaway stores and the shared example data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from caseload.measures import load_measures
from caseload.store import connect

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def registry():
    return load_measures()


@pytest.fixture
def con():
    """An empty in-memory store, migrated to the current schema."""
    c = connect(":memory:")
    yield c
    c.close()


@pytest.fixture
def db_path(tmp_path) -> Path:
    """A path for a store file in a temporary directory."""
    return tmp_path / "caseload.duckdb"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: example exports and published datasets (never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing: CI must have shared/ beside the project")
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium for browser tests; on CI a missing browser fails the test instead of skipping it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing on CI: scripts/system-deps.sh should have installed it")
        pytest.skip("/usr/bin/chromium not installed")
    return CHROMIUM
