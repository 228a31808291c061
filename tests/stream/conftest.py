"""A small chain's sale events, a landing folder and a lake, and helpers to ingest and to check totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pytest

from almacen.config import Branch, Settings
from almacen.ingest.stream import StreamIngestor, Totals
from almacen.lake import Lake
from almacen.realtime.rollup import floor_minute
from almacen.simulate.events import Event, EventMaker
from almacen.sources.landing import LandingWriter

BRANCHES = ("palermo", "rosario", "mendoza")


@dataclass
class StreamWorld:
    settings: Settings
    lake: Lake
    landing: Path
    start: datetime
    """event time of the first simulated event: 30 minutes before the test began, on a minute"""

    def maker(self, seed: int = 7) -> EventMaker:
        return EventMaker(list(BRANCHES), seed=seed, run=f"t{seed}")

    def write(self, lines: list[str], writer: str = "sim", file_events: int = 1000) -> None:
        LandingWriter(self.landing, writer, file_events).write(lines)

    def ingest(self, **stream) -> Totals:
        settings = self.settings.model_copy(update={"stream": self.settings.stream.model_copy(update=stream)})
        ingestor = StreamIngestor(settings)
        ingestor.start()
        try:
            return ingestor.run(until_idle=True)
        finally:
            ingestor.close()

    def gold_totals(self) -> tuple[int, Decimal]:
        gold = self.lake.read("gold.sales_minute")
        return pc.sum(gold["events"]).as_py(), pc.sum(gold["amount"]).as_py()


def totals(events: list[Event]) -> tuple[int, Decimal]:
    return len(events), sum((e.amount for e in events), Decimal("0"))


@pytest.fixture
def world(tmp_path: Path) -> StreamWorld:
    branches = [Branch(id=b, name=b.title(), city="x", province="x", url=f"sqlite:///{tmp_path}/{b}.sqlite",
                       pos_schema="ventas") for b in BRANCHES]
    landing = tmp_path / "landing"
    settings = Settings(demo=True, lake=str(tmp_path / "lake"), branches=branches,
                        stream={"landing": str(landing), "trigger_seconds": 0.2})
    start = floor_minute(datetime.now(timezone.utc)) - timedelta(minutes=30)
    return StreamWorld(settings, Lake(settings.lake), landing, start)
