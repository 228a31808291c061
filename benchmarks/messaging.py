"""Messaging at scale: a month of message events through a real Kafka broker, then the month's bills.

N message events (default 10,000,000) from C client accounts (default 5,000), made by the simulator
on its own clock over October 2026 and the first days of November (a month can only be invoiced once
the stream's watermark is `settle_hours` past its end), pre-produced to a topic of 3 partitions.
Each part then runs in its own process (`measure`: wall time, peak RSS of the process tree):

  stream:        `StreamIngestor(kind=MESSAGING)` until idle, as `almacen stream messaging` runs it:
                 bronze.message_events, quarantine and gold.usage_minute; events/s from process start
                 to the last commit;
  conversations: `build_messaging` (silver.messages, gold.conversations, _daily, _monthly);
  billing:       `draft_month` for October 2026, every client: invoices, lines and their total.

Afterwards, not timed: `usage_check` (gold.usage_minute as the stream kept it against a fresh count
over silver.messages) and the stream's counts against the simulator's ledger. Prints one JSON document.

The data folder keeps the topic's name and what was produced (`produced.json`), the reference files
and the lake of the last run; `--reuse` consumes the same topic again into a fresh lake instead of
producing. `--profile` runs the stream part under cProfile (slower; main thread only) and adds its
top functions to the document.

Needs `scripts/services up` (Kafka on 127.0.0.1:9092). Usage:
  python benchmarks/messaging.py [--events 10000000] [--clients 5000] [--data DIR] [--reuse] [--batch N]
                                 [--bad-fraction 0.001] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from almacen.config import KafkaSettings, Settings
from almacen.sources.kafka import KafkaSink, ensure_topic
from measure import machine, measure

BOOTSTRAP = os.environ.get("ALMACEN_TEST_KAFKA", "127.0.0.1:9092")
MONTH = date(2026, 10, 1)
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 34
"""days of simulated traffic: October and three days past it, so the month settles (settle_hours = 24)"""
SETTLED = datetime(2026, 11, 2, 1, tzinfo=timezone.utc)
"""the simulator's clock must pass this (month end + 24 h + 1 h) for October to be complete"""
EVENTS_PER_MESSAGE = 3.4
"""events per new message, measured on the simulator over days (a template: send + 0.92 delivered +
0.55 read + 0.04 failed; a chatbot conversation: 2-4 messages, and its customer often writes again)"""
CHUNK = 200_000
SEED = 7


def settings_for(folder: Path, topic: str, batch: int | None) -> Settings:
    stream: dict = {
        "source": "kafka",
        "trigger_seconds": 1.0,
        "kafka": KafkaSettings(bootstrap_servers=BOOTSTRAP, topic=topic, group_id="almacen-messaging"),
    }
    if batch:
        stream["max_batch_events"] = batch
    return Settings(demo=True, lake=str(folder / "lake"), messaging={"stream": stream})


def produce(folder: Path, events: int, clients: int, bad_fraction: float) -> dict:
    """Make the world, its reference files and `events` events; produce them to a new topic."""
    from almacen.simulate.messaging import MessageMaker, build_world, write_reference

    world = build_world(clients, seed=SEED, start=date(2026, 9, 1))
    write_reference(world, folder / "reference")
    topic = f"bench.messaging.{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, topic=topic)
    ensure_topic(kafka, partitions=3)
    per_second = events / (EVENTS_PER_MESSAGE * DAYS * 86_400)
    maker = MessageMaker(
        world, seed=SEED, start=START, per_second=per_second, bad_fraction=bad_fraction, run=f"b{uuid.uuid4().hex[:6]}"
    )
    sink = KafkaSink(kafka)
    t, left, requested = time.perf_counter(), events, events
    while left:
        chunk = maker.events(min(CHUNK, left))
        sink.write(chunk)
        left -= len(chunk)
    while maker.clock < SETTLED.timestamp() * 1e6:  # fewer events per message than measured: a few more
        chunk = maker.events(10_000)
        sink.write(chunk)
        events += len(chunk)
    sink.close()
    produced = {
        "topic": topic,
        "requested": requested,
        "events": events,
        "clients": clients,
        "bad_fraction": bad_fraction,
        "produce_s": round(time.perf_counter() - t, 1),
        "per_second": round(per_second, 4),
        "clock_end": datetime.fromtimestamp(maker.clock / 1e6, timezone.utc).isoformat(),
        "ledger": maker.ledger.counts(),
    }
    (folder / "produced.json").write_text(json.dumps(produced, indent=2))
    return produced


def reused(folder: Path, events: int, clients: int) -> dict:
    path = folder / "produced.json"
    if not path.exists():
        sys.exit(f"--reuse: {path} does not exist (run once without --reuse on this --data folder)")
    produced = json.loads(path.read_text())
    if (produced["requested"], produced["clients"]) != (events, clients):
        sys.exit(
            f"--reuse: {path} holds {produced['events']} events of {produced['clients']} clients, "
            f"not {events} of {clients}"
        )
    return produced


def fresh_lake(folder: Path, settings: Settings) -> None:
    """An empty lake holding only the reference data (client accounts, contracts, rate card)."""
    from almacen.domains.messaging.reference import store_clients, store_rate_card
    from almacen.lake import Lake

    shutil.rmtree(settings.lake, ignore_errors=True)
    lake = Lake(settings.lake)
    store_clients(lake, folder / "reference" / "clients.toml")
    store_rate_card(lake, folder / "reference" / "rates.toml")


