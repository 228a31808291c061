"""Generic helpers for fresh data: stream positions, per-stream watermarks and lateness
(minute buckets are `almacen.clock.floor_minute`).

Rollups of a domain's stream (sales per minute, messaging usage per minute) live in the domain's
package and build on these.
"""

from almacen.realtime.minutes import late_mask
from almacen.realtime.positions import Positions, app_id, transactions
from almacen.realtime.watermark import IDLE_AFTER, StreamWatermark

__all__ = ["IDLE_AFTER", "Positions", "StreamWatermark", "app_id", "late_mask", "transactions"]
