"""Time conventions in one place, and the small time helpers every part shares (the current time, hours,
days and months as UTC instants, epoch milliseconds).

Inside almacen every timestamp is UTC (a naive timestamp is taken as UTC). A source may keep its
timestamps in local wall-clock time (a real Argentine POS stores `DATETIME` in local time): the branch
or the source table names its IANA zone (`timezone`), and this module is the one place that turns
such wall-clock times into UTC and UTC windows into the source's wall-clock windows.

DST policy for wall-clock times (what `to_utc` does, tested with America/New_York and America/Santiago):

- the repeated hour (fall back): a time that occurs twice is taken as its FIRST occurrence (the
  earlier instant, with the offset in force before the change). PostgreSQL's `AT TIME ZONE` takes the
  later one (standard time); almacen keeps the earlier one so that a sale is never placed after
  the hour it was extracted with.
- the missing hour (spring forward): a time that never happened on a correct clock is read with the
  offset in force before the gap, i.e. shifted forward by the gap, as PostgreSQL's `AT TIME ZONE`
  does (New York 2026-03-08 02:30 -> 07:30 UTC, the same instant as 03:30 EDT).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import overload
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

UTC = ZoneInfo("UTC")

_LONGEST_GAP = timedelta(hours=25)
"""longer than any clock jump in the tz database (Samoa skipped 2011-12-30 whole)"""

_SAMPLE = timedelta(minutes=15)
"""offsets are sampled this often when widening a window: every zone's offsets last longer than this"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_now() -> datetime:
    """The current time, aware UTC (the default clock of whatever stamps a row or a run)."""
    return datetime.now(timezone.utc)


def utc(ts: datetime) -> datetime:
    """`ts` as an aware UTC timestamp (naive means UTC already)."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def naive_utc(ts: datetime) -> datetime:
    """`ts` in UTC without a zone, as source databases store it."""
    return utc(ts).replace(tzinfo=None)


def hour_start(ts: datetime) -> datetime:
    """The start of the UTC hour `ts` falls in."""
    return utc(ts).replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every hour from `start` up to `end` (exclusive), one hour apart."""
    out = []
    while start < end:
        out.append(start)
        start += timedelta(hours=1)
    return out


def floor_minute(t: datetime) -> datetime:
    """The start of `t`'s minute (the bucket a per-minute rollup counts it in)."""
    return t.replace(second=0, microsecond=0)


def day_start(day: date) -> datetime:
    """The UTC instant `day` starts at (midnight UTC)."""
    return datetime.combine(day, datetime.min.time(), timezone.utc)


def month_after(day: date, months: int = 1) -> date:
    """The first day of the month `months` after `day`'s (`months=0`: of `day`'s own month)."""
    m = day.month - 1 + months
    return date(day.year + m // 12, m % 12 + 1, 1)


def to_ms(t: datetime) -> int:
    """A time as the integer milliseconds since the epoch a Delta transaction id holds (exact, no float;
    floored: a time within a millisecond reads back as that millisecond's start)."""
    return (utc(t) - _EPOCH) // timedelta(milliseconds=1)


@overload
def from_ms(ms: int) -> datetime: ...
@overload
def from_ms(ms: None) -> None: ...
@overload
def from_ms(ms: int | None) -> datetime | None: ...
def from_ms(ms: int | None) -> datetime | None:
    """The time `to_ms` gave, aware UTC (None stays None: nothing committed)."""
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def is_utc(zone: ZoneInfo) -> bool:
    """Whether `zone` is UTC itself (a source that needs no conversion)."""
    return zone.key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal")


def local_window(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The naive wall-clock window [start, end) to ask a source in `zone` for the UTC window [start, end).

    Every wall-clock time that `to_utc` places in the UTC window lies inside the returned window:
    its start is `start` plus the smallest offset in force within a day of `start`, its end is `end`
    plus the largest offset in force in the day before `end` (a clock change further away cannot move
    a time across the bound). Away from a transition both are the same offset and the window is exact
    (Buenos Aires: [start - 3 h, end - 3 h)); near one it is wider by the offset change, so the
    caller must keep only the rows whose converted cursor falls in the UTC window (the others
    belong to a neighbouring hour, which reads them itself). For UTC it is [start, end) unchanged.

    Args:
        start, end: the UTC window (naive is taken as UTC).
        zone: the zone the source writes its wall-clock times in.

    Returns:
        (local_start, local_end), naive, to bind to the source query's `:start` and `:end`.
    """
    start, end = utc(start), utc(end)
    if is_utc(zone):
        return start.replace(tzinfo=None), end.replace(tzinfo=None)
    low = _offsets(start - _LONGEST_GAP, min(end, start + _LONGEST_GAP), zone)
    high = _offsets(max(start, end - _LONGEST_GAP), end, zone)
    return (start + min(low)).replace(tzinfo=None), (end + max(high)).replace(tzinfo=None)


def _offsets(since: datetime, until: datetime, zone: ZoneInfo) -> set[timedelta]:
    """The UTC offsets of `zone` in force at some instant of [since, until] (sampled every `_SAMPLE`)."""

    def offset(instant: datetime) -> timedelta:
        value = instant.astimezone(zone).utcoffset()
        assert value is not None  # astimezone(zone) gives an aware datetime, which always has an offset
        return value

    found, at = {offset(until)}, since
    while at < until:
        found.add(offset(at))
        at += _SAMPLE
    return found


def to_utc(values: pa.Array | pa.ChunkedArray, zone: ZoneInfo) -> pa.Array | pa.ChunkedArray:
    """Naive wall-clock timestamps written in `zone` -> aware UTC timestamps (`timestamp[us, UTC]`).

    The repeated hour is taken as its first occurrence and the missing hour is shifted forward by
    the gap (the module docstring states the policy and why). Nulls stay null. Values that already
    carry a zone (a `timestamptz` column) are instants: they are only cast to UTC microseconds.
    Vectorised in Arrow, no Python loop over rows.

    Raises:
        TypeError: `values` is not a timestamp array (the error names its type).
    """
    if not pa.types.is_timestamp(values.type):
        raise TypeError(f"to_utc: expected timestamps, got {values.type}")
    target = pa.timestamp("us", tz="UTC")
    if values.type.tz is not None or is_utc(zone):
        return values.cast(pa.timestamp("us", tz=values.type.tz or "UTC")).cast(target)
    local = values.cast(pa.timestamp("us"))
    # "earliest": first occurrence of a repeated time; for a missing time, the instant just before
    # the gap, which still has the pre-gap offset. utc = local - that offset shifts gap times forward.
    first = pc.assume_timezone(local, timezone=zone.key, ambiguous="earliest", nonexistent="earliest")
    offset = pc.subtract(pc.local_timestamp(first).cast(pa.int64()), first.cast(pa.int64()))
    return pc.subtract(local.cast(pa.int64()), offset).cast(pa.timestamp("us")).cast(target)


def wall_clock(ts: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time a correct clock in `zone` shows at the instant `ts` (naive is UTC):
    what a local-time POS writes. For the second pass of a repeated hour it is the same wall-clock
    time as the first, which `to_utc` reads back as the first (the module docstring's policy)."""
    return utc(ts).astimezone(zone).replace(tzinfo=None)
