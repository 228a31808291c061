"""Time conventions in one place: timestamps are UTC; a naive timestamp is taken as UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def utc(ts: datetime) -> datetime:
    """`ts` as an aware UTC timestamp (naive means UTC already)."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def naive_utc(ts: datetime) -> datetime:
    """`ts` in UTC without a zone, as source databases store it."""
    return utc(ts).replace(tzinfo=None)


def hour_start(ts: datetime) -> datetime:
    """The start of the UTC hour `ts` falls in."""
    return utc(ts).replace(minute=0, second=0, microsecond=0)
