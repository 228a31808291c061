"""The returns stream: return events of the branches' counters -> bronze.return_events -> gold.returns_minute.

Its gold is the smallest a `StreamGold` can be and still be exact: no lateness (every minute stays
open), and each batch recounts the minutes it touched from bronze (deduplicated, committed before
gold) and replaces exactly those minutes, with the batch's stream positions in the same commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.config import Settings, StreamSettings
from almacen.engine import Engine
from almacen.ingest.kinds import StreamGold, StreamKind
from almacen.lake import Access, Lake, Table, define
from almacen.lake.predicate import isin
from almacen.quality import (
    JSON_STRING,
    TIMESTAMP,
    Allowed,
    Input,
    NotNull,
    NotSeen,
    Parsed,
    Range,
    References,
    Rule,
    Typed,
    Unique,
)
from almacen.realtime.positions import Positions, past, transactions
from almacen.sql import load_sql

BRONZE, QUARANTINE, MINUTE = "bronze.return_events", "quarantine.return_events", "gold.returns_minute"
REASONS = ("damaged", "wrong_size", "changed_mind")
_TS = pa.timestamp("us", tz="UTC")
MINUTE_SCHEMA = pa.schema(
    [
        ("minute", _TS),
        ("branch_id", pa.string()),
        ("reason", pa.string()),
        ("returns", pa.int64()),
        ("amount", pa.decimal128(18, 2)),
    ]
)
RETURNS_MINUTE_TABLE = define(
    Table(
        MINUTE,
        Access.BRANCH,
        MINUTE_SCHEMA,
        keys=("minute", "branch_id", "reason"),
        description="returns at the counter per minute, branch and reason",
    )
)
KNOWN_BRANCHES = Input("returning_branches", pa.schema([("branch_id", pa.string())]))
"""the branches of the config: a return names one of them"""


def return_rules(_settings: Settings) -> list[Rule]:
    """A return event: readable, typed, complete, a known reason and branch, a positive amount, new."""
    return [
        Parsed(),
        Typed(("event_time",), TIMESTAMP),
        Typed(("amount",), "a decimal string with at most 2 decimals"),
        Typed(("event_id", "branch_id", "reason"), JSON_STRING),
        NotNull(("event_id", "event_time", "branch_id", "reason", "amount")),
        Allowed("reason", REASONS),
        References(("branch_id",), KNOWN_BRANCHES, ("branch_id",), missing="is not a branch in the config"),
        Range("amount", above=0),
        Unique(("event_id",)),
        NotSeen("event_id"),
    ]


def _branches(settings: Settings, _lake: Lake) -> dict[str, pa.Table]:
    return {KNOWN_BRANCHES.name: pa.table({"branch_id": pa.array([b.id for b in settings.branches], pa.string())})}


def _settings(settings: Settings) -> StreamSettings:
    """The `[stream]` settings, reading the `returns/` folder of its landing folder."""
    return settings.stream.model_copy(update={"landing": f"{settings.stream.landing}/returns"})


class ReturnsMinute:
    """gold.returns_minute, recounted from bronze for the minutes each batch touches."""

    watermark = None
    tables = (MINUTE,)

    def __init__(self, lake: Lake, engine: Engine) -> None:
        self.lake, self.engine = lake, engine
        self.held = Positions(lake, MINUTE)

    def restore(self, streams: Sequence[str]) -> None:
        self.held = Positions(self.lake, MINUTE)

    def is_late(self, event_time: pa.ChunkedArray | pa.Array) -> pa.Array:
        return pa.array([False] * len(event_time), pa.bool_())

    def unheard(self) -> set[str]:
        return set()

    def release(self, present: Collection[str], drained: Collection[str] = ()) -> None:
        """No watermark: nothing to release."""

    def apply(self, passed: pa.Table, late: pa.Array, positions: dict[str, int]) -> None:
        rows, ends = self.held.beyond(passed, positions), self.held.after(positions)
        if rows.num_rows == 0:
            if self.held.behind(positions):
                self.lake.append(MINUTE, MINUTE_SCHEMA.empty_table(), txns=transactions(ends))
                self.held.committed(ends)
            return
        touched = pc.unique(pc.floor_temporal(rows["event_time"], unit="minute")).to_pylist()
        bronze = self.lake.dataset(BRONZE)
        returned = bronze.to_table(
            columns=["event_time", "branch_id", "reason", "amount"],
            filter=(pads.field("event_time") >= pa.scalar(min(touched), _TS))
            & (pads.field("event_time") < pa.scalar(max(touched) + timedelta(minutes=1), _TS)),
        )
        self.engine.register("returned", returned)
        try:
            minutes = self.engine.query(load_sql("tests.domains.returns", "returns_minute.sql")).cast(MINUTE_SCHEMA)
        finally:
            self.engine.forget("returned")
        minutes = minutes.filter(pc.is_in(minutes["minute"], pa.array(touched, _TS)))
        if self.lake.table(MINUTE) is None:
            self.lake.append(MINUTE, minutes, txns=transactions(ends))
        else:
            self.lake.replace(MINUTE, minutes, isin("minute", touched), txns=transactions(ends))
        self.held.committed(ends)

    def complete(self, bronze: pads.Dataset, committed: dict[str, int]) -> None:
        behind = self.held.of(committed)
        missing = {s: committed[s] for s, p in behind.items() if p is None or p < committed[s]}
        if missing:
            rows = bronze.to_table(filter=past(behind, missing))
            self.apply(rows, pa.array([False] * rows.num_rows), missing)


def _gold(_settings: Settings, lake: Lake, engine: Engine, _lateness: timedelta) -> StreamGold:
    return ReturnsMinute(lake, engine)


RETURNS = StreamKind(
    name="returns",
    job="stream-returns",
    bronze=BRONZE,
    quarantine=QUARANTINE,
    parse=resources.files("tests.domains.returns") / "return_events.sql",
    settings=_settings,
    rules=return_rules,
    inputs=_branches,
    gold=_gold,
)
