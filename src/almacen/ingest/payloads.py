"""Raw event payloads to typed events: any bytes in, a row out for each, never an exception.

A payload can be anything a producer or a file holds: a Kafka tombstone (a null value), nothing,
binary, text that is not UTF-8, a JSON array, a scalar, a megabyte. Each becomes one row: a typed
event, or a row whose `_parse_error` says why it was not read, for the quality gate to quarantine
(rule `parsed`). So a poison message cannot stop the stream, whatever it is and however often the
ingestor restarts on it.

Decoding is vectorised: one Arrow cast checks and decodes a whole batch of UTF-8; only when some
payload is not UTF-8 are the slices holding one decoded row by row. The JSON is read by the kind's
parse SQL (events.sql, message_events.sql) with the strict readers of json_values.sql, in one
pass that trusts every payload opening like an object to be well-formed JSON; a batch holding one
that is not is read a second time, checking each payload first (json_event_checked).
"""

from __future__ import annotations

import weakref
from importlib.resources.abc import Traversable

import pyarrow as pa
import pyarrow.compute as pc

from almacen.config.stream import MAX_PAYLOAD_BYTES
from almacen.engine import Engine, MalformedInput, require_capability
from almacen.sql import load_sql, load_sql_file

_CHECKED = "CREATE OR REPLACE TEMP MACRO json_event(text, spec) AS json_event_checked(text, spec)"
_READY: weakref.WeakSet[Engine] = weakref.WeakSet()
"""engines whose connection holds the readers (temporary macros live as long as it does)"""
_SLICE = 1024
"""rows decoded per Arrow cast once a batch holds a payload that is not UTF-8"""


def parse_events(
    engine: Engine, raw: pa.Table, sql: Traversable, max_payload_bytes: int = MAX_PAYLOAD_BYTES
) -> pa.Table:
    """Typed events from raw payloads (`_payload` binary, null allowed; `_stream`, `_position`, `_batch_id`).

    Args:
        engine: where the SQL runs; it needs `STRICT_JSON` (the readers are DuckDB macros): a DuckDBEngine,
            also under the Spark ingestor, which parses on one of its own.
        raw: one row per payload, in source order; the result has one row per payload, in that order.
        sql: the stream kind's parse SQL (`StreamKind.parse`).
        max_payload_bytes: a larger payload is not decoded nor parsed, only quarantined.

    Raises:
        Unsupported: the engine lacks `STRICT_JSON`, before anything is read.
    """
    require_capability(engine, "STRICT_JSON", "parsing event payloads (ingest/json_values.sql)")
    text, shown, size = decode_payloads(raw["_payload"], max_payload_bytes)
    events = (
        raw.drop_columns(["_payload"])
        .append_column("_text", text)
        .append_column("_shown", shown)
        .append_column("_bytes", size)
    )
    # a Traversable hashes (the cache's key); mypy does not see object's __hash__ on a protocol
    query, params = load_sql_file(sql), {"max_payload_bytes": max_payload_bytes}  # type: ignore[arg-type]
    if engine not in _READY:
        engine.execute(load_sql("almacen.ingest", "json_values.sql"))
        _READY.add(engine)
    engine.register("raw_events", events)
    try:
        try:
            return engine.query(query, params)
        except MalformedInput:  # some payload is malformed JSON (from_json trusted it)
            engine.execute(_CHECKED)  # read the batch again, checking each payload before parsing it
            try:
                return engine.query(query, params)
            finally:
                engine.execute(load_sql("almacen.ingest", "json_values.sql"))  # trusting again for the next batch
    finally:
        engine.forget("raw_events")


def decode_payloads(
    payloads: pa.Array | pa.ChunkedArray, max_bytes: int
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """(text, shown, size) of each payload.

    `text` is the payload as UTF-8 text, null where the payload is null, not UTF-8 or larger than
    `max_bytes` (so nothing parses it); `shown` is what quarantine keeps as `_raw`: the text, or the
    bytes with those that are not UTF-8 escaped (`\\xff`), null only for a null payload; `size` is its
    length in bytes, null for a null payload.
    """
    payloads = payloads if isinstance(payloads, pa.ChunkedArray) else pa.chunked_array([payloads], pa.binary())
    size = pc.binary_length(payloads)
    try:
        text = shown = pc.cast(payloads, pa.string())
    except pa.ArrowInvalid:  # some payload is not UTF-8: find which, a slice at a time
        pieces = [
            _decode_slice(chunk.slice(i, _SLICE)) for chunk in payloads.chunks for i in range(0, len(chunk), _SLICE)
        ]
        text = pa.chunked_array([t for t, _ in pieces], pa.string())
        shown = pa.chunked_array([s for _, s in pieces], pa.string())
    too_large = pc.greater(size, max_bytes)
    if pc.any(too_large).as_py():
        text = pc.if_else(too_large, pa.scalar(None, pa.string()), text)
    return text, shown, size


def _decode_slice(payloads: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(text, shown) of a slice: one cast when all of it is UTF-8, else row by row."""
    try:
        text = pc.cast(payloads, pa.string())
        return text, text
    except pa.ArrowInvalid:
        pass
    texts: list[str | None] = []
    shown: list[str | None] = []
    for payload in payloads.to_pylist():
        if payload is None:
            texts.append(None)
            shown.append(None)
            continue
        try:
            decoded = payload.decode("utf-8")
        except UnicodeDecodeError:
            texts.append(None)
            shown.append(payload.decode("utf-8", errors="backslashreplace"))
        else:
            texts.append(decoded)
            shown.append(decoded)
    return pa.array(texts, pa.string()), pa.array(shown, pa.string())
