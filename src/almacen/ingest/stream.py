"""The stream job: events from a landing folder or Kafka into bronze, quarantine and gold, exactly once.

One ingestor serves each kind of event stream (`ingest.kinds`: sale events, message events); the
kind says how events parse, which rules judge them and which gold tables they keep current.
Each micro-batch: poll (up to `max_batch_events`, at most `trigger_seconds`), parse and judge the
events, then commit in this order, each with the positions it includes as Delta transaction ids:
quarantine -> bronze -> gold. The ingestor resumes from bronze's
positions; a table that got less than bronze (a crash between commits) is completed from bronze
(gold) or keeps only rows past its own positions (quarantine). Every table commits the higher of the
positions it holds and the batch's (`realtime.positions`): the batch read again after a restart may be
cut smaller than the one a table committed before the crash, and a position never moves back. So a
SIGKILL at any moment loses nothing and duplicates nothing, and no state lives anywhere but the lake.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.config import Settings, StreamSettings
from almacen.engine import DuckDBEngine
from almacen.ingest.kinds import SALES, StreamKind
from almacen.ingest.maintenance import Maintenance, release_memory
from almacen.ingest.payloads import parse_events
from almacen.lake import Lake
from almacen.monitor import RunRecord, record_runs
from almacen.quality import split
from almacen.realtime.positions import Positions, transactions
from almacen.sources.stream import EventSource, StreamBatch

log = logging.getLogger(__name__)
JOB = "stream"
EVENTS = SALES.bronze
QUARANTINE = SALES.quarantine
PARSE = SALES.parse
_TS = pa.timestamp("us", tz="UTC")
_WORK = ["_untyped", "_parse_error", "_raw"]
QUARANTINED_BEFORE = resources.files("almacen.ingest") / "quarantined_before.sql"


def open_source(cfg: StreamSettings) -> EventSource:
    """The configured event source (landing folder by default)."""
    if cfg.source == "kafka":
        from almacen.sources.kafka import KafkaSource
        return KafkaSource(cfg.kafka)
    from almacen.sources.landing import LandingSource
    return LandingSource(cfg.landing)


@dataclass
class Totals:
    """What the ingestor did since it started (and since its last run record)."""

    batches: int = 0
    read: int = 0
    written: int = 0
    quarantined: int = 0
    late: int = 0
    lag: int | None = None
    last_batch_s: float = 0.0
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class StreamIngestor:
    """One ingestor per source and lake (two running on the same source is not supported)."""

    def __init__(self, settings: Settings, source: EventSource | None = None, kind: StreamKind = SALES) -> None:
        self.settings = settings
        self.kind = kind
        self.cfg = kind.settings(settings)
        self.lake = Lake(settings.lake)
        self._rules = kind.rules(settings)
        self.source = source or open_source(self.cfg)
        self._spill = tempfile.TemporaryDirectory(prefix=f"almacen-{kind.name}-stream-")
        self.engine = DuckDBEngine(memory_limit=self.cfg.memory_limit, temp_directory=self._spill.name)
        self.lateness = timedelta(minutes=self.cfg.allowed_lateness_minutes)
        self.gold = kind.gold(settings, self.lake, self.engine, self.lateness)
        self.totals = Totals()
        self._period = Totals()
        self._bronze = Positions(self.lake, kind.bronze)
        self._quarantine = Positions(self.lake, kind.quarantine)
        self._maintenance = Maintenance(self.lake, self.cfg.compact_every_seconds, self.cfg.vacuum_retention_hours,
                                        append_only=(kind.bronze, kind.quarantine), rewritten=self.gold.tables)

    # -- start: everything from the lake -------------------------------------------------------
    def start(self) -> None:
        """Open the source where bronze ends, restore gold's state (watermark of the source's streams)
        from the lake, complete gold, then restore duplicate detection."""
        self.source.open(self._committed)
        self.gold.restore(self.source.streams())
        for name, table in self.kind.references(self.settings, self.lake).items():
            self.engine.register(name, table)
        self.engine.execute("CREATE OR REPLACE TABLE seen_events (h UBIGINT, t TIMESTAMPTZ)")
        self._complete_gold()
        self._restore_seen()
        release_memory()
        self._maintenance.start()

    def _committed(self, stream: str) -> int | None:
        """The last position of `stream` bronze holds (where the source resumes)."""
        return self._bronze.of([stream])[stream]

    def _restore_seen(self) -> None:
        """Ids of the events still open to duplicates (event time within the lateness of the watermark;
        every id while there is no watermark yet: then no event is late, so none is looked up in bronze)."""
        data = self.lake.dataset(self.kind.bronze)
        if data is None:
            return
        if self.gold.watermark is None:
            self._remember(data.to_table(columns=["event_id", "event_time"]))
            return
        since = self.gold.watermark - self.lateness
        recent = data.to_table(columns=["event_id", "event_time"],
                               filter=(pads.field("event_date") >= pa.scalar(since.date()))
                               & (pads.field("event_time") >= pa.scalar(since, _TS)))
        self._remember(recent)

    def _remember(self, events: pa.Table) -> None:
        self.engine.register("remembered", events.select(["event_id", "event_time"]))
        try:
            self.engine.execute("INSERT INTO seen_events SELECT hash(event_id), event_time FROM remembered")
        finally:
            self.engine.forget("remembered")

    def _complete_gold(self) -> None:
        """Apply to gold what bronze committed but gold did not (the ingestor stopped between commits)."""
        data = self.lake.dataset(self.kind.bronze)
        if data is None:
            return
        committed = {s: p for s, p in self._bronze.of(self.source.streams()).items() if p is not None}
        if committed:
            self.gold.complete(data, committed)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: Callable[[], bool] | threading.Event | None = None, *, until_idle: bool = False,
            on_batch: Callable[[Totals], None] | None = None) -> Totals:
        """Consume until `stop` (or, with `until_idle`, until a poll brings nothing and nothing waits)."""
        should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
        last_report = time.monotonic()
        try:
            while not should_stop():
                n = self.run_once()
                if on_batch:
                    on_batch(self.totals)
                if time.monotonic() - last_report >= self.cfg.report_every_seconds:
                    self.report()
                    last_report = time.monotonic()
                if until_idle and n == 0 and self.totals.lag == 0:
                    break
        finally:
            self.report()
        return self.totals

    def run_once(self) -> int:
        """One micro-batch; returns how many events it read."""
        batch = self.source.poll(self.cfg.max_batch_events, self.cfg.trigger_seconds)
        started = time.perf_counter()
        self.gold.release(batch.ends.keys(), self._drained(batch))
        if len(batch):
            self._process(batch)
            self.source.acknowledge(batch.ends)
            release_memory()
        self._maintenance.tick(self.engine, self.gold.watermark, self.lateness)
        lag = self.source.lag()
        for t in (self.totals, self._period):
            t.lag = lag
            t.last_batch_s = time.perf_counter() - started
        return len(batch)

    def _drained(self, batch: StreamBatch) -> set[str]:
        """Streams that never delivered and are absent from `batch` while the source has nothing waiting
        beyond it (an empty partition): they stop holding gold's watermark back."""
        absent = self.gold.unheard() - batch.ends.keys()
        return absent if absent and self.source.lag() == 0 else set()

    def _process(self, batch: StreamBatch) -> None:
        """Parse and judge a batch, then commit quarantine -> bronze -> gold, each with only the rows past
        its own positions and the higher of its positions and the batch's."""
        now = datetime.now(timezone.utc)
        parsed = self._parse(batch)
        self._check_late_duplicates(parsed)
        judged = split(self.engine, parsed, self._rules, name="batch_events", now=now)
        self.engine.execute("DROP TABLE IF EXISTS seen_in_batch")
        passed = self._not_quarantined_before(judged.passed, judged.quarantined, batch.ends).drop_columns(_WORK)
        bad = quarantine_rows(self._quarantine.beyond(judged.quarantined, batch.ends), batch.source, now)
        if bad.num_rows:
            ends = self._quarantine.after(batch.ends)
            self.lake.append(self.kind.quarantine, bad, txns=transactions(ends))
            self._quarantine.committed(ends)
        passed = self._bronze.beyond(passed, batch.ends)
        late = self.gold.is_late(passed["event_time"])
        passed = bronze_rows(passed, late, batch.source, now)
        ends = self._bronze.after(batch.ends)
        self.lake.append(self.kind.bronze, passed, txns=transactions(ends), partition_by=["event_date"])
        self._bronze.committed(ends)
        self._remember(passed)
        self.gold.apply(passed, late, batch.ends)
        n_late = pc.sum(late).as_py() or 0
        for t in (self.totals, self._period):
            t.batches += 1
            t.read += len(batch)
            t.written += passed.num_rows
            t.quarantined += bad.num_rows
            t.late += n_late

    def _not_quarantined_before(self, passed: pa.Table, failed: pa.Table, ends: dict[str, int]) -> pa.Table:
        """`passed` without the events a run before a crash already quarantined.

        After a crash between the quarantine and the bronze commits, the messages between bronze's and
        quarantine's positions are judged again, and some may pass now (an event that was in the future
        then). Quarantine already holds them: per (stream, position, payload), as many passing rows are
        left out as quarantine holds beyond what this batch quarantines again, so each message ends in
        bronze or in quarantine, never both. Only read when quarantine is ahead of bronze."""
        held, loaded = self._quarantine.of(ends), self._bronze.of(ends)
        gap = {s: (loaded[s] if loaded[s] is not None else -1, q) for s, q in held.items()
               if q is not None and (loaded[s] is None or q > loaded[s])}
        data = self.lake.dataset(self.kind.quarantine) if gap and passed.num_rows else None
        if data is None:
            return passed
        inside = None
        for s, (low, high) in gap.items():
            c = (pads.field("_stream") == s) & (pads.field("_position") > low) & (pads.field("_position") <= high)
            inside = c if inside is None else inside | c
        keys = ["_stream", "_position", "_raw"]
        self.engine.register("gap_before", data.to_table(columns=keys, filter=inside))
        self.engine.register("gap_again", failed.select(keys))
        self.engine.register("gap_passed", passed.append_column("_row", pa.array(range(passed.num_rows), pa.int64())))
        try:
            kept = self.engine.query(QUARANTINED_BEFORE.read_text(encoding="utf-8"))
        finally:
            for name in ("gap_before", "gap_again", "gap_passed"):
                self.engine.forget(name)
        return passed.take(kept["_row"])

    def _parse(self, batch: StreamBatch) -> pa.Table:
        return self.kind.prepare(self.settings, parse_events(self.engine, batch.table(), self.kind.parse,
                                                             self.cfg.max_payload_bytes))

    def _check_late_duplicates(self, parsed: pa.Table) -> None:
        """`seen_in_batch`: hashes of this batch's ids already loaded. Recent ids are held in memory;
        ids of events older than the lateness are looked up in bronze (rare, so it can cost a scan)."""
        self.engine.register("parsed_ids", parsed.select(["event_id", "event_time"]))
        try:
            self.engine.execute("CREATE OR REPLACE TEMP TABLE seen_in_batch AS SELECT h FROM seen_events "
                                "WHERE h IN (SELECT hash(event_id) FROM parsed_ids WHERE event_id IS NOT NULL)")
            old = parsed.filter(self.gold.is_late(parsed["event_time"])) if self.gold.watermark else None
            data = self.lake.dataset(self.kind.bronze) if old is not None and old.num_rows else None
            if data is not None:
                ids = pc.drop_null(old["event_id"])
                dates = pc.unique(pc.drop_null(pc.cast(old["event_time"], pa.date32())))
                loaded = data.to_table(columns=["event_id", "event_time"],
                                       filter=pads.field("event_date").isin(dates) & pads.field("event_id").isin(ids))
                self.engine.register("late_loaded", loaded)
                self.engine.execute("INSERT INTO seen_in_batch SELECT hash(event_id) FROM late_loaded")
                self.engine.forget("late_loaded")
        finally:
            self.engine.forget("parsed_ids")

    def report(self) -> None:
        """A run record of the events since the last one, with the lag behind the source."""
        p, now = self._period, datetime.now(timezone.utc)
        if p.batches == 0 and p.read == 0:
            return
        record = RunRecord(self.kind.job, None, p.since, now, p.since, now, p.read, p.written, p.quarantined,
                           lag=p.lag, rows_late=p.late)
        record_runs(self.lake, [record])
        self._period = Totals(lag=p.lag)

    def close(self) -> None:
        self._maintenance.stop()
        self.source.close()
        self.engine.close()
        self._spill.cleanup()


def bronze_rows(passed: pa.Table, late: pa.Array, source: str, now: datetime) -> pa.Table:
    """Accepted events as bronze.sales_events holds them: `event_date`, `_late` and lineage added."""
    n = passed.num_rows
    return (passed.append_column("event_date", pc.cast(passed["event_time"], pa.date32()))
            .append_column("_late", late)
            .append_column("_source", pa.repeat(pa.scalar(source), n))
            .append_column("_ingested_at", pa.repeat(pa.scalar(now, _TS), n)))


def quarantine_rows(failed: pa.Table, source: str, now: datetime) -> pa.Table:
    """Rows the gate refused as quarantine.sales_events holds them (parse helpers dropped, lineage added)."""
    bad = failed.drop_columns(["_untyped", "_parse_error"])
    return (bad.append_column("_source", pa.repeat(pa.scalar(source), bad.num_rows))
            .append_column("_quarantined_at", pa.repeat(pa.scalar(now, _TS), bad.num_rows)))

