"""Reading a branch's point-of-sale window through Spark JDBC, partitioned by the cursor column.

The scale-out twin of `read_window`: the same query (`render_query`) wrapped as the subquery
`(…) AS q`, read by `numPartitions` parallel JDBC queries that split the window on the table's cursor
timestamp (Spark supports numeric, date and timestamp partition columns; the bounds only set the
stride, the subquery's own WHERE keeps the window exact). The rows come back to the driver as Arrow
(`DataFrame.toArrow()`) with the column names and types `read_window` gives, so that lineage,
conform, quality and the lake writes downstream are the same code for both engines.

A POS `TIMESTAMP WITHOUT TIME ZONE` / `DATETIME` holds the wall-clock time of the branch's zone (UTC
unless the branch or table sets `timezone`); it comes back naive, exactly as ConnectorX reads it (see
`_as_embedded` for why it cannot simply be read as `timestamp_ntz`). As with `read_window`, the window
is asked in the source's zone (`clock.local_window`) and the caller converts the values to UTC.

SQLite branches are read by the embedded reader even when `engine = "spark"`: a SQLite file is local
to the driver (executors on a cluster cannot open it), no SQLite JDBC driver ships with almacen's jars,
and a JDBC read of a file would only add a JVM round trip. A chain that mixes SQLite and server
branches therefore runs on Spark as it is.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import make_url

from almacen.clock import UTC, local_window
from almacen.config import SourceTable
from almacen.sources.branch import SourceError, error_cause, read_window, render_query, safe_source

DRIVERS = {
    "postgresql": ("jdbc:postgresql", "org.postgresql.Driver"),
    "postgres": ("jdbc:postgresql", "org.postgresql.Driver"),
    "mysql": ("jdbc:mysql", "org.mariadb.jdbc.Driver"),
    "mariadb": ("jdbc:mysql", "org.mariadb.jdbc.Driver"),
}
_BOUND = "%Y-%m-%d %H:%M:%S"


def jdbc_options(url: str) -> dict[str, str]:
    """A SQLAlchemy URL as Spark JDBC options: `url`, `driver`, `user`, `password`.

    `postgresql[+driver]://u:p@h:5432/db` -> `jdbc:postgresql://h:5432/db` (org.postgresql.Driver);
    `mysql[+driver]://…` and `mariadb://…` -> `jdbc:mysql://…?permitMysqlScheme` (org.mariadb.jdbc.Driver,
    under the scheme Spark's MySQL dialect recognises, so identifiers are quoted with backticks).
    Query parameters of the SQLAlchemy URL (libpq / PyMySQL options) are not carried over.

    Raises:
        SourceError: the URL's database has no JDBC driver here (SQLite, or anything else).
    """
    u = make_url(url)
    backend = u.get_backend_name()
    if backend not in DRIVERS:
        raise SourceError(
            f"{safe_source(url)}: a {backend} database is not read through Spark JDBC "
            f"(supported: postgresql, mysql, mariadb)"
        )
    prefix, driver = DRIVERS[backend]
    port = f":{u.port}" if u.port else ""
    # MariaDB Connector/J takes jdbc:mysql: only when told to; Spark's MySQL dialect (backtick quoting)
    # recognises jdbc:mysql: only — with jdbc:mariadb: Spark would quote columns as "strings".
    suffix = "?permitMysqlScheme" if prefix == "jdbc:mysql" else ""
    options = {"url": f"{prefix}://{u.host or 'localhost'}{port}/{u.database or ''}{suffix}", "driver": driver}
    if u.username:
        options["user"] = u.username
    if u.password:
        options["password"] = u.password
    return options


def jdbc_frame(
    spark,
    url: str,
    table_name: str,
    table: SourceTable,
    start: datetime,
    end: datetime,
    partitions: int,
    zone: ZoneInfo = UTC,
):
    """The Spark DataFrame of one table's UTC window [start, end), split into `partitions` JDBC reads.

    Args:
        spark: the Spark session.
        url: the branch's SQLAlchemy URL, password filled in.
        table_name, table: the source table and its configuration (query template, cursor).
        start, end: the UTC window; in the source's time, also the partitioning bounds of the cursor.
        partitions: numPartitions (`[spark] jdbc_partitions`).
        zone: the zone the source writes its timestamps in (the window is asked in it).
    """
    low, high = local_window(start, end, zone)
    reader = spark.read.format("jdbc")
    for key, value in jdbc_options(url).items():
        reader = reader.option(key, value)
    return (
        reader.option("dbtable", f"({render_query(table_name, table, start, end, zone)}) AS q")
        .option("partitionColumn", table.cursor)
        .option("lowerBound", low.strftime(_BOUND))
        .option("upperBound", high.strftime(_BOUND))
        .option("numPartitions", str(partitions))
        .option("fetchsize", "10000")
        .load()
    )


def read_window_spark(
    spark,
    url: str,
    table_name: str,
    table: SourceTable,
    start: datetime,
    end: datetime,
    where: str,
    partitions: int,
    zone: ZoneInfo = UTC,
) -> pa.Table:
    """All rows of one source table whose cursor falls in the source-time window of the UTC window
    [start, end) (`clock.local_window`), read by Spark JDBC, as Arrow, values as the source wrote them.

    SQLite URLs go to `read_window` (see the module docstring for why).

    Raises:
        SourceError: naming `where`, the table and the cause (unreachable host, missing table or cursor…).
    """
    if make_url(url).get_backend_name() == "sqlite":
        return read_window(url, table_name, table, start, end, where, zone)
    context = f"{where}: table {table_name}"
    try:
        frame = jdbc_frame(spark, url, table_name, table, start, end, partitions, zone)
    except SourceError as exc:
        raise SourceError(f"{context}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Spark wraps every driver error in its own types
        if "not found in the JDBC relation" in str(exc):  # Spark's words for an unknown partitionColumn
            raise SourceError(f"{context} has no column {table.cursor} (the configured cursor)") from exc
        raise SourceError(
            f"{context}: cannot read from {safe_source(url)} through Spark JDBC: {error_cause(exc)}"
        ) from exc
    try:
        return _as_embedded(frame.toArrow(), _naive_columns(frame), _jvm_time_zone(spark))
    except Exception as exc:  # noqa: BLE001
        raise SourceError(
            f"{context}: cannot read from {safe_source(url)} through Spark JDBC: {error_cause(exc)}"
        ) from exc


def _naive_columns(frame) -> set[str]:
    """Columns that are wall-clock timestamps at the source (PostgreSQL `timestamp`, MariaDB `DATETIME`),
    by the source type Spark records in each field's metadata; `timestamptz` stays an instant."""
    naive = set()
    for f in frame.schema.fields:
        source_type = str(f.metadata.get("jdbcClientType", "")).lower()
        if f.dataType.simpleString() == "timestamp" and "tz" not in source_type and "zone" not in source_type:
            naive.add(f.name)
    return naive


def _jvm_time_zone(spark) -> str:
    """The zone the JDBC drivers read wall-clock timestamps in (the JVM default, not the session's)."""
    return spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID()


def _as_embedded(table: pa.Table, naive: set[str], jvm_zone: str) -> pa.Table:
    """Spark's Arrow as ConnectorX gives it: every field nullable and without Spark's metadata, text as
    plain strings, and source wall-clock timestamps naive again.

    Spark can only partition by `timestamp` (not `timestamp_ntz`), so a wall-clock column is read as the
    instant it denotes in the JVM's zone; reading that instant back in the same zone gives the wall clock
    exactly as it is stored, whatever the zone. Other types are left to `normalise` (int32 -> int64,
    decimal(p,s) -> decimal(38,10)), which both readers' output goes through before lineage.
    """
    columns, fields = [], []
    for col, f in zip(table.columns, table.schema):
        t = f.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            col = pc.cast(col, pa.string())
        elif pa.types.is_timestamp(t) and f.name in naive:
            col = pc.local_timestamp(pc.cast(col, pa.timestamp("us", tz=jvm_zone)))
        columns.append(col)
        fields.append(pa.field(f.name, col.type, nullable=True))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
