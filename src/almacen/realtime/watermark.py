"""How far in event time a stream has come: per stream (a Kafka partition, a landing writer), the slowest decides.

Each stream is read in order, but streams are not read in step: one Kafka partition may be consumed
minutes of event time ahead of another. The watermark is therefore the lowest of the latest event
times of the streams still holding it back, never the highest: an event is late only when even the
slowest stream has gone past it by more than the allowed lateness. The watermark never moves back
(the minutes it closed stay closed). A stream stops holding it back when it is idle: it delivered no
valid event for `idle_after` of processing time (a partition that gets no more events must not stop
every minute from closing); it holds it again as soon as it delivers. Being caught up is not being
idle: a partition read to its end may still be the slowest. A stream the source lists but that
delivered nothing yet holds it back too (its first events may be old), until the source shows it has
nothing for it (`drained` of `released_idle`: an empty Kafka partition) or it is idle. Idleness is
settled before each batch is judged, so a batch is judged against the watermark of the streams that
still hold it back.

The watermark and each stream's latest event time are committed with the gold table that depends on
them, as Delta transaction ids in milliseconds (`transactions`): a restart restores exactly what the
ingestor held, so the events after it are judged as they would have been without the restart.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import from_ms, to_ms
from almacen.lake import Lake

IDLE_AFTER = timedelta(minutes=1)
"""processing time after which a stream that delivered nothing stops holding the watermark back"""
_TS = pa.timestamp("us", tz="UTC")


def _ms_floor(t: datetime) -> datetime:
    """`t` as it reads back from the lake (milliseconds), so a restart restores exactly what was held."""
    return from_ms(to_ms(t))


def latest_per_stream(rows: pa.Table) -> dict[str, datetime]:
    """The latest event time of each stream in `rows` (`_stream`, `event_time`)."""
    if rows.num_rows == 0:
        return {}
    grouped = rows.group_by("_stream").aggregate([("event_time", "max")]).to_pydict()
    return {s: t for s, t in zip(grouped["_stream"], grouped["event_time_max"]) if s is not None and t is not None}


@dataclass(frozen=True)
class StreamWatermark:
    """The watermark and the state it is computed from; `advanced` returns a new one (commit, then keep it)."""

    value: datetime | None = None
    latest: Mapping[str, datetime | None] = field(default_factory=dict)
    """each stream's latest valid event time (None: listed by the source, nothing delivered yet)"""
    heard: Mapping[str, float] = field(default_factory=dict)
    """when (time.monotonic) each stream last delivered a valid event, or became known"""
    released: frozenset[str] = frozenset()
    """idle streams: they do not hold the watermark back until they deliver again"""
    idle_after: timedelta = IDLE_AFTER

    @classmethod
    def restored(
        cls, lake: Lake, table: str, app: str, streams: Iterable[str], idle_after: timedelta = IDLE_AFTER
    ) -> StreamWatermark:
        """The watermark and the latest time of each of `streams` as `table` last committed them under `app`."""
        now = time.monotonic()
        dt = lake.table(table)
        if dt is None:
            return cls(None, {s: None for s in streams}, {s: now for s in streams}, idle_after=idle_after)
        latest = {s: from_ms(dt.transaction_version(latest_app(app, s))) for s in streams}
        return cls(from_ms(dt.transaction_version(app)), latest, {s: now for s in streams}, idle_after=idle_after)

    def is_late(self, event_time: pa.ChunkedArray | pa.Array, lateness: timedelta) -> pa.Array:
        """True for events older than the watermark minus `lateness` (none before there is a watermark)."""
        if self.value is None:
            return pa.array([False] * len(event_time), pa.bool_())
        return pc.fill_null(pc.less(event_time, pa.scalar(self.value - lateness, _TS)), False)

    def unheard(self) -> set[str]:
        """Streams holding the watermark back that delivered nothing yet."""
        return {s for s, t in self.latest.items() if t is None and s not in self.released}

    def released_idle(
        self, present: Collection[str] = (), drained: Collection[str] = (), now: float | None = None
    ) -> StreamWatermark:
        """Before a batch is judged: streams absent from it (`present`) that delivered nothing for
        `idle_after`, and streams that never delivered the source has nothing for (`drained`), stop
        holding the watermark back."""
        now = time.monotonic() if now is None else now
        heard, released, quiet = dict(self.heard), set(self.released), self.idle_after.total_seconds()
        for s, t in self.latest.items():
            if s not in present and ((t is None and s in drained) or now - heard.setdefault(s, now) >= quiet):
                released.add(s)
        return self._settled(dict(self.latest), heard, released)

    def advanced(self, batch_latest: Mapping[str, datetime], now: float | None = None) -> StreamWatermark:
        """After a batch whose streams reached `batch_latest` (they hold the watermark back again)."""
        now = time.monotonic() if now is None else now
        latest, heard, released = dict(self.latest), dict(self.heard), set(self.released)
        for s, t in batch_latest.items():
            t = _ms_floor(t)
            before = latest.get(s)
            latest[s] = t if before is None else max(before, t)
            heard[s] = now
            released.discard(s)
        return self._settled(latest, heard, released)

    def _settled(
        self, latest: dict[str, datetime | None], heard: dict[str, float], released: set[str]
    ) -> StreamWatermark:
        """The slowest holding stream's latest time, if every holding stream delivered; never lower than before."""
        holding = [latest[s] for s in latest if s not in released]
        delivered = [t for t in holding if t is not None]
        value = self.value
        if holding and len(delivered) == len(holding):
            slowest = min(delivered)
            value = slowest if value is None else max(value, slowest)
        return replace(self, value=value, latest=latest, heard=heard, released=frozenset(released))

    def transactions(self, before: StreamWatermark, app: str) -> list[tuple[str, int]]:
        """The Delta transaction ids to commit for what changed since `before`: the watermark, latest times."""
        txns = [] if self.value is None or self.value == before.value else [(app, to_ms(self.value))]
        return txns + [
            (latest_app(app, s), to_ms(t))
            for s, t in self.latest.items()
            if t is not None and t != before.latest.get(s)
        ]


def latest_app(app: str, stream: str) -> str:
    """The app id under which a stream's latest event time is committed beside the watermark `app`."""
    return f"{app}:{stream}"
