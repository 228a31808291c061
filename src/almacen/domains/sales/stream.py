"""The sale-event stream: how sale events parse, are judged, and keep gold.sales_minute current."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pyarrow as pa

from almacen.config import Settings
from almacen.domains.sales.quality import KNOWN_BRANCHES, sales_event_rules
from almacen.domains.sales.realtime.rollup import SALES_EVENTS, MinuteRollup
from almacen.engine import Engine
from almacen.ingest.kinds import StreamGold, StreamKind
from almacen.lake import Access, Lake, Table, define
from almacen.quality import Rule


def _sales_rules(settings: Settings) -> list[Rule]:
    return sales_event_rules(settings.future_tolerance_minutes)


def _known_branches(settings: Settings, _lake: Lake) -> dict[str, pa.Table]:
    return {KNOWN_BRANCHES.name: pa.table({"branch_id": pa.array([b.id for b in settings.branches], pa.string())})}


def _minute_rollup(_settings: Settings, lake: Lake, engine: Engine, lateness: timedelta) -> StreamGold:
    return MinuteRollup(lake, engine, lateness)


BRONZE_TABLE = define(
    Table(
        SALES_EVENTS,
        Access.ADMIN,
        partition_by=("event_date",),
        description="every accepted sale event as it arrived (parsed, typed), once, with its stream position",
    )
)
QUARANTINE_TABLE = define(
    Table(
        "quarantine.sales_events",
        Access.ADMIN,
        description="every refused sale event with its raw payload, the rule it failed and why",
    )
)

SALES = StreamKind(
    name="sales",
    job="stream",
    bronze=BRONZE_TABLE.name,
    quarantine=QUARANTINE_TABLE.name,
    parse=resources.files("almacen.domains.sales") / "events.sql",
    settings=lambda s: s.stream,
    rules=_sales_rules,
    inputs=_known_branches,
    gold=_minute_rollup,
)
"""sale events of the branches' POS and the online shop: bronze.sales_events -> gold.sales_minute"""
