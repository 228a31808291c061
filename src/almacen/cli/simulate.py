"""`almacen simulate …`: the synthetic company (branch sales, sale events, messaging traffic).

The simulator is a source outside the platform: only the CLI imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from almacen.config import load_config
from almacen.errors import UsageError
from almacen.terminal import ConfigOpt, console, friendly, parse_day, parse_hour, stop_on_signals

if TYPE_CHECKING:
    from almacen.sources.kafka import KafkaSink
    from almacen.sources.landing import LandingWriter

simulate_app = typer.Typer(
    help="Simulated data: a day of branch sales (--day), a stream of sale events (stream), "
    "or messaging traffic (messaging).",
    no_args_is_help=True,
    invoke_without_command=True,
)


@simulate_app.callback()
@friendly
def simulate(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option(help="the business day to simulate, e.g. 2026-11-23")] = None,
    until: Annotated[str | None, typer.Option(help="apply events up to this hour only (UTC)")] = None,
    seed: int = 7,
    scale: float = 1.0,
    bad_rows: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of sales with one defect")] = 0.002,
    config: ConfigOpt = None,
) -> None:
    """Write a simulated day of sales into every branch's POS database."""
    if ctx.invoked_subcommand:
        return
    if day is None:
        raise UsageError("simulate: give --day 2026-11-23 for a day of branch sales, or use `almacen simulate stream`")
    from almacen.simulate import simulate_chain

    settings = load_config(config)
    summary = simulate_chain(
        settings, parse_day(day), until=parse_hour(until) if until else None, seed=seed, scale=scale, bad_rows=bad_rows
    )
    console.print(summary)


@simulate_app.command("stream")
@friendly
def simulate_stream(
    rate: Annotated[str, typer.Option(help="events per time: 2/s, 100000/s, 30/min, 1/5s")] = "2/s",
    duration: Annotated[float, typer.Option(help="seconds to emit for")] = 60.0,
    seed: int = 7,
    kafka: Annotated[
        str | None, typer.Option(help="bootstrap servers, e.g. 127.0.0.1:9092 (default: landing folder)")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic (default stream.kafka.topic)")] = None,
    landing: Annotated[Path | None, typer.Option(help="landing folder (default stream.landing)")] = None,
    bad: Annotated[float, typer.Option(help="share of defective events")] = 0.0,
    kinds: Annotated[
        str,
        typer.Option(
            help="which defects: bad (invalid events), poison (tombstones, binary, "
            "empty, oversized...), all, or names separated by commas"
        ),
    ] = "bad",
    config: ConfigOpt = None,
) -> None:
    """Emit sale events from the simulated chain, keyed by branch."""
    from almacen.cli import stream as cmd

    cmd.simulate_stream(console, config, rate, duration, seed, kafka, topic, landing, bad, kinds)


@simulate_app.command("messaging")
@friendly
def simulate_messaging(
    clients: Annotated[int, typer.Option(help="client accounts sending notifications")] = 5000,
    rate: Annotated[str, typer.Option(help="new messages per time: 2000/s, 30/min")] = "2000/s",
    duration: Annotated[float, typer.Option(help="seconds to emit for")] = 60.0,
    seed: int = 7,
    kafka: Annotated[
        str | None, typer.Option(help="bootstrap servers, e.g. 127.0.0.1:9092 (default: landing folder)")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic (default messaging.stream.kafka.topic)")] = None,
    landing: Annotated[Path | None, typer.Option(help="landing folder (default messaging.stream.landing)")] = None,
    reference: Annotated[Path | None, typer.Option(help="also write clients.toml and rates.toml here")] = None,
    bad: Annotated[float, typer.Option(help="share of defective events")] = 0.0,
    config: ConfigOpt = None,
) -> None:
    """Emit WhatsApp notification traffic of simulated client accounts (sends, statuses, chatbot)."""
    from almacen.simulate.events import parse_rate
    from almacen.simulate.messaging import MessageMaker, build_world, emit_messaging, write_reference

    settings = load_config(config)
    world = build_world(clients, seed=seed)
    if reference:
        for path in write_reference(world, reference):
            console.print(f"wrote {path}", highlight=False)
    maker = MessageMaker(world, seed=seed, start=None, run=f"m{seed}t{int(time.time())}", bad_fraction=bad)
    cfg = settings.messaging.stream
    sink: KafkaSink | LandingWriter
    write: Callable[[list[tuple[str, str]]], None]
    if kafka:
        from almacen.sources.kafka import KafkaSink, ensure_topic

        target = cfg.kafka.model_copy(update={"bootstrap_servers": kafka, **({"topic": topic} if topic else {})})
        ensure_topic(target)
        sink = KafkaSink(target)
        write, where = sink.write, f"Kafka {kafka} topic {target.topic}"
    else:
        from almacen.sources.landing import LandingWriter

        folder = landing or Path(cfg.landing)
        sink = writer = LandingWriter(folder, maker.run)
        write, where = (lambda lines: writer.write([line for _, line in lines])), f"landing folder {folder}"
    stop = stop_on_signals()
    console.print(f"emitting {rate} messages of {clients:,} clients for {duration:g} s into {where} (Ctrl-C stops)")
    sent = emit_messaging(maker, write, parse_rate(rate), duration, stop=stop.is_set)
    sink.close()  # statuses still due later are not sent: on the wall clock they would lie in the future
    console.print(f"sent {sent:,} events")
