"""Keyed pseudonyms for personal data: the same person gets the same key, nobody gets the person back."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pyarrow.compute as pc


def pseudonym(value: str, key: bytes) -> str:
    """HMAC-SHA256 of a normalised identity (trimmed, lower-case), hex, truncated to 32 chars."""
    return hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def pseudonymise(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """Pseudonymise a column, hashing each distinct value once; nulls stay null."""
    distinct = pc.unique(values).drop_null()
    keys = pa.array([pseudonym(v, key) for v in distinct.to_pylist()], pa.string())
    return pc.take(keys, pc.index_in(values, value_set=distinct))
