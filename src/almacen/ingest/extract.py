"""Hourly extraction: every branch's POS rows of an hour → bronze, conformed → quality → silver versions.

A (branch, hour) slice is the unit of work and of idempotency: its rows carry
`_batch_id = branch:<id>:<hour>` and a re-run replaces exactly that slice in every table it
touches, so nothing is ever duplicated. Slices are read in parallel and committed in groups
(one commit per table, FINDINGS.md: commits cost ~40 ms each).
The run records are written last: a slice without an `ok` run is "missed" and catch-up redoes it;
so is an empty slice recorded `unsettled` (ingest/catchup.py says when an empty hour is final).

Hours are UTC. A source that writes wall-clock times of a zone (`timezone` of the branch or table,
`config.source_zone`) is asked for the window in its own time (`clock.local_window`, widened near a
DST change) and its timestamps are converted to UTC (`clock.to_utc`) before the rows are split into
hours; bronze keeps the source's rows with their timestamps in UTC. A row that the widened window
read for a neighbouring hour is left to that hour; a row outside the window asked for is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import hour_start, is_utc, local_window, utc_now
from almacen.config import Branch, Settings, SourceTable, resolve_url, source_zone
from almacen.engine import DuckDBEngine, Engine
from almacen.ingest.catchup import History, extract_history, extract_runs_since, is_unsettled, normally_sells
from almacen.ingest.lineage import add_lineage, batch_id, normalise
from almacen.lake import Lake, SchemaChangeError, same_type
from almacen.monitor import RunRecord, read_runs, record_runs
from almacen.security.demo import pseudonym_key
from almacen.sources import SourceError, latest_cursor, probe, read_window, safe_source

JOB = "extract"
TXN_PREFIX = "almacen-extract:"
Reader = Callable[[str, str, SourceTable, datetime, datetime, str, ZoneInfo], pa.Table]
"""(url, table name, table, start, end, where, zone) -> the table's rows of the UTC window [start, end) asked in
the source's zone, as `read_window` gives them (values as the source wrote them)"""
FIRST_WINDOW_HOURS = 4
MAX_WINDOW_HOURS = 24


@dataclass
class Slice:
    """One (branch, hour) of one extraction: the unit of work and of idempotency (`batch_id`)."""

    branch: Branch
    hour: datetime
    run: RunRecord
    tables: dict[str, pa.Table] = field(default_factory=dict)
    """bronze rows by source table name"""

    @property
    def batch_id(self) -> str:
        return batch_id(self.branch.id, self.hour)


Commit = Callable[[Settings, Lake, Engine, list[Slice]], None]
"""What a domain does with the good slices an extraction read: writes bronze as read, the rest through its
quality rules, in one commit per table, and sets each slice's `run.rows_written` and `run.rows_quarantined`.
The core reads, windows, checks schemas and records runs; the commit knows what the source's tables mean."""


@dataclass(frozen=True)
class Extraction:
    """What a domain gives the hourly extraction of the branches' databases (`Domain.extraction`)."""

    commit: Commit
    prepare: Callable[[Settings, Lake, Engine], object] | None = None
    """run once before any slice is read, on the engine the commits use (e.g. register reference data the
    rules need, such as the product catalog)"""


