"""Per-minute messaging usage kept exact by the message stream: `gold.usage_minute`.

A template is counted in the minute it was sent; its delivery statuses arrive later, in any order,
sometimes before the send itself. The ingestor keeps every template of the last `horizon` in the
engine (id, minute, client, category, country and the highest status rank seen), and statuses whose
message it does not know yet apart, until the send arrives. Each batch recomputes whole the minutes
it touched from those messages and replaces exactly them in gold, with the stream positions and the
watermark in the same commit: gold always equals a fresh count over bronze (which is deduplicated),
and after a crash the state is rebuilt from bronze, never from gold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import day_start, floor_minute, from_ms, to_ms
from almacen.domains.messaging.vocabulary import STATUS_RANK
from almacen.engine import Engine, require_capability
from almacen.lake import Access, Lake, Table, define
from almacen.lake.predicate import all_of, any_of, between, isin
from almacen.realtime.positions import Positions, past, transactions
from almacen.realtime import late_mask
from almacen.sql import load_sql

log = logging.getLogger(__name__)
USAGE = "gold.usage_minute"
WATERMARK_APP = "almacen-messaging:watermark"
MESSAGE_EVENTS = "bronze.message_events"
"""the bronze table of the message stream (declared by `stream.MESSAGING`, which reads it from here)"""
_TS = pa.timestamp("us", tz="UTC")
USAGE_SCHEMA = pa.schema(
    [
        ("minute", _TS),
        ("day", pa.date32()),
        ("client_id", pa.string()),
        ("category", pa.string()),
        ("country", pa.string()),
        ("sent", pa.int64()),
        ("delivered", pa.int64()),
        ("read", pa.int64()),
        ("failed", pa.int64()),
        ("billable", pa.int64()),
    ]
)
USAGE_TABLE = define(
    Table(
        USAGE,
        Access.CLIENT,
        USAGE_SCHEMA,
        keys=("minute", "client_id", "category", "country"),
        partition_by=("day",),
        description="WhatsApp templates sent, delivered, read, failed and billable per minute",
    )
)
"""a client's usage is its own: once published, rows cut by client_id"""
STATE_COLUMNS = ["event_id", "type", "message_id", "event_time", "client_id", "category", "country", "status"]
_STATE = load_sql("almacen.domains.messaging", "usage_state.sql")
_USAGE = load_sql("almacen.domains.messaging", "usage_minutes.sql")
EVICT_EVERY_S = 60.0


def status_ranks() -> pa.Table:
    """STATUS_RANK as a table, so the SQL ranks statuses from the one vocabulary."""
    return pa.table({"status": list(STATUS_RANK), "rank": pa.array(list(STATUS_RANK.values()), pa.int8())})


def usage_from_messages(engine: Engine, messages: pa.Table) -> pa.Table:
    """gold.usage_minute computed in one go from the templates of `messages` (minute, client_id,
    category, country, rank): the same SQL the stream runs on the minutes it touches."""
    engine.register("usage_messages", messages)
    engine.register("touched_minutes", pa.table({"minute": pc.unique(messages["minute"])}))
    try:
        return engine.query(_USAGE).cast(USAGE_SCHEMA)
    finally:
        engine.forget("usage_messages")
        engine.forget("touched_minutes")


