"""Getting an export's bytes, and the command line's read-ahead: a file read, hashed and parsed on other
threads, started before anything heavy loads.

This module imports nothing but the standard library and the report's exception: the thread itself loads
the readers (numpy, pyarrow), so the file is read and parsed while the main thread loads DuckDB and opens
the store. Both threads hold the GIL while they load modules, which leaves a core idle: the SHA-256 of the
file (hashlib releases the GIL) is computed on a third thread in that time.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from caseload.ingest.report import ImportError_

if TYPE_CHECKING:
    from caseload.ingest.read import Grid


def source_bytes(source: Path | str | bytes, file_name: str | None) -> tuple[bytes, str]:
    """The bytes of an upload or a file, and the name messages use for it."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), file_name or "upload"
    path = Path(source)
    try:
        return path.read_bytes(), file_name or path.name
    except IsADirectoryError:
        raise ImportError_(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ImportError_(f"{path}: cannot be read ({exc.strerror})") from None


def hashed(data: bytes) -> Future:
    """The SHA-256 of ``data`` (a hashlib object, in a Future), computed on its own daemon thread."""
    digest: Future = Future()

    def run() -> None:
        try:
            digest.set_result(hashlib.sha256(data))
        except BaseException as exc:  # handed to whoever waits for the digest
            digest.set_exception(exc)

    threading.Thread(target=run, name="caseload-sha256", daemon=True).start()
    return digest


class ReadAhead:
    """A file read, hashed and parsed into grids on other threads; ``result()`` hands over what was read,
    once, and raises what reading it raised."""

    def __init__(self, source: Path | str, sheet: str | None = None, file_name: str | None = None) -> None:
        self.source, self.sheet, self.file_name = source, sheet, file_name
        self._done: tuple[bytes, str, list[Grid], Future] | None = None
        self._error: BaseException | None = None
        # A daemon thread: a command that fails before it imports (a locked store) does not wait for it.
        self._thread = threading.Thread(target=self._read, name="caseload-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            data, name = source_bytes(self.source, self.file_name)
            digest = hashed(data)
            from caseload.ingest.read import read_grids

            self._done = (data, name, read_grids(data, name, self.sheet), digest)
        except BaseException as exc:  # handed to the caller of result(), as if it had read the file itself
            self._error = exc

    def result(self) -> tuple[bytes, str, list[Grid], Future]:
        """The file's bytes, its name, its grids and its SHA-256 in a Future (or the ImportError_ reading
        raised)."""
        self._thread.join()
        error, done = self._error, self._done
        self._error = self._done = None
        if error is not None:
            raise error
        if done is None:
            raise RuntimeError("ReadAhead.result() was already called")
        return done
