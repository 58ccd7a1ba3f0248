"""PostgreSQL's binary array format (array_send), read by numpy without a Python object per
element: a 20-byte header, then a 4-byte length and the value for every element. Callers
COALESCE away NULLs first (a NULL element has no value bytes, which breaks the stride)."""

from __future__ import annotations

import numpy as np

ARRAY_HEADER = 20  # ndim, has-nulls flag, element type, length, lower bound


def from_array_send(data: bytes | None, dtype: str) -> np.ndarray:
    """The elements of one array_send() value as a native-endian numpy array."""
    native = np.dtype(dtype).newbyteorder("=")
    if not data:
        return np.empty(0, dtype=native)
    records = np.frombuffer(data, dtype=[("length", ">i4"), ("value", dtype)], offset=ARRAY_HEADER)
    return records["value"].astype(native)
