"""The stream job on Spark Structured Streaming (`engine = "spark"`): Kafka into bronze, quarantine and gold.

Spark reads the topic (`readStream.format("kafka")`) and hands each micro-batch to `foreachBatch`,
which computes with the embedded ingestor's own SQL: events.sql parses on the driver in DuckDB (the
batch is collected as Arrow anyway, and one JSON reader means the two ingestors cannot read a payload
differently), then through the SparkEngine the quality gate (`quality.split`) judges with `sales_event_rules`, and `MinuteRollup` folds the
accepted events into the minutes with minute_partials.sql / late_partials.sql. Nothing of the
domain is written again in PySpark; the few DuckDB functions those files use are rewritten to
Spark's by `engine.spark.to_spark`.

Exactly once: Spark's checkpoint (`<lake>/_system/spark_checkpoints/stream` by default) replays an
epoch that did not finish. quarantine.sales_events and bronze.sales_events are appended by
delta-spark with `txnAppId` (the query id) / `txnVersion` (the epoch), so Delta skips a replayed
epoch; gold tables commit the Kafka positions they include (as the embedded ingestor does, never
lower than they hold) and keep only the rows past them, so a replay adds nothing to a table that
already holds it. The watermark is per partition, as in the embedded ingestor: a partition that never
delivered stops holding it back once Kafka shows it has nothing for it. Duplicate ids are looked up exactly in bronze
(excluding the replayed batch's own rows). A new checkpoint on a lake that already holds events
starts after gold's positions, never from the beginning.

Batches are collected to the driver as Arrow between steps: the quality gate and MinuteRollup take
Arrow. That bounds a batch by `max_batch_events`, as in the embedded ingestor.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from almacen.config import ConfigError, Settings
from almacen.domains.sales import sales_event_rules
from almacen.engine import DuckDBEngine
from almacen.engine.spark import SparkEngine
from almacen.ingest.stream import (EVENTS, JOB, QUARANTINE, Totals, bronze_rows, parse_events,
                                   quarantine_rows)
from almacen.lake import Lake
from almacen.monitor import RunRecord, record_runs
from almacen.quality import split
from almacen.realtime.rollup import MinuteRollup
from almacen.sources.kafka import client_config, java_client_config

log = logging.getLogger(__name__)
_WORK = ["_untyped", "_parse_error", "_raw"]


def checkpoint_dir(settings: Settings, job: str = JOB) -> str:
    """Where Spark keeps the job's offsets and commits: `spark.checkpoints` or `<lake>/_system/spark_checkpoints`."""
    root = settings.spark.checkpoints or f"{Lake(settings.lake).path('_system.spark_checkpoints')}"
    return f"{root.rstrip('/')}/{job}"