@dataclass
class UsageMinutes:
    """The templates awaiting statuses, and how to fold a batch of message events into gold."""

    lake: Lake
    engine: Engine
    lateness: timedelta
    horizon: timedelta
    watermark: datetime | None = None
    """what lateness is measured from: the lowest of the latest event times of the streams in the last
    batch (a partition behind the others does not make its events late)"""
    high: datetime | None = None
    """the latest event time of any stream, committed with gold: a month is complete past it"""
    tables: tuple[str, ...] = (USAGE,)
    evicted: bool = False
    """some templates were dropped from memory (their ids kept in msg_evicted): a status for one of
    them reads it back from bronze"""
    held_from: datetime | None = None
    """every template sent from this minute on is held (None: every template ever): a span of those
    minutes can be recounted whole from memory"""
    _latest: dict[str, datetime] = field(default_factory=dict)
    _gold_exists: bool = False
    _positions: Positions | None = None
    _last_evict: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        require_capability(self.engine, "STATE_TABLES", "the messaging stream's usage state (msg_state)")

    def restore(self, streams: Sequence[str] = ()) -> None:
        """Watermark from gold; the templates of the horizon and the unmatched statuses from bronze."""
        self._positions = Positions(self.lake, USAGE)
        self._positions.of(streams)
        gold = self.lake.table(USAGE)
        self._gold_exists = gold is not None
        self.watermark = self.high = None if gold is None else from_ms(gold.transaction_version(WATERMARK_APP))
        self.engine.register("status_ranks", status_ranks())
        self.engine.execute(
            "CREATE OR REPLACE TABLE msg_state (message_id VARCHAR, sent_at TIMESTAMPTZ, "
            "minute TIMESTAMPTZ, client_id VARCHAR, category VARCHAR, country VARCHAR, rank TINYINT)"
        )
        self.engine.execute(
            "CREATE OR REPLACE TABLE msg_pending (message_id VARCHAR, rank TINYINT, event_time TIMESTAMPTZ)"
        )
        self.engine.execute("CREATE OR REPLACE TABLE msg_evicted (h UBIGINT)")
        data = self.lake.dataset(MESSAGE_EVENTS)
        if data is None:
            return
        newest = pc.max(data.to_table(columns=["event_date"])["event_date"]).as_py()
        if newest is None:
            return
        since = day_start(newest) - self.horizon
        recent = data.to_table(columns=STATE_COLUMNS, filter=pads.field("event_date") >= pa.scalar(since.date()))
        self.engine.register("state_events", recent)
        try:
            self.engine.execute(
                f"INSERT INTO msg_state SELECT * FROM ({_STATE}) WHERE sent_at >= $since", {"since": since}
            )
            sends = data.to_table(columns=["message_id"], filter=pads.field("type") == "send")
            self.engine.register("all_sends", sends)
            self.engine.execute(
                "INSERT INTO msg_pending SELECT e.message_id, r.rank, e.event_time FROM state_events e "
                "JOIN status_ranks r USING (status) WHERE e.type = 'status' "
                "AND e.message_id NOT IN (SELECT message_id FROM all_sends)"
            )
            self.engine.execute(
                "INSERT INTO msg_evicted SELECT hash(message_id) FROM all_sends a WHERE NOT EXISTS "
                "(SELECT 1 FROM msg_state m WHERE m.message_id = a.message_id)"
            )
        finally:
            self.engine.forget("state_events")
            self.engine.forget("all_sends")
        self.evicted = bool(self.engine.query("SELECT count(*) AS n FROM msg_evicted")["n"][0].as_py())
        self.held_from = since if self.evicted else None

    def is_late(self, event_time: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Events older than the watermark minus the allowed lateness (they still count, exactly)."""
        return late_mask(event_time, self.watermark, self.lateness)

    def unheard(self) -> set[str]:
        """None: no stream holds this watermark back between batches (it is the lowest latest time of the
        streams in the last batch)."""
        return set()

    def release(self, present: Collection[str], drained: Collection[str] = ()) -> None:
        """Nothing to do: streams absent from a batch do not hold this watermark back."""

    def apply(self, passed: pa.Table, late: pa.Array, positions: dict[str, int]) -> None:
        """Fold a batch into the messages held, recompute the minutes it touched, replace them in gold."""
        batch_max = pc.max(passed["event_time"]).as_py() if passed.num_rows else None
        touched = self._fold(passed.select(STATE_COLUMNS)) if passed.num_rows else []
        self._commit(touched, positions, batch_max)
        if passed.num_rows:
            latest = passed.group_by("_stream").aggregate([("event_time", "max")]).to_pydict()
            for stream, t in zip(latest["_stream"], latest["event_time_max"]):
                self._latest[stream] = max(t, self._latest.get(stream, t))
            self.watermark = min(self._latest[s] for s in latest["_stream"])
        self._evict()

    def complete(self, bronze: pads.Dataset, committed: dict[str, int]) -> None:
        """Recompute the minutes of bronze rows past gold's positions (the state already holds them)."""
        behind = self._held().of(committed)
        missing = [s for s, p in behind.items() if p is None or p < committed[s]]
        if not missing:
            return
        rows = bronze.to_table(columns=STATE_COLUMNS, filter=past(behind, missing))
        log.info("completing %s from bronze: %d events past its positions", USAGE, rows.num_rows)
        self.engine.register("state_events", rows)
        try:
            touched = self.engine.query(
                "SELECT DISTINCT s.minute FROM msg_state s WHERE s.message_id IN (SELECT message_id FROM state_events)"
            )["minute"].to_pylist()
        finally:
            self.engine.forget("state_events")
        batch_max = pc.max(rows["event_time"]).as_py() if rows.num_rows else None
        self._commit(touched, {s: committed[s] for s in missing}, batch_max)

    # -- the parts of a batch ------------------------------------------------------------------
    def _fold(self, events: pa.Table) -> list[datetime]:
        """Add the batch's sends and statuses to the state; returns the minutes whose counts changed."""
        self.engine.register("state_events", events)
        try:
            self.engine.execute(f"CREATE OR REPLACE TEMP TABLE batch_sends AS {_STATE}")
            self.engine.execute(
                "CREATE OR REPLACE TEMP TABLE batch_status AS SELECT message_id, max(r.rank) AS rank, "
                "max(event_time) AS event_time FROM state_events JOIN status_ranks r USING (status) "
                "WHERE type = 'status' GROUP BY message_id"
            )
        finally:
            self.engine.forget("state_events")
        recalled = self._recall_old_messages() if self.evicted else []
        touched = self.engine.query(
            "INSERT INTO msg_state SELECT s.message_id, s.sent_at, s.minute, s.client_id, s.category, s.country, "
            "greatest(s.rank, coalesce(p.rank, 0))::TINYINT FROM batch_sends s "
            "LEFT JOIN (SELECT message_id, max(rank) AS rank FROM msg_pending GROUP BY message_id) p USING (message_id) "
            "WHERE NOT EXISTS (SELECT 1 FROM msg_state m WHERE m.message_id = s.message_id) RETURNING minute"
        )
        self.engine.execute("DELETE FROM msg_pending WHERE message_id IN (SELECT message_id FROM batch_sends)")
        updated = self.engine.query(
            "UPDATE msg_state SET rank = b.rank FROM batch_status b "
            "WHERE msg_state.message_id = b.message_id AND b.rank > msg_state.rank RETURNING msg_state.minute"
        )
        self.engine.execute(
            "INSERT INTO msg_pending SELECT b.message_id, b.rank, b.event_time FROM batch_status b "
            "WHERE NOT EXISTS (SELECT 1 FROM msg_state m WHERE m.message_id = b.message_id)"
        )
        return sorted(set(touched["minute"].to_pylist()) | set(updated["minute"].to_pylist()) | set(recalled))

    def _recall_old_messages(self) -> list[datetime]:
        """Statuses for messages no longer held: the messages are read back from bronze (which already
        holds this batch, so their ranks are final), and their minutes are returned as touched."""
        unknown = self.engine.query(
            "SELECT message_id FROM batch_status b WHERE hash(message_id) IN (SELECT h FROM msg_evicted) "
            "AND NOT EXISTS (SELECT 1 FROM msg_state m WHERE m.message_id = b.message_id)"
        )
        data = self.lake.dataset(MESSAGE_EVENTS) if unknown.num_rows else None
        if data is None:
            return []
        is_send = pads.field("type") == "send"
        sends = data.to_table(
            columns=["event_time"], filter=is_send & pads.field("message_id").isin(unknown["message_id"])
        )
        if sends.num_rows == 0:
            return []
        # a minute is recounted whole: every message sent in it is read back, not only these
        minutes = pc.unique(pc.floor_temporal(sends["event_time"], unit="minute"))
        dates = pc.unique(pc.cast(sends["event_time"], pa.date32()))
        near = data.to_table(
            columns=["message_id", "event_time"], filter=is_send & pads.field("event_date").isin(dates)
        )
        same_minute = pc.is_in(pc.floor_temporal(near["event_time"], unit="minute"), minutes)
        ids = near.filter(same_minute)["message_id"]
        old = data.to_table(columns=STATE_COLUMNS, filter=pads.field("message_id").isin(ids))
        self.engine.register("state_events", old)
        try:
            return self.engine.query(
                f"INSERT INTO msg_state SELECT * FROM ({_STATE}) s WHERE NOT EXISTS "
                "(SELECT 1 FROM msg_state m WHERE m.message_id = s.message_id) "
                "RETURNING minute"
            )["minute"].to_pylist()
        finally:
            self.engine.forget("state_events")

    def _held(self) -> Positions:
        if self._positions is None:
            self._positions = Positions(self.lake, USAGE)
        return self._positions

    def _commit(self, touched: list[datetime], positions: dict[str, int], batch_max: datetime | None) -> None:
        """Replace the touched minutes in gold with fresh counts; positions (never lower than gold holds)
        and watermark in the same commit."""
        ends = self._held().after(positions)
        txns = transactions(ends)
        known = [t for t in (self.high, batch_max) if t is not None]
        high = max(known) if known else None
        if high is not None:
            txns.append((WATERMARK_APP, to_ms(high)))
        if not touched:
            if txns:
                self.lake.append(
                    USAGE, USAGE_SCHEMA.empty_table(), txns=txns, partition_by=list(USAGE_TABLE.partition_by)
                )
                self._gold_exists = True
            self._held().committed(ends)
            self.high = high
            return
        minutes, predicate = self._recounted(touched)
        self.engine.register("touched_minutes", pa.table({"minute": minutes}))
        self.engine.execute("CREATE OR REPLACE VIEW usage_messages AS SELECT * FROM msg_state")
        try:
            rows = self.engine.query(_USAGE).cast(USAGE_SCHEMA)
        finally:
            self.engine.forget("touched_minutes")
        if self._gold_exists:
            self.lake.replace(USAGE, rows, predicate, txns=txns)
        else:
            self.lake.append(USAGE, rows, txns=txns, partition_by=list(USAGE_TABLE.partition_by))
        self._gold_exists = True
        self._held().committed(ends)
        self.high = high

    def _recounted(self, touched: list[datetime]) -> tuple[pa.Array, str]:
        """The minutes to recount and the gold predicate that covers exactly them: the held minutes
        as one span from the first touched to the last (a short predicate; a minute without messages
        recounts to no rows, as gold has none), minutes read back from bronze one by one."""
        touched = sorted(touched)
        held = [t for t in touched if self.held_from is None or t >= self.held_from]
        old = [t for t in touched if self.held_from is not None and t < self.held_from]
        minutes, parts = [pa.array(old, _TS)], []
        if held:
            lo, hi = held[0], held[-1]
            span = int((hi - lo).total_seconds() // 60) + 1
            epoch_us = int(lo.timestamp()) * 1_000_000
            minutes.append(pa.array(range(epoch_us, epoch_us + span * 60_000_000, 60_000_000), pa.int64()).cast(_TS))
            parts.append(all_of(between("day", lo.date(), hi.date()), between("minute", lo, hi)))
        if old:
            parts.append(all_of(isin("day", sorted({t.date() for t in old})), isin("minute", old)))
        return pa.concat_arrays(minutes), any_of(*parts)

    def _evict(self) -> None:
        """Forget templates sent longer than the horizon ago, keeping a hash of their ids: a status for
        one of them later reads it back from bronze."""
        if self.high is None or time.monotonic() - self._last_evict < EVICT_EVERY_S:
            return
        self._last_evict = time.monotonic()
        before = {"before": floor_minute(self.high - self.horizon)}  # whole minutes stay or go
        if self.engine.query("SELECT count(*) AS n FROM msg_state WHERE sent_at < $before", before)["n"][0].as_py():
            self.engine.execute(
                "INSERT INTO msg_evicted SELECT hash(message_id) FROM msg_state WHERE sent_at < $before", before
            )
            self.engine.execute("DELETE FROM msg_state WHERE sent_at < $before", before)
            self.evicted = True
            self.held_from = max(before["before"], self.held_from or before["before"])
