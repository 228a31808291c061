"""Stream commands: `simulate stream`, `stream`, `top` and `minutes`."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from almacen.config import Settings, load_config

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="almacen.toml (default $ALMACEN_CONFIG or ./almacen.toml)")]


def _stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so the loops finish their batch and write their run record."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def simulate_stream(console: Console, config: Path | None, rate: str, duration: float, seed: int,
                    kafka: str | None, topic: str | None, landing: Path | None, bad: float, kinds: str = "bad") -> None:
    """Emit sale events of the configured branches at `rate` into the landing folder or Kafka; `bad` of
    them defective messages of `kinds` (`bad`, `poison`, `all` or names: see simulate.events)."""
    from almacen.simulate.events import EventMaker, emit, parse_kinds, parse_rate

    settings = load_config(config)
    per_second = parse_rate(rate)
    chosen = parse_kinds(kinds, kafka=bool(kafka))
    branches = [b.id for b in settings.branches if b.enabled]
    maker = EventMaker(branches, seed=seed, run=f"s{seed}t{int(time.time())}",
                       max_payload_bytes=settings.stream.max_payload_bytes)
    if kafka:
        from almacen.sources.kafka import KafkaSink, ensure_topic

        target = settings.stream.kafka.model_copy(update={"bootstrap_servers": kafka, **({"topic": topic} if topic else {})})
        ensure_topic(target)
        sink = KafkaSink(target)
        write = sink.write
        where = f"Kafka {kafka} topic {target.topic}"
    else:
        from almacen.sources.landing import LandingWriter

        folder = landing or Path(settings.stream.landing)
        sink = LandingWriter(folder, maker.run)
        write = lambda lines: sink.write([line for _, line in lines])  # noqa: E731
        where = f"landing folder {folder}"
    stop = _stop_on_signals()
    console.print(f"emitting {per_second:g} events/s for {duration:g} s into {where} (Ctrl-C stops)")
    sent = emit(maker, write, per_second, duration, bad_fraction=bad, kinds=chosen, stop=stop.is_set)
    sink.close()
    ledger = maker.ledger
    console.print(f"sent {sent:,} events: {ledger.events:,} valid, {ledger.quarantined:,} to be quarantined"
                  + "".join(f", {k} {n:,}" for k, n in sorted(ledger.messages.items()) if k != "event"))


def stream(console: Console, config: Path | None, until_idle: bool, seconds: float | None, kind: str = "sales") -> None:
    """Run the ingestor until Ctrl-C (or idle / a time limit), showing a line per report."""
    from almacen.ingest.kinds import KINDS
    from almacen.ingest.stream import StreamIngestor

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if kind not in KINDS:
        raise ValueError(f"stream: {kind!r} is not a kind of stream; known: {', '.join(KINDS)}")
    settings = load_config(config)
    if settings.engine == "spark" and kind == "sales":
        return _stream_on_spark(console, settings, until_idle, seconds)
    ingestor = StreamIngestor(settings, kind=KINDS[kind])
    stop = _stop_on_signals()
    deadline = time.monotonic() + seconds if seconds else None
    last = [0.0]

    def show(t) -> None:
        if time.monotonic() - last[0] >= 5:
            console.print(f"{datetime.now():%H:%M:%S} read {t.read:,} · written {t.written:,} · "
                          f"quarantined {t.quarantined:,} · late {t.late:,} · lag {t.lag if t.lag is not None else '?'}")
            last[0] = time.monotonic()

    ingestor.start()
    try:
        totals = ingestor.run(lambda: stop.is_set() or (deadline is not None and time.monotonic() > deadline),
                              until_idle=until_idle, on_batch=show)
    finally:
        ingestor.close()
    console.print(f"stopped: {totals.batches:,} batches, {totals.read:,} events read, {totals.written:,} written, "
                  f"{totals.quarantined:,} quarantined, {totals.late:,} late")
    _audit_stream(settings, KINDS[kind].job, totals)


def _stream_on_spark(console: Console, settings: Settings, until_idle: bool, seconds: float | None) -> None:
    """`engine = "spark"`: the same job as a Spark Structured Streaming query (`--until-idle`: availableNow)."""
    from almacen.ingest.spark_stream import SparkStreamIngestor

    ingestor = SparkStreamIngestor(settings)
    stop = _stop_on_signals()
    deadline = time.monotonic() + seconds if seconds else None
    ingestor.start()
    try:
        totals = ingestor.run(lambda: stop.is_set() or (deadline is not None and time.monotonic() > deadline),
                              available_now=until_idle,
                              on_batch=lambda t: console.print(
                                  f"{datetime.now():%H:%M:%S} read {t.read:,} · written {t.written:,} · "
                                  f"quarantined {t.quarantined:,} · late {t.late:,}"))
    finally:
        ingestor.close()
    console.print(f"stopped (Spark): {totals.batches:,} batches, {totals.read:,} events read, {totals.written:,} "
                  f"written, {totals.quarantined:,} quarantined, {totals.late:,} late")
    _audit_stream(settings, "stream (spark)", totals)


def _audit_stream(settings: Settings, job: str, totals) -> None:
    """The stream run's `pipeline.run` audit entry, once the loop has ended."""
    from almacen.cli.admin import audit_run

    audit_run(settings, job, batches=totals.batches, read=totals.read, written=totals.written,
              quarantined=totals.quarantined, late=totals.late)


def top(config: Path | None, minutes: int) -> None:
    from almacen.lake import Lake
    from almacen.realtime.top import live

    stop = _stop_on_signals()
    live(Lake(load_config(config).lake), minutes, stop=stop.is_set)


def minutes(console: Console, config: Path | None, last: int, by: str, total: bool, status: str | None,
            until: str | None) -> None:
    from almacen.lake import Lake
    from almacen.realtime import sales_minutes

    dims = [d.strip() for d in by.split(",") if d.strip()]
    rows = sales_minutes(Lake(load_config(config).lake), last, dims, per_minute=not total, status=status,
                         until=datetime.fromisoformat(until) if until else None)
    table = Table(title=f"sales, last {last} minutes")
    for name in rows.column_names:
        table.add_column(name, justify="left" if name in ("minute", *dims) else "right")
    for r in rows.to_pylist():
        table.add_row(*[f"{v:%Y-%m-%d %H:%M}" if isinstance(v, datetime) else str(v) for v in r.values()])
    console.print(table)