PROFILED = """
    import cProfile, pstats
    profiler = cProfile.Profile(); profiler.enable()
    {body}
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    def short(key):
        file, line, name = key
        for cut in ("/site-packages/", "/src/", "/lib/python3"):
            if cut in file:
                file = file.split(cut, 1)[1]
                break
        return f"{{file}}:{{line}}({{name}})"
    rows = [(short(k), nc, tt, ct) for k, (cc, nc, tt, ct, callers) in stats.items()]
    top = lambda i: [{{"function": f, "calls": n, "self_s": round(s, 2), "cumulative_s": round(c, 2)}}
                     for f, n, s, c in sorted(rows, key=lambda r: -r[i])[:{top}]]
    out["profile"] = {{"by_cumulative": top(3), "by_self": top(2)}}
"""


def run_part(config: Path, body: str, profile: bool = False) -> dict:
    """Run `body` in its own process with `s` the benchmark's settings; it fills the dict `out`."""
    body = textwrap.dedent(body).strip()
    if profile:
        body = textwrap.dedent(PROFILED).format(body=body, top=25)
    code = (
        f"import json, time\nfrom almacen.config import Settings\n"
        f"s = Settings.model_validate_json(open({str(config)!r}).read())\nout = {{}}\n"
        f"{textwrap.dedent(body)}\nprint(json.dumps(out))\n"
    )
    return measure([sys.executable, "-c", code])


STREAM = """
    from almacen.domains.messaging import MESSAGING
    from almacen.ingest.stream import StreamIngestor
    ing = StreamIngestor(s, kind=MESSAGING); ing.start()
    t = ing.run(until_idle=True); ing.close()
    out.update(read=t.read, written=t.written, quarantined=t.quarantined, late=t.late, batches=t.batches)
"""

CONVERSATIONS = """
    from almacen.domains.messaging.build import build_messaging
    t0 = time.perf_counter(); counts = build_messaging(s)
    out.update(call_s=round(time.perf_counter() - t0, 2), rows=counts)
"""

BILLING = """
    from datetime import date
    from almacen.domains.messaging.ledger import draft_month
    from almacen.lake import Lake
    t0 = time.perf_counter(); run = draft_month(s, date({y}, {m}, 1))
    out.update(call_s=round(time.perf_counter() - t0, 2), invoices=run.documents,
               lines=Lake(s.lake).read("gold.invoice_draft_lines").num_rows, total=str(run.total),
               provisional=run.provisional)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--clients", type=int, default=5_000)
    ap.add_argument(
        "--data",
        type=Path,
        help="folder for the reference files, produced.json and the lake (default: a new temporary folder)",
    )
    ap.add_argument("--reuse", action="store_true", help="consume the topic named in DATA/produced.json again")
    ap.add_argument("--batch", type=int, help="max_batch_events of the ingestor (default: the settings' default)")
    ap.add_argument("--bad-fraction", type=float, default=0.001, help="share of new messages made defective")
    ap.add_argument("--profile", action="store_true", help="run the stream part under cProfile")
    args = ap.parse_args()
    if args.reuse and not args.data:
        ap.error("--reuse needs --data")
    folder = args.data or Path(tempfile.mkdtemp(prefix="almacen-messaging-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    produced = (
        reused(folder, args.events, args.clients)
        if args.reuse
        else produce(folder, args.events, args.clients, args.bad_fraction)
    )
    settings = settings_for(folder, produced["topic"], args.batch)
    config = folder / "settings.json"
    config.write_text(settings.model_dump_json())
    fresh_lake(folder, settings)

    stream = run_part(config, STREAM, profile=args.profile)
    stream["events_per_s"] = round(stream["read"] / stream["wall_s"])
    conversations = run_part(config, CONVERSATIONS)
    billing = run_part(config, BILLING.format(y=MONTH.year, m=MONTH.month))

    from almacen.domains.messaging.build import usage_check

    kept, fresh = usage_check(settings)
    ledger = produced["ledger"]
    expected_written = ledger["valid"] + ledger["orphans"]
    peak = max(stream["peak_rss_mb"], conversations["peak_rss_mb"], billing["peak_rss_mb"])
    report = {
        "machine": machine(),
        "data": str(folder),
        "topic": produced["topic"],
        "events": produced["events"],
        "clients": produced["clients"],
        "produce_s": produced["produce_s"],
        "simulated": {
            "per_second": produced["per_second"],
            "from": START.isoformat(),
            "to": produced["clock_end"],
            "messages": ledger["messages"],
            "duplicates": ledger["duplicates"],
            "bad": sum(ledger["bad"].values()),
        },
        "stream": stream,
        "conversations": conversations,
        "billing": billing,
        "checks": {
            "usage_exact": kept.equals(fresh),
            "usage_rows": kept.num_rows,
            "read_all": stream["read"] == produced["events"],
            "written_as_ledger": stream["written"] == expected_written,
            "expected_written": expected_written,
        },
        "targets": {
            "stream_events_per_s>=100k": stream["events_per_s"] >= 100_000,
            "billing_s<10": billing["wall_s"] < 10,
            "peak_rss<2GiB": peak < 2048,
        },
    }
    if args.profile:
        report["targets"] = {k: None for k in report["targets"]}  # a profiled run is not a measurement
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
