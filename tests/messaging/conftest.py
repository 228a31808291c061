"""A simulated messaging platform (client accounts, rate card, events), a landing folder and a lake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from almacen.config import Settings
from almacen.domains.messaging.reference import store_clients, store_rate_card
from almacen.domains.messaging import MESSAGING
from almacen.ingest.step import Totals
from almacen.lake import Lake
from almacen.simulate.messaging import MessageMaker, World, build_world, write_reference
from almacen.sources.landing import LandingWriter
from tests.conftest import ingest_until_idle

START = datetime(2026, 9, 1, tzinfo=timezone.utc)
USAGE_ORDER = [("minute", "ascending"), ("client_id", "ascending"), ("category", "ascending"), ("country", "ascending")]


@dataclass
class MessagingWorld:
    settings: Settings
    lake: Lake
    landing: Path
    platform: World
    reference: tuple[Path, Path]

    def maker(self, seed: int = 7, per_second: float = 50.0, start: datetime = START, **kw) -> MessageMaker:
        return MessageMaker(self.platform, seed=seed, start=start, per_second=per_second, run=f"t{seed}", **kw)

    def write(self, lines: list[str], writer: str = "sim", file_events: int = 1000) -> None:
        LandingWriter(self.landing, writer, file_events).write(lines)

    def ingest(self, **stream) -> Totals:
        cfg = self.settings.messaging.stream.model_copy(update=stream)
        settings = self.settings.model_copy(
            update={"messaging": self.settings.messaging.model_copy(update={"stream": cfg})}
        )
        return ingest_until_idle(settings, MESSAGING)

    def usage(self) -> pa.Table:
        """gold.usage_minute as the ledger shapes it, sorted."""
        gold = self.lake.read("gold.usage_minute")
        return gold.select(
            ["minute", "day", "client_id", "category", "country", "sent", "delivered", "read", "failed", "billable"]
        ).sort_by(USAGE_ORDER)


def lines(events: list[tuple[str, str]]) -> list[str]:
    return [line for _, line in events]


def made(maker: MessageMaker, n: int) -> list[tuple[str, str]]:
    """`n` events then everything still scheduled: the ledger is final afterwards."""
    return maker.events(n) + maker.flush()


def same_usage(gold: pa.Table, ledger: pa.Table) -> bool:
    ledger = ledger.select(gold.column_names).cast(gold.schema).sort_by(USAGE_ORDER)
    return gold.equals(ledger)


@pytest.fixture
def mworld(tmp_path: Path) -> MessagingWorld:
    landing = tmp_path / "landing"
    settings = Settings(
        demo=True, lake=str(tmp_path / "lake"), messaging={"stream": {"landing": str(landing), "trigger_seconds": 0.1}}
    )
    lake = Lake(settings.lake)
    platform = build_world(12, seed=3, start=START.date().replace(month=8))
    reference = write_reference(platform, tmp_path / "reference")
    store_clients(lake, reference[0])
    store_rate_card(lake, reference[1])
    return MessagingWorld(settings, lake, landing, platform, reference)
