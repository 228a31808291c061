"""Stream commands: `simulate stream`, `stream`, `top` and `minutes`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from almacen.config import Settings, load_config
from almacen.terminal import audit_run, stop_on_signals

if TYPE_CHECKING:
    from almacen.ingest.kinds import StreamKind
    from almacen.simulate.events import Message
    from almacen.sources.kafka import KafkaSink
    from almacen.sources.landing import LandingWriter


def simulate_stream(
    console: Console,
    config: Path | None,
    rate: str,
    duration: float,
    seed: int,
    kafka: str | None,
    topic: str | None,
    landing: Path | None,
    bad: float,
    kinds: str = "bad",
) -> None:
    """Emit sale events of the configured branches at `rate` into the landing folder or Kafka; `bad` of
    them defective messages of `kinds` (`bad`, `poison`, `all` or names: see simulate.events)."""
    from almacen.simulate.events import EventMaker, emit, parse_kinds, parse_rate

    settings = load_config(config)
    per_second = parse_rate(rate)
    chosen = parse_kinds(kinds, kafka=bool(kafka))
    branches = [b.id for b in settings.branches if b.enabled]
    maker = EventMaker(
        branches, seed=seed, run=f"s{seed}t{int(time.time())}", max_payload_bytes=settings.stream.max_payload_bytes
    )
    sink: KafkaSink | LandingWriter
    write: Callable[[list[Message]], None]
    if kafka:
        from almacen.sources.kafka import KafkaSink, ensure_topic

        target = settings.stream.kafka.model_copy(
            update={"bootstrap_servers": kafka, **({"topic": topic} if topic else {})}
        )
        ensure_topic(target)
        sink = KafkaSink(target)
        write = sink.write
        where = f"Kafka {kafka} topic {target.topic}"
    else:
        from almacen.sources.landing import LandingWriter

        folder = landing or Path(settings.stream.landing)
        sink = writer = LandingWriter(folder, maker.run)
        # no line is None: parse_kinds leaves the kinds of null value (Kafka tombstones) to Kafka
        write = lambda lines: writer.write([line for _, line in lines if line is not None])  # noqa: E731
        where = f"landing folder {folder}"
    stop = stop_on_signals()
    console.print(f"emitting {per_second:g} events/s for {duration:g} s into {where} (Ctrl-C stops)")
    sent = emit(maker, write, per_second, duration, bad_fraction=bad, kinds=chosen, stop=stop.is_set)
    sink.close()
    ledger = maker.ledger
    console.print(
        f"sent {sent:,} events: {ledger.events:,} valid, {ledger.quarantined:,} to be quarantined"
        + "".join(f", {k} {n:,}" for k, n in sorted(ledger.messages.items()) if k != "event")
    )


def stream(console: Console, config: Path | None, until_idle: bool, seconds: float | None, kind: str = "sales") -> None:
    """Run the ingestor until Ctrl-C (or idle / a time limit), showing a line per report."""
    from almacen.domains import REGISTRY
    from almacen.ingest.stream import StreamIngestor

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    chosen = REGISTRY.stream(kind)
    settings = load_config(config)
    if settings.engine == "spark":
        return _stream_on_spark(console, settings, chosen, until_idle, seconds)
    ingestor = StreamIngestor(settings, kind=chosen)
    stop = stop_on_signals()
    deadline = time.monotonic() + seconds if seconds else None
    last = [0.0]

    def show(t) -> None:
        if time.monotonic() - last[0] >= 5:
            console.print(
                f"{datetime.now():%H:%M:%S} read {t.read:,} · written {t.written:,} · "
                f"quarantined {t.quarantined:,} · late {t.late:,} · lag {t.lag if t.lag is not None else '?'}"
            )
            last[0] = time.monotonic()

    ingestor.start()
    try:
        totals = ingestor.run(
            lambda: stop.is_set() or (deadline is not None and time.monotonic() > deadline),
            until_idle=until_idle,
            on_batch=show,
        )
    finally:
        ingestor.close()
    console.print(
        f"stopped: {totals.batches:,} batches, {totals.read:,} events read, {totals.written:,} written, "
        f"{totals.quarantined:,} quarantined, {totals.late:,} late"
    )
    _audit_stream(settings, chosen.job, totals)


def _stream_on_spark(
    console: Console, settings: Settings, kind: StreamKind, until_idle: bool, seconds: float | None
) -> None:
    """`engine = "spark"`: the same job, of any kind, as a Spark Structured Streaming query (`--until-idle`:
    availableNow)."""
    from almacen.ingest.spark_stream import SparkStreamIngestor

    ingestor = SparkStreamIngestor(settings, kind=kind)
    stop = stop_on_signals()
    deadline = time.monotonic() + seconds if seconds else None
    ingestor.start()
    try:
        totals = ingestor.run(
            lambda: stop.is_set() or (deadline is not None and time.monotonic() > deadline),
            available_now=until_idle,
            on_batch=lambda t: console.print(
                f"{datetime.now():%H:%M:%S} read {t.read:,} · written {t.written:,} · "
                f"quarantined {t.quarantined:,} · late {t.late:,}"
            ),
        )
    finally:
        ingestor.close()
    console.print(
        f"stopped (Spark): {totals.batches:,} batches, {totals.read:,} events read, {totals.written:,} "
        f"written, {totals.quarantined:,} quarantined, {totals.late:,} late"
    )
    _audit_stream(settings, f"{kind.job} (spark)", totals)


def _audit_stream(settings: Settings, job: str, totals) -> None:
    """The stream run's `pipeline.run` audit entry, once the loop has ended."""

    audit_run(
        settings,
        job,
        batches=totals.batches,
        read=totals.read,
        written=totals.written,
        quarantined=totals.quarantined,
        late=totals.late,
    )
