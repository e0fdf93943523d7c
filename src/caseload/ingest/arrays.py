"""Arrow arrays to and from numpy and Python lists, built from buffers so that pandas is never imported.

pyarrow imports pandas (0.3 s of a command-line import) the first time ``pa.array``, ``pa.scalar`` or
``Array.to_numpy`` runs, only to check whether its argument is a pandas object. The importer never needs
pandas, so it builds and reads its arrays through these helpers instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

INT64 = pa.int64()
_NUMPY_TYPES = {INT64: np.int64, pa.int32(): np.int32, pa.uint64(): np.uint64}


def int_array(values: np.ndarray | Sequence[int], type: pa.DataType = INT64) -> pa.Array:
    """Whole numbers (no nulls) as an int64 or int32 Arrow array."""
    data = np.ascontiguousarray(np.asarray(values, dtype=_NUMPY_TYPES[type]))
    return pa.Array.from_buffers(type, len(data), [None, pa.py_buffer(data)])


def optional_int_array(values: Sequence[int | None], type: pa.DataType = INT64) -> pa.Array:
    """Whole numbers, None for null, as an int64 or int32 Arrow array."""
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    data = np.fromiter((0 if v is None else v for v in values), dtype=_NUMPY_TYPES[type], count=len(values))
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None
    return pa.Array.from_buffers(
        type, len(data), [validity, pa.py_buffer(data)], null_count=int(missing.sum())
    )


def bool_array(values: np.ndarray | Sequence[bool]) -> pa.Array:
    """Booleans (no nulls) as an Arrow array."""
    data = np.asarray(values, dtype=bool)
    return pa.Array.from_buffers(
        pa.bool_(), len(data), [None, pa.py_buffer(np.packbits(data, bitorder="little"))]
    )


def string_array(values: Sequence[str | None]) -> pa.Array:
    """Texts (None for null) as an Arrow string array."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("more than 2 GiB of text in one column")
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(encoded))
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [validity, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
        null_count=int(missing.sum()),
    )


def table(columns: dict[str, pa.Array]) -> pa.Table:
    """A table of the given columns, in order."""
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def ints(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free int64, int32 or uint64 column as a numpy array (a view where it is one chunk)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("ints() needs a column without nulls")
        dtype = _NUMPY_TYPES[chunk.type]
        buffer = chunk.buffers()[1]
        if len(chunk) == 0 or buffer is None:
            parts.append(np.zeros(0, dtype=dtype))
            continue
        parts.append(np.frombuffer(buffer, dtype=dtype, count=len(chunk) + chunk.offset)[chunk.offset :])
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def uints(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free uint64 column (DuckDB's hash()) as a numpy array."""
    return ints(column) if len(column) else np.zeros(0, dtype=np.uint64)


def _validity(chunk: pa.Array) -> np.ndarray:
    """True where a chunk's cell is not null."""
    if chunk.null_count == 0:
        return np.ones(len(chunk), dtype=bool)
    if chunk.null_count == len(chunk) and chunk.buffers()[0] is None:
        return np.zeros(len(chunk), dtype=bool)
    bits = np.unpackbits(np.frombuffer(chunk.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)


def string_chunks(column: pa.ChunkedArray | pa.Array) -> list[tuple[pa.Array, np.ndarray, np.ndarray]]:
    """(chunk, offsets, bytes) of every non-empty chunk of a text column, the buffers as numpy views."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if chunk.type == pa.null():
            chunk = pa.nulls(len(chunk), pa.string())
        elif chunk.type == pa.large_string():
            chunk = chunk.cast(pa.string())
        _validity_buf, offsets, data = chunk.buffers()
        off = np.frombuffer(offsets, dtype=np.int32, count=len(chunk) + 1 + chunk.offset)[chunk.offset :]
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        out.append((chunk, off, raw))
    return out


def filled(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """True where a text cell holds at least one character (False for null and '')."""
    parts = []
    for chunk, off, _raw in string_chunks(column):
        has = off[1:] > off[:-1]
        if chunk.null_count:
            has &= _validity(chunk)
        parts.append(has)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
