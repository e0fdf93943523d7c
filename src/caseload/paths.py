"""Where the app's files are: the source checkout's top level, or the copy packaged into the wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def app_script() -> Path:
    """The Streamlit entry script: ``app.py`` at the top of a checkout, else the packaged copy."""
    checkout = _PACKAGE_DIR.parent.parent / "app.py"
    if checkout.is_file():
        return checkout
    packaged = _PACKAGE_DIR / "_app" / "app.py"
    if packaged.is_file():
        return packaged
    raise FileNotFoundError("Caseload's app.py was not found beside the package; reinstall Caseload.")


def sample_data_dir() -> Path | None:
    """The shipped sample caseload folder, if this installation has one."""
    for candidate in (_PACKAGE_DIR.parent.parent / "sample_data", _PACKAGE_DIR / "_app" / "sample_data"):
        if candidate.is_dir():
            return candidate
    return None
