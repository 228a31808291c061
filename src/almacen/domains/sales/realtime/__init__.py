"""Per-minute rollups of the sales stream and the fresh queries over them."""

from almacen.domains.sales.realtime.query import DIMENSIONS, late_minutes, sales_minutes
from almacen.domains.sales.realtime.rollup import LATE, MINUTE, MinuteRollup

__all__ = ["DIMENSIONS", "LATE", "MINUTE", "MinuteRollup", "late_minutes", "sales_minutes"]
