"""Run every benchmark in turn with its defaults and print its figures (make bench).

Each benchmark is its own script with its own targets; see the module docstring of each.
Run them on a quiet machine: they measure wall time, and other load on 2 cores changes it two- to threefold.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["import_speed.py", "dashboard_speed.py", "alert_quality.py", "report_speed.py", "load_test.py"]


def main() -> int:
    """Run the benchmarks in ORDER (or those named on the command line); exit non-zero if any failed."""
    names = sys.argv[1:] or ORDER
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.call([sys.executable, str(HERE / name)]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
