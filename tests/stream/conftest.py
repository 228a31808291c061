"""A small chain's sale events, a landing folder and a lake, and helpers to ingest and to check gold.

Gold is checked row by row against what the test computes itself from the events it produced (a
Python group-by at gold.sales_minute's full grain, exact decimals), never against the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer

from almacen.clock import floor_minute
from almacen.config import Branch, KafkaSettings, Settings
from almacen.domains.sales import SALES
from almacen.ingest.step import Totals
from almacen.lake import Lake
from almacen.simulate.events import BAD_KINDS, Event, EventMaker
from almacen.sources.kafka import ensure_topic
from almacen.sources.landing import LandingWriter
from tests.conftest import ingest_until_idle

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
        return ingest_until_idle(settings, SALES)

    def gold_totals(self) -> tuple[int, Decimal]:
        gold = self.lake.read("gold.sales_minute")
        return pc.sum(gold["events"]).as_py(), pc.sum(gold["amount"]).as_py()

    def on_time(self) -> list[tuple]:
        """gold.sales_minute's rows, as `minute_rows` shapes them."""
        return gold_rows(self.lake, "gold.sales_minute")

    def late(self) -> list[tuple]:
        """gold.sales_minute_late's rows, as `minute_rows` shapes them."""
        return gold_rows(self.lake, "gold.sales_minute_late")


GRAIN = ("minute", "branch_id", "channel", "payment_type", "status")
MEASURES = ("events", "units", "amount")


def totals(events: list[Event]) -> tuple[int, Decimal]:
    return len(events), sum((e.amount for e in events), Decimal("0"))


def minute_rows(events: Iterable[Event]) -> list[tuple]:
    """What gold.sales_minute must hold for `events`, computed here: one (minute, branch, channel, payment
    type, status, events, units, amount) tuple per minute at the full grain, sorted; exact decimals."""
    sums: dict[tuple, tuple[int, Decimal, Decimal]] = {}
    for e in events:
        key = (floor_minute(e.event_time), e.branch_id, e.channel, e.payment_type, e.status)
        n, units, amount = sums.get(key, (0, Decimal(0), Decimal(0)))
        sums[key] = (n + 1, units + Decimal(e.quantity), amount + e.amount)
    return sorted(key + value for key, value in sums.items())


def gold_rows(lake: Lake, table: str) -> list[tuple]:
    """A gold minute table's rows in `minute_rows`' shape (none when the table is absent)."""
    data = lake.read(table)
    if data is None:
        return []
    columns = [data[c].to_pylist() for c in GRAIN + MEASURES]
    return sorted(zip(*columns))


def added(*tables: list[tuple]) -> list[tuple]:
    """Rows of `minute_rows`' shape from several tables added up per key (on-time plus late)."""
    sums: dict[tuple, list] = {}
    for rows in tables:
        for r in rows:
            key, value = r[: len(GRAIN)], r[len(GRAIN) :]
            sums[key] = [a + b for a, b in zip(sums[key], value)] if key in sums else list(value)
    return sorted(key + tuple(value) for key, value in sums.items())


@pytest.fixture
def world(tmp_path: Path) -> StreamWorld:
    branches = [
        Branch(
            id=b, name=b.title(), city="x", province="x", url=f"sqlite:///{tmp_path}/{b}.sqlite", pos_schema="ventas"
        )
        for b in BRANCHES
    ]
    landing = tmp_path / "landing"
    settings = Settings(
        demo=True,
        lake=str(tmp_path / "lake"),
        branches=branches,
        stream={"landing": str(landing), "trigger_seconds": 0.2},
    )
    start = floor_minute(datetime.now(timezone.utc)) - timedelta(minutes=30)
    return StreamWorld(settings, Lake(settings.lake), landing, start)


def produce_to_partitions(kafka: KafkaSettings, messages: Iterable[tuple[int, str]]) -> None:
    """Produce each (partition, line) to that partition of the topic, in order (for tests that decide how
    events spread over partitions, rather than the key's hash)."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})
    for partition, line in messages:
        while True:
            try:
                producer.produce(kafka.topic, line.encode(), partition=partition)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
    left = producer.flush(60)
    assert left == 0, f"{left} messages not delivered to {kafka.bootstrap_servers}"


@pytest.fixture
def kworld(world: StreamWorld, kafka_bootstrap: str) -> StreamWorld:
    """The world reading a fresh three-partition topic."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=f"t.{uuid.uuid4().hex[:10]}")
    ensure_topic(kafka, partitions=3)
    stream = world.settings.stream.model_copy(update={"source": "kafka", "kafka": kafka})
    world.settings = world.settings.model_copy(update={"stream": stream})
    return world


SPOILERS = BAD_KINDS
"""every defect of content the simulator makes, in its order"""


def spoiled(maker: EventMaker, events: list[Event], every: int) -> tuple[list[tuple[str, str]], list[Event]]:
    """(key, line) pairs of `events` where every `every`-th is spoiled (the kinds of bad event in turn; a
    duplicate is the event sent twice), and the valid events among them, each once: what gold must count."""
    lines: list[tuple[str, str]] = []
    valid: list[Event] = []
    for i, e in enumerate(events):
        kind = SPOILERS[(i // every) % len(SPOILERS)] if i % every == every - 1 else None
        if kind is None or kind == "duplicate_id":
            lines += [(e.branch_id, e.json())] * (2 if kind else 1)
            valid.append(e)
        else:
            lines.append((e.branch_id, maker.bad_line(kind, e)))
    return lines, valid
