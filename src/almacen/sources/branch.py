"""Reading a branch's point-of-sale tables for a time window, as Arrow.

ConnectorX reads PostgreSQL, MySQL/MariaDB and SQLite straight into Arrow (FINDINGS.md: it ties
with COPY and beats row-by-row drivers 5x); any other SQLAlchemy URL, and text that is not
valid UTF-8, goes through SQLAlchemy in chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import connectorx as cx
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from almacen.clock import UTC, local_window, to_utc
from almacen.config import SourceTable
from almacen.errors import Unavailable

_CX_BACKENDS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
_CHUNK = 50_000
_AHEAD = timedelta(days=366)
"""how far past `since` `latest_cursor` looks"""


class SourceError(Unavailable):
    """A source could not be read; the message names the source, the table and the cause."""


def safe_source(url: str) -> str:
    """Where a row came from, without credentials: `postgresql://host:port/db` or the SQLite file name."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:{Path(u.database or ':memory:').name}"
    port = f":{u.port}" if u.port else ""
    return f"{backend}://{u.host}{port}/{u.database}"


def render_query(table_name: str, table: SourceTable, start: datetime, end: datetime, zone: ZoneInfo = UTC) -> str:
    """The table's query for the UTC window [start, end), with :start/:end as timestamp literals in the
    source's wall-clock time (`zone`, `clock.local_window`: widened near a DST change). Readers take no
    bind parameters, so the literals are written into the SQL."""
    template = table.query or f"SELECT * FROM {table_name} WHERE {table.cursor} >= :start AND {table.cursor} < :end"
    return render_window(template, start, end, zone)


def render_window(template: str, start: datetime, end: datetime, zone: ZoneInfo = UTC) -> str:
    """`template` with :start/:end replaced by the source-time literals of the UTC window [start, end)."""
    bounds = dict(zip(("start", "end"), local_window(start, end, zone)))
    literal = {k: "'" + v.strftime("%Y-%m-%d %H:%M:%S") + "'" for k, v in bounds.items()}
    return re.sub(r":(start|end)\b", lambda m: literal[m.group(1)], template.strip())


def read_window(
    url: str, table_name: str, table: SourceTable, start: datetime, end: datetime, where: str, zone: ZoneInfo = UTC
) -> pa.Table:
    """All rows of one source table whose cursor, written in `zone`, falls in the source-time window of
    the UTC window [start, end) (`clock.local_window`). Values come back as the source wrote them: the
    caller converts them (`clock.to_utc`) and keeps the rows of the UTC window."""
    result = query_source(url, render_query(table_name, table, start, end, zone), f"{where}: table {table_name}")
    missing = sorted({table.cursor} - set(result.column_names))
    if missing:
        raise SourceError(f"{where}: table {table_name} has no column {missing[0]} (the configured cursor)")
    return result


def latest_cursor(
    url: str, table_name: str, table: SourceTable, since: datetime, where: str, zone: ZoneInfo = UTC
) -> datetime | None:
    """The table's latest cursor at or after the UTC time `since`, as aware UTC (None: no such row).

    How far the source has got: an empty hour is only final once the source is past it
    (ingest/catchup.py). The table's own query runs as a subquery over [since, since + a year), so a
    join template (lines that take their header's cursor) works as it does for a window.
    """
    sql = f"SELECT max(q.{table.cursor}) AS latest FROM ({render_query(table_name, table, since, since + _AHEAD, zone)}) q"
    latest = query_source(url, sql, f"{where}: table {table_name}").column("latest")
    if pa.types.is_string(latest.type) or pa.types.is_null(latest.type):  # SQLite gives text for max() of a DATETIME
        latest = latest.cast(pa.string()).cast(pa.timestamp("us"))
    return to_utc(latest, zone)[0].as_py()


def query_source(url: str, sql: str, where: str) -> pa.Table:
    """The whole result of one query run on the source database at `url`, as Arrow; failures name
    `where` and the likely cause."""
    try:
        return _read(url, sql)
    except Exception as exc:  # every driver raises its own types; we classify by message
        raise SourceError(f"{where}: cannot read from {safe_source(url)}: {error_cause(exc)}") from exc


def _read(url: str, sql: str) -> pa.Table:
    u = make_url(url)
    backend = _CX_BACKENDS.get(u.get_backend_name())
    if backend == "sqlite" and not Path(u.database or "").is_file():
        raise FileNotFoundError(f"database file {u.database} does not exist")
    if backend is not None:
        try:
            table = cx.read_sql(_cx_url(u, backend), sql, return_type="arrow")
            return _sqlite_declared_types(u, table) if backend == "sqlite" else table
        except Exception as exc:
            # ConnectorX types a SQLite column by its first value and fails when a NUMERIC column
            # mixes integers and reals; SQLite sources, and text that is not UTF-8, go row by row.
            text = str(exc).lower()
            if backend != "sqlite" and "utf-8" not in text and "utf8" not in text:
                raise
    table = pa.Table.from_batches(list(_read_sqlalchemy(url, sql)))
    return _sqlite_declared_types(u, table) if u.get_backend_name() == "sqlite" else table