class SparkStreamIngestor:
    """`almacen stream` on Spark Structured Streaming; one per topic and lake, like the embedded one."""

    def __init__(self, settings: Settings, engine: SparkEngine | None = None) -> None:
        cfg = settings.stream
        if cfg.source != "kafka":
            raise ConfigError('engine = "spark" streams from Kafka: set stream.source = "kafka" '
                              '(the landing folder is read by the embedded ingestor)')
        self.settings, self.cfg = settings, cfg
        self.lake = Lake(settings.lake)
        self.engine = SparkEngine(settings.spark, session=engine.spark if engine else None)
        self.spark = self.engine.spark
        self.topic = cfg.kafka.topic
        self.source = f"kafka:{cfg.kafka.bootstrap_servers}/{self.topic}"
        self.lateness = timedelta(minutes=cfg.allowed_lateness_minutes)
        self.rollup = MinuteRollup(self.lake, self.engine, self.lateness)
        self.checkpoint = checkpoint_dir(settings)
        self.totals = Totals()
        self._period = Totals()
        self._query_id: str | None = None
        self._partitions: list[int] = []
        self._offsets = None
        """a Kafka consumer asking the partitions' last offsets (is anything waiting for an absent partition?)"""
        self._started = threading.Event()
        self._on_batch: Callable[[Totals], None] | None = None

    def start(self) -> None:
        """Watermark (per partition of the topic) and open minutes from gold; the configured branches for the
        references rule."""
        self._partitions = self._topic_partitions()
        self.rollup.restore([self._stream(p) for p in self._partitions])
        branches = pa.table({"branch_id": pa.array([b.id for b in self.settings.branches], pa.string())})
        self.engine.register("known_branches", branches)

    # -- the query -----------------------------------------------------------------------------
    def run(self, stop: Callable[[], bool] | threading.Event | None = None, *, available_now: bool = False,
            on_batch: Callable[[Totals], None] | None = None) -> Totals:
        """Run the streaming query until `stop` (or, with `available_now`, until what the topic held at
        start is consumed); re-raises a failed batch's error after stopping the query."""
        should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
        self._on_batch = on_batch
        kafka = self.cfg.kafka
        reader = (self.spark.readStream.format("kafka")
                  .options(**{f"kafka.{k}": v for k, v in java_client_config(kafka).items()})
                  .option("subscribe", self.topic)
                  .option("startingOffsets", self._starting_offsets())
                  .option("maxOffsetsPerTrigger", str(self.cfg.max_batch_events))
                  .option("failOnDataLoss", "true")
                  .load())
        writer = (reader.writeStream.queryName(f"almacen_stream_{self.topic.replace('.', '_').replace('-', '_')}")
                  .foreachBatch(self._batch).option("checkpointLocation", self.checkpoint))
        writer = (writer.trigger(availableNow=True) if available_now
                  else writer.trigger(processingTime=f"{int(self.cfg.trigger_seconds * 1000)} milliseconds"))
        self._started.clear()
        query = writer.start()
        self._query_id = query.id
        self._started.set()
        try:
            while query.isActive and not should_stop():
                query.awaitTermination(0.5)
                if not available_now and self._period.since + timedelta(seconds=self.cfg.report_every_seconds) \
                        < datetime.now(timezone.utc):
                    self.report()
        finally:
            if query.isActive:
                query.stop()
            self.report()
        error = query.exception()
        if error is not None:
            raise RuntimeError(f"the Spark stream of {self.topic} failed: {error}")
        return self.totals

    def _topic_partitions(self) -> list[int]:
        """The topic's partitions, as the broker lists them."""
        from almacen.sources.kafka import topic_metadata
        from confluent_kafka.admin import AdminClient

        meta = topic_metadata(AdminClient(client_config(self.cfg.kafka)), self.cfg.kafka, 10.0).topics.get(self.topic)
        if meta is None or meta.error is not None:
            raise ConfigError(f"stream.kafka.topic: topic {self.topic!r} does not exist at "
                              f"{self.cfg.kafka.bootstrap_servers}; create it (almacen simulate stream --kafka does)")
        return sorted(meta.partitions)

    def _starting_offsets(self) -> str:
        """Where a new checkpoint starts: just after gold.sales_minute's positions, else the earliest.
        (With a checkpoint, Spark ignores this and resumes from it.)"""
        offsets = {}
        for p in self._partitions or self._topic_partitions():
            last = self.rollup.position(self._stream(p))
            offsets[str(p)] = -2 if last is None else last + 1  # -2: earliest
        return json.dumps({self.topic: offsets})

    def _stream(self, partition: int) -> str:
        return f"kafka:{self.topic}:{partition}"

    # -- one micro-batch -----------------------------------------------------------------------
    def _batch(self, df, epoch_id: int) -> None:
        """Parse, judge, and commit quarantine -> bronze -> late -> minutes, as the embedded ingestor."""
        self._started.wait()
        raw = self._raw(df.selectExpr("value AS _payload", "partition", "offset").toArrow())
        if raw.num_rows == 0:
            return
        ends = {s: p for s, p in zip(*_last_per_stream(raw))}
        now = datetime.now(timezone.utc)
        parsed = self._parse(raw)
        self._register_seen(parsed, pc.unique(raw["_batch_id"]).to_pylist())
        try:
            judged = split(self.engine, parsed, sales_event_rules(self.settings.future_tolerance_minutes),
                           name="batch_events", now=now)
        finally:
            self.engine.forget("seen_in_batch")
            self.engine.forget("batch_ids")
        passed = judged.passed.drop_columns(_WORK)
        self.rollup.release(ends.keys(), self._drained(ends))
        late_mask = self.rollup.is_late(passed["event_time"])
        passed = bronze_rows(passed, late_mask, self.source, now)
        bad = quarantine_rows(judged.quarantined, self.source, now)
        if bad.num_rows:
            self._append(QUARANTINE, bad, epoch_id)
        if passed.num_rows:
            self._append(EVENTS, passed, epoch_id, partition_by=["event_date"])
        self.rollup.apply(passed, late_mask, ends)
        for t in (self.totals, self._period):
            t.batches += 1
            t.read += raw.num_rows
            t.written += passed.num_rows
            t.quarantined += bad.num_rows
            t.late += pc.sum(late_mask).as_py() or 0
        if self._on_batch:
            self._on_batch(self.totals)

    def _raw(self, kafka: pa.Table) -> pa.Table:
        """Kafka rows as the parser takes them: in offset order per partition, with the embedded
        ingestor's lineage (`kafka:<topic>:<partition>`, offset, `kafka:<topic>:<p>:<from>-<to>`).
        A tombstone's value stays null: the parser quarantines it as one."""
        kafka = kafka.sort_by([("partition", "ascending"), ("offset", "ascending")])
        parts = kafka["partition"].to_pylist()
        offsets = kafka["offset"].to_pylist()
        span: dict[int, tuple[int, int]] = {}
        for p, o in zip(parts, offsets):
            lo, hi = span.get(p, (o, o))
            span[p] = (min(lo, o), max(hi, o))
        ids = {p: f"kafka:{self.topic}:{p}:{lo}-{hi}" for p, (lo, hi) in span.items()}
        return pa.table({
            "_payload": kafka["_payload"].cast(pa.binary()),
            "_stream": pa.array([self._stream(p) for p in parts], pa.string()),
            "_position": pa.array(offsets, pa.int64()),
            "_batch_id": pa.array([ids[p] for p in parts], pa.string()),
        })

    def _parse(self, raw: pa.Table) -> pa.Table:
        """events.sql over the collected batch on the driver, in DuckDB as the embedded ingestor parses:
        the same JSON reader and strict types, so both read every payload alike (Spark's reader would
        keep 321.50 as written where DuckDB's reads a number). A connection per batch costs milliseconds."""
        with DuckDBEngine(memory_limit=self.cfg.memory_limit) as duck:
            return parse_events(duck, raw, max_payload_bytes=self.cfg.max_payload_bytes)

    def _register_seen(self, parsed: pa.Table, batch_ids: list[str]) -> None:
        """`seen_in_batch` (hashes, as the NotSeen rule reads it): this batch's ids that bronze already
        holds from another batch. The lookup is exact (ids, not hashes), so Spark's 32-bit `hash`
        only has to tell apart the few ids found; a replayed epoch does not find its own rows."""
        ids = parsed.select(["event_id", "event_time"]).filter(pc.is_valid(parsed["event_id"]))
        self.engine.register("batch_ids", ids)
        dates = sorted({d.isoformat() for d in pc.cast(ids["event_time"], pa.date32()).to_pylist() if d})
        if not dates or not self.lake.exists(EVENTS):
            self.engine.register_frame("seen_in_batch", self.engine.dataframe(
                "SELECT hash(event_id) AS h FROM batch_ids WHERE false"))
            return
        self.engine.register_table(EVENTS, self.lake)
        listed_dates = ", ".join(f"DATE '{d}'" for d in dates)
        listed_batches = ", ".join("'" + b.replace("'", "''") + "'" for b in batch_ids)
        self.engine.register_frame("seen_in_batch", self.engine.dataframe(
            f"SELECT DISTINCT hash(event_id) AS h FROM batch_ids WHERE event_id IN ("
            f"SELECT event_id FROM {EVENTS} WHERE event_date IN ({listed_dates}) "
            f"AND _batch_id NOT IN ({listed_batches}))"))
        self.engine.forget(EVENTS)

    def _append(self, table: str, rows: pa.Table, epoch_id: int, partition_by: list[str] | None = None) -> None:
        """One idempotent delta-spark append: Delta skips it when this query already committed the epoch."""
        path = self.lake.path(table)
        existing = self.lake.table(table)
        if existing is not None:  # the table's column order (delta-rs or an earlier run may have made it)
            names = [f.name for f in pa.schema(existing.schema())]
            rows = rows.select([n for n in names if n in rows.column_names]
                               + [n for n in rows.column_names if n not in names])
        writer = (self.spark.createDataFrame(rows).write.format("delta").mode("append")
                  .option("txnAppId", f"almacen-stream:spark:{self._query_id}").option("txnVersion", epoch_id))
        if existing is None and partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)

    def _drained(self, ends: dict[str, int]) -> set[str]:
        """Partitions that never delivered, absent from this batch, for which Kafka holds nothing past what
        gold committed (an empty partition): they stop holding the watermark back."""
        absent = self.rollup.unheard() - ends.keys()
        if not absent:
            return set()
        if self._offsets is None:
            from confluent_kafka import Consumer
            self._offsets = Consumer({**client_config(self.cfg.kafka), "group.id": self.cfg.kafka.group_id,
                                      "enable.auto.commit": False})
        from confluent_kafka import TopicPartition
        drained = set()
        for stream in absent:
            low, high = self._offsets.get_watermark_offsets(
                TopicPartition(self.topic, int(stream.rsplit(":", 1)[1])), timeout=10.0)
            last = self.rollup.position(stream)
            if high <= (low if last is None else last + 1):
                drained.add(stream)
        return drained

    def report(self) -> None:
        """A run record of the events since the last one (the lag is left to Spark's query progress)."""
        p, now = self._period, datetime.now(timezone.utc)
        if p.batches == 0 and p.read == 0:
            return
        record_runs(self.lake, [RunRecord(JOB, None, p.since, now, p.since, now, p.read, p.written, p.quarantined,
                                          rows_late=p.late)])
        self._period = Totals()

    def close(self) -> None:
        """Drop the engine's views (the Spark session is the process's and stays), close the offsets consumer."""
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        self.engine.close()


def _last_per_stream(raw: pa.Table) -> tuple[list[str], list[int]]:
    grouped = raw.group_by("_stream").aggregate([("_position", "max")])
    return grouped["_stream"].to_pylist(), grouped["_position_max"].to_pylist()
