"""A file read and parsed on another thread, started by the command line before anything heavy loads.

This module imports nothing but the standard library: the thread itself loads the readers (numpy,
pyarrow), so the file is read and parsed while the main thread loads DuckDB and opens the store.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caseload.ingest.read import Grid


class ReadAhead:
    """A file read and parsed into grids on another thread; ``result()`` hands over what the thread read,
    once, and raises what reading it raised."""

    def __init__(self, source: Path | str, sheet: str | None = None, file_name: str | None = None) -> None:
        self.source, self.sheet, self.file_name = source, sheet, file_name
        self._done: tuple[bytes, str, list[Grid]] | None = None
        self._error: BaseException | None = None
        # A daemon thread: a command that fails before it imports (a locked store) does not wait for it.
        self._thread = threading.Thread(target=self._read, name="caseload-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            from caseload.ingest.read import read_grids, source_bytes

            data, name = source_bytes(self.source, self.file_name)
            self._done = (data, name, read_grids(data, name, self.sheet))
        except BaseException as exc:  # handed to the caller of result(), as if it had read the file itself
            self._error = exc

    def result(self) -> tuple[bytes, str, list[Grid]]:
        """The file's bytes, its name and its grids (or the ImportError_ reading raised)."""
        self._thread.join()
        error, done = self._error, self._done
        self._error = self._done = None
        if error is not None:
            raise error
        if done is None:
            raise RuntimeError("ReadAhead.result() was already called")
        return done
