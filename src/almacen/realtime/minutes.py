"""Lateness: what every per-minute rollup of a stream shares (its minute buckets: `almacen.clock.floor_minute`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from almacen.realtime.watermark import StreamWatermark


def late_mask(event_time: pa.ChunkedArray | pa.Array, watermark: datetime | None, lateness: timedelta) -> pa.Array:
    """True for events older than `watermark - lateness` (none before there is a watermark)."""
    return StreamWatermark(watermark).is_late(event_time, lateness)
