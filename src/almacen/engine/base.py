"""The compute contract the models run through: register tables, run SQL, get Arrow back.

Models are DuckDB-dialect SQL files; an engine for another dialect transpiles them (sqlglot)
and the models stay untouched. Engines differ only in the class that implements this: what one
can do and another cannot is a class-level capability flag (as sqlmesh's engine adapters declare
theirs), and a consumer that needs one says so with `require_capability`, which refuses by name.
An engine's own errors never leave it: a statement it refuses raises `QueryError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol, Self

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.errors import AlmacenError
from almacen.lake import Lake

CAPABILITIES = {
    "STATE_TABLES": "tables of its own between calls (CREATE TABLE, INSERT, UPDATE … RETURNING, DELETE, "
    "unsigned types)",
    "STRICT_JSON": "the strict JSON readers of ingest/json_values.sql (temporary SQL macros, malformed "
    "JSON raised as MalformedInput)",
}
"""every capability flag of the contract -> what an engine that has it offers (the refusal names it)"""


class QueryError(AlmacenError, ValueError):
    """A statement the engine refused or could not run: a column or table that is not there, SQL it does
    not parse, a value it cannot convert.

    Engines raise it in place of their own exceptions (DuckDB's BinderException, CatalogException,
    InvalidInputException…, Spark's AnalysisException…), with the original as `__cause__`, so a caller
    handles a failed query alike on every engine. Failures that are not the statement's (out of memory,
    a lost Spark driver) are not translated.

    Attributes:
        engine: the engine's `DIALECT` ("duckdb", "spark").
        statement: the statement's first line of SQL (comments skipped), cut at 120 characters.
        reason: the engine's message, on one line.
    """

    def __init__(self, engine: str, sql: str, reason: str) -> None:
        self.engine, self.statement, self.reason = engine, first_line(sql), one_line(reason)
        super().__init__(f"{self.engine}: {self.reason} (statement: {self.statement})")


class MalformedInput(QueryError):
    """The data a statement reads is not what it says it is: a JSON document that is not JSON, text that
    does not convert to the type asked. The statement may succeed over other data (the stream's payload
    parser reads such a batch again, checking each payload first)."""


class Unsupported(AlmacenError, RuntimeError):
    """A consumer needs a capability its engine lacks; the message names both (`require_capability`)."""


def require_capability(engine: Engine, flag: str, for_what: str) -> None:
    """Refuse, by name, to go on when `engine` lacks the capability `flag` (a key of `CAPABILITIES`).

    Called where a consumer starts needing the capability (a constructor, the top of a function), so an
    engine that cannot do it fails before anything is read or written, never halfway or silently.

    Raises:
        Unsupported: `for_what`, then what the capability offers, its flag and the engine: "the messaging
            usage state needs an engine with tables of its own between calls (…) (STATE_TABLES); spark has none".
        KeyError: `flag` is not a capability of the contract (a bug in the caller).
    """
    if flag not in CAPABILITIES:
        raise KeyError(f"{flag!r} is not an engine capability; known: {', '.join(CAPABILITIES)}")
    if not getattr(engine, flag, False):
        raise Unsupported(
            f"{for_what} needs an engine with {CAPABILITIES[flag]} ({flag}); "
            f"{getattr(engine, 'DIALECT', type(engine).__name__)} has none"
        )


def first_line(sql: str, width: int = 120) -> str:
    """The first line of SQL of a statement that is not blank nor a `--` comment, cut at `width`."""
    for line in sql.splitlines():
        line = line.strip()
        if line and not line.startswith("--"):
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(message: str) -> str:
    """An engine's message without terminal colours, its lines joined (the CLI shows errors on one line)."""
    return " ".join(_ANSI.sub("", message).split())


class Engine(Protocol):
    """A SQL engine over Arrow data.

    Guarantees: `query` returns the whole result as Arrow and leaves no open result behind;
    a failing statement raises `QueryError` (`MalformedInput` when the data is at fault) with the
    engine's message and changes nothing registered.
    Table names are `layer.name`, as in the lake (see DATA-MODEL.md).

    SQL is DuckDB's dialect and portable SQL: SELECTs over registered tables, and statements that
    return nothing. What goes beyond that needs a capability, declared by each engine class:

    - `STATE_TABLES`: the engine keeps tables of its own between calls, changed in place by `execute`
      (CREATE TABLE, INSERT, DELETE) and `query` (`UPDATE … RETURNING`), with DuckDB's types
      (UBIGINT hashes among them); `read` runs over them. DuckDB: yes. Spark: no (its tables are the
      lake's Delta tables; temporary views only). Needed by the messaging usage state
      (`UsageMinutes`), and by the serving marts, which open a DuckDBEngine for it.
    - `STRICT_JSON`: the engine runs the strict readers of ingest/json_values.sql as written
      (temporary SQL macros over DuckDB's JSON functions) and raises `MalformedInput` on a malformed
      document. DuckDB: yes. Spark: no (no SQL macros; its from_json reads a bad document as nulls).
      Needed by the payload parser (`ingest.payloads.parse_events`): the Spark ingestor parses on a
      DuckDBEngine of its own.

    A consumer that needs a capability calls `require_capability(engine, flag, for_what)`.
    """

    DIALECT: str
    """the SQL dialect the engine runs, a sqlglot dialect name; also its name in messages"""
    STATE_TABLES: bool
    STRICT_JSON: bool

    def register(self, name: str, data: pa.Table | pads.Dataset | pa.RecordBatchReader) -> None:
        """Make `data` queryable as `name` (`layer.name` or a bare name) until replaced."""

    def register_table(self, name: str, lake: Lake, table: str | None = None) -> None:
        """Make the lake's Delta table `table` (default `name`) queryable as `name`; NotFound if absent."""

    def materialize(self, sql: str, params: Mapping[str, object] | None, lake: Lake, table: str) -> int:
        """Replace the whole lake table `table` with a SELECT's rows (one commit), make it queryable
        as `table`, and return how many rows it holds. Each engine writes Delta with its own writer."""

    def forget(self, name: str) -> None:
        """Drop what `register` made queryable as `name`, releasing the engine's hold on its data."""

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """Run one SELECT (named `$params`) and return its rows."""

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        """Run one statement that returns nothing (CREATE, INSERT, DELETE), in the engine's dialect.

        Statements on tables of the engine's own need `STATE_TABLES`; an engine without it may accept
        some (Spark makes a warehouse table of a CREATE TABLE) but keeps nothing a consumer can rely on.
        """

    def read(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """Run one SELECT over the engine's own tables (`STATE_TABLES`) on a cursor of its own, so any
        number of threads read at once, alongside `execute` on another thread: what the serving marts
        do per request. It does not see what `register` made queryable (that belongs to one cursor).
        An engine without `STATE_TABLES` raises `Unsupported`."""

    def stream(self, sql: str, params: Mapping[str, object] | None = None) -> pa.RecordBatchReader:
        """Run one SELECT and return its rows as a stream of batches, for results too big to hold."""

    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> Self:
        """The engine itself, for a `with` block that closes it on leaving."""

    def __exit__(self, *exc: object) -> None:
        """`close`."""