def _sqlite_declared_types(u: URL, table: pa.Table) -> pa.Table:
    """SQLite types values, not columns: 1200.00 in a NUMERIC column comes back as an integer, and an
    empty result (or one read row by row) as text. Bring columns to their declared types."""
    import sqlite3

    con = sqlite3.connect(_sqlite_file(u))
    try:
        declared: dict[str, str] = {}
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in con.execute(f'PRAGMA table_info("{name}")'):
                declared.setdefault(row[1], row[2].upper())
    finally:
        con.close()
    columns = []
    for col, field in zip(table.columns, table.schema):
        kind = declared.get(field.name, "")
        numeric = any(k in kind for k in ("NUMERIC", "DECIMAL", "REAL", "FLOAT", "DOUBLE"))
        untyped = pa.types.is_string(field.type) or pa.types.is_null(field.type)
        target = None
        if numeric and (pa.types.is_integer(field.type) or untyped):
            target = pa.decimal128(38, 10)
        elif untyped and "INT" in kind:
            target = pa.int64()
        elif untyped and any(k in kind for k in ("DATE", "TIME")):
            target = pa.timestamp("us")
        try:
            columns.append(col.cast(target) if target else col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            columns.append(col)  # values that are not of the declared type: the schema check reports it
    return pa.table(columns, names=table.column_names)


def _sqlite_file(u: URL) -> Path:
    """The database file of a SQLite URL, resolved (`_read` has checked that it exists)."""
    if u.database is None:
        raise FileNotFoundError(f"SQLite URL {u} names no database file")
    return Path(u.database).resolve()


def _cx_url(u: URL, backend: str) -> str:
    if backend == "sqlite":
        return "sqlite://" + str(_sqlite_file(u))
    return u.set(drivername=backend).render_as_string(hide_password=False)


def _read_sqlalchemy(url: str, sql: str) -> Iterator[pa.RecordBatch]:
    """Chunks of rows through SQLAlchemy; undecodable text becomes U+FFFD so quality can flag it."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import sqlite3

        con = sqlite3.connect(_sqlite_file(u))
        con.text_factory = lambda b: b.decode("utf-8", errors="replace")
        try:
            cur = con.execute(sql)
            yield from _batches([d[0] for d in cur.description], cur.fetchmany)
        finally:
            con.close()
        return
    engine = sa.create_engine(_driver_url(u))
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(sa.text(sql))
            yield from _batches(list(result.keys()), result.fetchmany)
    finally:
        engine.dispose()


def _batches(names: list[str], fetchmany) -> Iterator[pa.RecordBatch]:
    """Arrow batches from a DB-API style cursor; an empty result is one empty batch of text columns."""
    empty = True
    while rows := fetchmany(_CHUNK):
        empty = False
        yield pa.RecordBatch.from_arrays([_column(values) for values in zip(*rows)], names=names)
    if empty:
        yield pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)


def _column(values: tuple) -> pa.Array:
    """A column as SQLite gave it; values of mixed kinds (a column's type changed) become text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _driver_url(u: URL) -> URL:
    """Plain postgresql:// and mysql:// URLs with the drivers almacen installs."""
    drivers = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql"}
    return u.set(drivername=drivers.get(u.drivername, u.drivername))


def probe(url: str, where: str) -> None:
    """Open and close one connection, so an unreachable server or refused login is named at once
    (ConnectorX's pool retries for 30 s and then reports only a timeout)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not Path(u.database or "").is_file():
            raise SourceError(f"{where}: cannot read from {safe_source(url)}: database file missing ({u.database})")
        return
    engine = sa.create_engine(_driver_url(u), connect_args={"connect_timeout": 10}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - classified into words below
        raise SourceError(f"{where}: cannot connect to {safe_source(url)}: {error_cause(exc)}") from exc
    finally:
        engine.dispose()


def connect(url: str) -> sa.Engine:
    """A SQLAlchemy engine for a branch URL (plain scheme gets almacen's driver)."""
    return sa.create_engine(_driver_url(make_url(url)))


def error_cause(exc: Exception) -> str:
    """Name the likely cause in words a user can act on, then the driver's own text."""
    text = " ".join(str(exc).split())
    if isinstance(exc, FileNotFoundError):
        return f"database file missing ({text})"
    low = text.lower()
    causes = [
        (
            (
                "password authentication failed",
                "access denied",
                "authentication failed",
                "role",
                "no password supplied",
            ),
            "wrong credentials",
        ),
        (
            (
                "connection refused",
                "could not connect",
                "can't connect",
                "timed out",
                "name or service not known",
                "failed to lookup",
                "unable to open database",
                "no route to host",
            ),
            "host unreachable",
        ),
        (("no such table", "doesn't exist", "does not exist", "relation", "unknown table"), "missing table"),
        (("no such column", "unknown column", "column"), "missing column"),
    ]
    for needles, cause in causes:
        if any(n in low for n in needles):
            return f"{cause} ({text[:300]})"
    return text[:300]
