"""DuckDB in-process: the embedded engine, and the only module of almacen that imports duckdb."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from almacen.engine.base import MalformedInput, QueryError
from almacen.errors import NotFound
from almacen.lake import Lake

_REFUSED = (
    duckdb.ProgrammingError,
    duckdb.DataError,
    duckdb.IntegrityError,
    duckdb.NotSupportedError,
    UnicodeDecodeError,
)
"""DuckDB's errors that are the statement's or its data's (parser, binder, catalog, invalid input, conversion,
constraint, not implemented): raised as QueryError. Out of memory, I/O, interrupts and internal errors are not.
A UnicodeDecodeError is one of those whose message DuckDB's client could not decode: DuckDB quotes the input
it could not read, cut at a byte count (`Malformed JSON … Input: "ñññ…"`), sometimes inside a character."""
_MALFORMED = (duckdb.InvalidInputException, duckdb.ConversionException)
"""the data is at fault: malformed JSON ("Malformed JSON at byte …"), text that does not convert"""
_MALFORMED_MESSAGES = ("Invalid Input Error", "Conversion Error")
"""how the messages of those begin: what tells them when only the message came (undecodable)"""
_NO_VALUE = "Invalid Input Error: Values were not provided"
"""how DuckDB reports a `$param` without a value, also as InvalidInputException: the statement's fault"""


def _refused(exc: duckdb.Error | UnicodeDecodeError, sql: str) -> QueryError:
    """DuckDB's error as the contract's; the caret drawn under the statement (`LINE 1: …`) is left out."""
    if isinstance(exc, UnicodeDecodeError):
        message = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else str(exc)
        malformed = message.startswith(_MALFORMED_MESSAGES)
    else:
        message = str(exc)
        malformed = isinstance(exc, _MALFORMED)
    message = message.split("\n\nLINE ")[0]
    malformed = malformed and not message.startswith(_NO_VALUE)
    return (MalformedInput if malformed else QueryError)(DuckDBEngine.DIALECT, sql, message)


class DuckDBEngine:
    """DuckDB over Arrow tables and Delta-backed datasets, one connection per engine.

    Thread-safe: calls on the connection take the engine's lock, and `read` runs on a cursor of its own.
    """

    DIALECT = "duckdb"
    STATE_TABLES = True
    STRICT_JSON = True

    def __init__(
        self, memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None
    ) -> None:
        self._con = duckdb.connect(config={"temp_directory": temp_directory} if temp_directory else {})
        self._lock = threading.Lock()
        if memory_limit:
            self._run(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self._run(f"SET threads = {int(threads)}")
        self._run("SET TimeZone = 'UTC'")
        self._schemas: set[str] = set()

    def register(self, name: str, data: pa.Table | pads.Dataset | pa.RecordBatchReader) -> None:
        schema, _, table = name.rpartition(".")
        with self._lock:
            if schema and schema not in self._schemas:
                self._run(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._schemas.add(schema)
            source = f"__{schema}__{table}" if schema else f"__{table}"
            self._con.register(source, data)
            target = f'"{schema}"."{table}"' if schema else f'"{table}"'
            self._run(f'CREATE OR REPLACE VIEW {target} AS SELECT * FROM "{source}"')

    def register_table(self, name: str, lake: Lake, table: str | None = None) -> None:
        table = table or name
        data = lake.dataset(table)
        if data is None:
            raise NotFound(f"{table} is missing from the lake at {lake.path(table)}")
        self.register(name, data)

    def materialize(self, sql: str, params: Mapping[str, object] | None, lake: Lake, table: str) -> int:
        result = self.query(sql, params)
        lake.overwrite(table, result)
        self.register(table, result)
        return result.num_rows

    def forget(self, name: str) -> None:
        schema, _, table = name.rpartition(".")
        source = f"__{schema}__{table}" if schema else f"__{table}"
        target = f'"{schema}"."{table}"' if schema else f'"{table}"'
        with self._lock:
            self._run(f"DROP VIEW IF EXISTS {target}")
            self._con.unregister(source)

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        try:
            with self._lock:
                return self._con.sql(sql, params=params).to_arrow_table()
        except _REFUSED as exc:
            raise _refused(exc, sql) from exc

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        try:
            with self._lock:
                self._con.execute(sql, params).fetchall()
        except _REFUSED as exc:
            raise _refused(exc, sql) from exc

    def read(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """One SELECT over the engine's own tables on a new cursor, without the engine's lock: threads read
        at once, and while another thread runs `execute` (a cursor costs microseconds)."""
        cursor = self._con.cursor()
        try:
            return cursor.sql(sql, params=params).to_arrow_table()
        except _REFUSED as exc:
            raise _refused(exc, sql) from exc
        finally:
            cursor.close()

    def stream(self, sql: str, params: Mapping[str, object] | None = None) -> pa.RecordBatchReader:
        """As the contract says; an error DuckDB meets only while the batches are read comes from the reader."""
        try:
            with self._lock:
                return self._con.sql(sql, params=params).to_arrow_reader()
        except _REFUSED as exc:
            raise _refused(exc, sql) from exc

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, statement: str) -> None:
        try:
            self._con.execute(statement).complete()
        except _REFUSED as exc:
            raise _refused(exc, statement) from exc