def extract(
    settings: Settings,
    hours: Iterable[datetime],
    branch_ids: Sequence[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
    *,
    extraction: Extraction,
) -> list[RunRecord]:
    """Extract the given hours for the selected (default: all enabled) branches; one run record per slice.

    Failures of one branch are recorded in its run records and never stop the others.
    """
    branches = (
        [settings.branch(b).id for b in branch_ids] if branch_ids else [b.id for b in settings.branches if b.enabled]
    )
    return extract_slices(settings, [(b, h) for h in hours for b in branches], on_progress, extraction=extraction)


def extract_slices(
    settings: Settings,
    slices: Iterable[tuple[str, datetime]],
    on_progress: Callable[[int], None] | None = None,
    *,
    extraction: Extraction,
) -> list[RunRecord]:
    """Extract exactly these (branch id, hour) slices, in hour order.

    A window of hours at a time, each branch's hours are read as a few contiguous ranges in parallel
    (one query per table and range, not per hour: connections cost more than rows) and split back
    into hourly slices. Windows are sized from the rows per hour seen so far to read about
    `commit_rows` rows, and slices are committed together once that many are pending: memory stays
    bounded by that setting, however long the range.
    """
    pseudonym_key(
        settings
    )  # fail before reading anything (and mark a demo lake) when customers cannot be pseudonymised
    wanted: dict[str, set[datetime]] = {}
    for branch_id, hour in slices:
        wanted.setdefault(settings.branch(branch_id).id, set()).add(hour_start(hour))
    hours = sorted(set().union(*wanted.values())) if wanted else []
    lake = Lake(settings.lake)
    reader = window_reader(settings)
    history: History = extract_history(read_runs(lake, extract_runs_since(hours[0])))[0] if hours else {}
    records: list[RunRecord] = []
    pending: list[Slice] = []
    with DuckDBEngine() as engine, ThreadPoolExecutor(settings.max_workers) as pool:
        if extraction.prepare is not None:
            extraction.prepare(settings, lake, engine)
        i, window_hours = 0, FIRST_WINDOW_HOURS
        while i < len(hours):
            window = set(hours[i : i + window_hours])
            i += window_hours
            ranges = _ranges(settings, {b: sorted(hs & window) for b, hs in wanted.items() if hs & window})
            read = [s for part in pool.map(lambda r: _read_range(settings, reader, history, *r), ranges) for s in part]
            pending += read
            history.update({(s.branch.id, s.hour): s.run.rows_read for s in read if s.run.status == "ok"})
            # size the next window so that it reads about commit_rows rows
            per_hour = sum(s.run.rows_read for s in read) / len(window)
            window_hours = max(1, min(MAX_WINDOW_HOURS, int(settings.commit_rows / max(per_hour, 1.0))))
            if sum(s.run.rows_read for s in pending) >= settings.commit_rows or i >= len(hours):
                records += _flush(settings, lake, engine, pending, extraction.commit)
                if on_progress:
                    on_progress(len(pending))
                pending = []
    return records


def window_reader(settings: Settings) -> Reader:
    """How branch windows are read: embedded (ConnectorX / SQLAlchemy), or Spark JDBC split into
    `[spark] jdbc_partitions` reads when `engine = "spark"`. Only the read differs: lineage, conform,
    quality and the lake writes after it are the same code for both engines."""
    if settings.engine != "spark":
        return read_window
    from almacen.engine.spark import spark_session  # PySpark is an optional extra
    from almacen.sources.spark_jdbc import read_window_spark

    spark, partitions = spark_session(settings.spark), settings.spark.jdbc_partitions
    return lambda url, name, table, start, end, where, zone: read_window_spark(
        spark, url, name, table, start, end, where, partitions, zone
    )


def _ranges(settings: Settings, hours_by_branch: dict[str, list[datetime]]) -> list[tuple[Branch, list[datetime]]]:
    """Each branch's hours as contiguous runs, split so that the workers (and the cores) have a range each.

    More ranges per branch than cores only makes the database and us compete for the same CPUs.
    """
    parts = max(1, min(os.cpu_count() or 1, settings.max_workers // max(1, len(hours_by_branch))))
    ranges = []
    for branch_id, hours in hours_by_branch.items():
        runs: list[list[datetime]] = []
        for h in hours:
            if runs and runs[-1][-1] + timedelta(hours=1) == h:
                runs[-1].append(h)
            else:
                runs.append([h])
        for run in runs:
            size = -(-len(run) // parts)
            ranges += [(settings.branch(branch_id), run[j : j + size]) for j in range(0, len(run), size)]
    return ranges


def _flush(settings: Settings, lake: Lake, engine: Engine, slices: list[Slice], commit: Commit) -> list[RunRecord]:
    """Commit the good slices read so far (one commit per table), then their run records."""
    _check_schemas(lake, slices)
    ok = [s for s in slices if s.run.status == "ok"]
    if ok:
        commit(settings, lake, engine, ok)
    for s in slices:
        s.run.finished_at = utc_now()
    records = [s.run for s in slices]
    record_runs(lake, records)
    return records


def _read_range(
    settings: Settings, reader: Reader, history: History, branch: Branch, hours: list[datetime]
) -> list[Slice]:
    """Read both POS tables of a branch for contiguous hours and split them into hourly slices.

    Each table is asked for the range in its zone and converted to UTC before the split (module
    docstring). An empty slice of an hour the branch normally sells in is marked unsettled while the
    source is not `settle_hours` past it (ingest/catchup.py). A failure marks every slice of the range
    as failed; it never raises.
    """
    started = utc_now()
    slices = {h: Slice(branch, h, RunRecord(JOB, branch.id, h, h + timedelta(hours=1), started)) for h in hours}
    where = f"branch {branch.id}"
    start, end = hours[0], hours[-1] + timedelta(hours=1)
    try:
        url = resolve_url(branch.url, branch.password_env, where)
        probe(url, where)
        source = safe_source(url)
        for name, table in settings.schemas()[branch.pos_schema].tables.items():
            zone = source_zone(branch, table)
            raw = reader(url, name, table, start, end, where, zone)
            inside = _inside_window(raw[table.cursor], start, end, zone)
            rows = normalise(raw, zone)
            _check_convertible(rows, table, zone, f"{where}: table {name}")
            outside = rows.num_rows - pc.sum(inside).as_py() if rows.num_rows else 0
            if outside:
                low, high = local_window(start, end, zone)
                raise SourceError(
                    f"{where}: table {name}: asked for {low:%Y-%m-%d %H:%M} to {high:%Y-%m-%d %H:%M} "
                    f"({zone.key}), the query returned {outside} rows whose {table.cursor} is "
                    "outside the hours asked for; check its query template"
                )
            hour_of = pc.floor_temporal(rows[table.cursor], unit="hour")
            for h, s in slices.items():
                part = rows.filter(pc.equal(hour_of, pa.scalar(h.replace(tzinfo=None), hour_of.type)))
                s.tables[name] = add_lineage(part, branch.id, h, source, started)
        for s in slices.values():
            s.run.rows_read = sum(t.num_rows for t in s.tables.values())
        _settle(settings, history, url, branch, list(slices.values()), where)
    except Exception as exc:  # noqa: BLE001 - any failure of one branch is recorded, the others go on
        for s in slices.values():
            _fail(s, exc)
    return list(slices.values())


def _inside_window(cursor: pa.ChunkedArray, start: datetime, end: datetime, zone: ZoneInfo) -> pa.ChunkedArray:
    """Which rows' cursor, as the source wrote it, lies in the window the query asked for: the naive
    wall-clock window of `zone` (`clock.local_window`), or [start, end) for a cursor that has a zone."""
    if pa.types.is_timestamp(cursor.type) and cursor.type.tz is not None:
        low, high = start, end
    else:
        low, high = local_window(start, end, zone)
    typ = cursor.type if pa.types.is_timestamp(cursor.type) else pa.timestamp("us")
    bound = (
        pa.scalar(low.replace(tzinfo=None) if typ.tz is None else low, typ),
        pa.scalar(high.replace(tzinfo=None) if typ.tz is None else high, typ),
    )
    return pc.fill_null(pc.and_(pc.greater_equal(cursor, bound[0]), pc.less(cursor, bound[1])), False)


def _check_convertible(rows: pa.Table, table: SourceTable, zone: ZoneInfo, where: str) -> None:
    """Refuse a time kept as text by a source that is not in UTC: it cannot be converted, and taken as
    UTC it would be silently wrong by the zone's offset."""
    if is_utc(zone):
        return
    for column in ("sold_at", "updated_at"):
        source = table.columns.get(column)
        if source in rows.column_names and not pa.types.is_timestamp(rows.schema.field(source).type):
            raise SourceError(
                f"{where}: column {source} (mapped to {column}) is {rows.schema.field(source).type}, not a "
                f"timestamp: its wall-clock time in {zone.key} cannot be converted to UTC; "
                "cast it to a timestamp in the table's query"
            )


def _settle(settings: Settings, history: History, url: str, branch: Branch, slices: list[Slice], where: str) -> None:
    """Mark the empty slices that are not final yet (ingest/catchup.py), measuring how far the source
    has got (its sales table's latest cursor) only when some slice needs it."""
    for s in slices:
        s.run.unsettled = False
    doubtful = [s for s in slices if s.run.rows_read == 0 and normally_sells(history, branch.id, s.hour)]
    if not doubtful:
        return
    name, table = settings.schemas()[branch.pos_schema].table_for("sales")
    since = doubtful[0].hour - timedelta(days=1)  # how far the source has got, looking back a day at most
    latest = latest_cursor(url, name, table, since, where, source_zone(branch, table))
    for s in doubtful:
        s.run.source_latest = latest
        s.run.unsettled = is_unsettled(settings, s.hour, latest)


def _check_schemas(lake: Lake, slices: list[Slice]) -> None:
    """Refuse a slice whose column types differ from its bronze table (or from earlier slices)."""
    expected: dict[str, pa.Schema] = {}
    for s in slices:
        if s.run.status != "ok":
            continue
        for name, rows in s.tables.items():
            table = f"bronze.pos_{name}"
            if table not in expected:
                existing = lake.table(table)
                expected[table] = pa.schema(existing.schema()) if existing else rows.schema
            changed = [
                f"{f.name} ({expected[table].field(f.name).type} -> {f.type})"
                for f in rows.schema
                if f.name in expected[table].names and not same_type(expected[table].field(f.name).type, f.type)
            ]
            if changed:
                _fail(
                    s,
                    SchemaChangeError(
                        f"branch {s.branch.id}: table {name} changed column type at the source: {', '.join(changed)}; "
                        "slice not loaded (declare the new type in the bronze table or fix the source)"
                    ),
                )
                break


def _fail(s: Slice, exc: Exception) -> None:
    s.run.status, s.run.error, s.tables = "failed", str(exc), {}
