"""Stream speed: sale events through a real Kafka broker into bronze + the minute rollups.

Prints one JSON document:
  (a) throughput: N pre-produced events (default 5,000,000) consumed into bronze.sales_events and
      gold.sales_minute by `almacen stream` in its own process, events/s from process start to the
      last commit, and its peak RSS, the process's high-water mark (which is also (c) for N events);
  (b) freshness: events produced at 1,000 and 10,000 per second while the ingestor runs; the delay
      from producing a burst (50 ms of events) to seeing it counted by a `sales_minutes` query, p50
      and p99 over every burst produced: a burst not seen within 30 s of the end counts as never seen
      (an infinite delay), so that p99 is null when more than 1 % were not seen, and the target
      (p99 < 2 s at 10,000/s) fails when any burst was not seen;
  (d) a day of rollups: events spread over the last 24 hours through the landing folder, then
      `sales_minutes` over all 1,440 minutes grouped by channel and branch, median of 5 reads.
  (e) Spark Structured Streaming (`engine = "spark"`, local[2]): --spark-events pre-produced events
      (default 200,000, kept modest: Spark's driver collects each micro-batch for the quality gate)
      consumed with trigger availableNow by `SparkStreamIngestor` in its own process; events/s over
      the query alone and over the whole process (Spark's start included), peak RSS of Python + JVM;
      the embedded ingestor's row for the same events beside it.

Needs `scripts/services up` (Kafka on 127.0.0.1:9092). Usage:
  python benchmarks/stream.py [--events 5000000] [--rates 1000,10000] [--seconds 30] [--spark-events 200000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path


from almacen.config import Branch, KafkaSettings, Settings, SparkSettings
from almacen.lake import Lake
from almacen.domains.sales.realtime import sales_minutes
from almacen.simulate.demo import BRANCHES
from almacen.simulate.events import EventMaker, stream_lines
from almacen.sources.kafka import KafkaSink, ensure_topic
from measure import machine, measure

BOOTSTRAP = os.environ.get("ALMACEN_TEST_KAFKA", "127.0.0.1:9092")
JARS = Path(__file__).resolve().parents[1] / ".jars" / "spark"


def settings_for(folder: Path, topic: str, trigger: float) -> Settings:
    branches = [
        Branch(id=b, name=n, city=c, province=p, url=f"sqlite:///{folder}/{b}.sqlite", pos_schema=s)
        for b, n, c, p, s in BRANCHES[:5]
    ]
    return Settings(
        demo=True,
        lake=str(folder / "lake"),
        branches=branches,
        stream={
            "source": "kafka",
            "trigger_seconds": trigger,
            "kafka": KafkaSettings(bootstrap_servers=BOOTSTRAP, topic=topic),
        },
    )


def produce_all(topic: str, n: int) -> float:
    """Pre-produce n events (event times spread over 5 minutes ending now); returns seconds taken."""
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, topic=topic)
    ensure_topic(kafka, partitions=3)
    sink, maker = KafkaSink(kafka), EventMaker([b[0] for b in BRANCHES[:5]], seed=11, run=f"b{uuid.uuid4().hex[:6]}")
    t = time.perf_counter()
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    for lines in stream_lines(maker, n, start, per_second=n / 290):
        sink.write(lines)
    sink.close()
    return time.perf_counter() - t


SPARK_CODE = """
    import json, time
    from almacen.config import Settings
    from almacen.domains.sales import SALES
    from almacen.ingest.spark_stream import SparkStreamIngestor
    s = Settings.model_validate_json(open({config!r}).read())
    ing = SparkStreamIngestor(s, kind=SALES); ing.start()
    t0 = time.perf_counter(); t = ing.run(available_now=True); query_s = time.perf_counter() - t0; ing.close()
    print(json.dumps({{"read": t.read, "written": t.written, "batches": t.batches, "query_s": round(query_s, 2)}}))
"""


def run_ingestor(config: Path, spark: bool = False) -> dict:
    """`StreamIngestor` until idle (or, with `spark`, `SparkStreamIngestor` availableNow) in its own
    process: wall time and peak RSS (with Spark, the Python driver and its JVM together)."""
    code = textwrap.dedent(
        SPARK_CODE.format(config=str(config))
        if spark
        else f"""
        import json
        from almacen.config import Settings
        from almacen.domains.sales import SALES
        from almacen.ingest.stream import StreamIngestor
        s = Settings.model_validate_json(open({str(config)!r}).read())
        ing = StreamIngestor(s, kind=SALES); ing.start()
        t = ing.run(until_idle=True); ing.close()
        print(json.dumps({{"read": t.read, "written": t.written, "batches": t.batches}}))
    """
    )
    result = measure([sys.executable, "-c", code])
    if "query_s" in result:
        result["query_events_per_s"] = round(result["read"] / result["query_s"]) if result["query_s"] else None
    return {**result, "events_per_s": round(result["read"] / result["wall_s"])}


def spark_side_by_side(folder: Path, n: int) -> dict:
    """The same n pre-produced events through the embedded ingestor and Spark Structured Streaming."""
    topic = f"bench.spark.{uuid.uuid4().hex[:8]}"
    produced = produce_all(topic, n)
    rows = {}
    for name, spark in (("embedded", False), ("spark", True)):
        settings = settings_for(folder / name, topic, trigger=1.0)
        if spark:
            settings = settings.model_copy(update={"engine": "spark", "spark": SparkSettings(jars=str(JARS))})
        (folder / name).mkdir(parents=True, exist_ok=True)
        config = folder / name / "settings.json"
        config.write_text(settings.model_dump_json())
        rows[name] = run_ingestor(config, spark=spark)
    return {"events": n, "produce_s": round(produced, 1), **rows}


def freshness(folder: Path, rate: int, seconds: float) -> dict:
    """Produce at `rate` while the ingestor runs (own process); delay until a query counts each burst."""
    topic = f"bench.fresh.{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, topic=topic)
    ensure_topic(kafka, partitions=3)
    settings = settings_for(folder, topic, trigger=0.25)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "fresh.json"
    config.write_text(settings.model_dump_json())
    code = textwrap.dedent(f"""
        from almacen.config import Settings
        from almacen.domains.sales import SALES
        from almacen.ingest.stream import StreamIngestor
        ing = StreamIngestor(Settings.model_validate_json(open({str(config)!r}).read()), kind=SALES); ing.start()
        ing.run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    lake = Lake(settings.lake)
    sink, maker = KafkaSink(kafka), EventMaker([b[0] for b in BRANCHES[:5]], seed=5, run=f"f{uuid.uuid4().hex[:6]}")
    bursts: list[tuple[int, float]] = []  # (events produced so far, when that burst was produced)
    delays: list[float] = []
    query_s: list[float] = []
    done = threading.Event()

    def watch() -> None:
        seen = 0
        while not done.is_set() or seen < len(bursts):
            t0 = time.perf_counter()
            try:
                visible = int(sales_minutes(lake, 15, per_minute=False)["events"][0].as_py())
            except Exception:  # noqa: BLE001 - the table may not exist yet
                visible = 0
            query_s.append(time.perf_counter() - t0)
            now = time.time()
            while seen < len(bursts) and bursts[seen][0] <= visible:
                delays.append(now - bursts[seen][1])
                seen += 1
            if done.is_set() and time.time() > end + 30:
                break
            time.sleep(0.02)

    time.sleep(3)  # the ingestor's start-up is not part of freshness
    watcher = threading.Thread(target=watch)
    watcher.start()
    began, sent, tick = time.time(), 0, 0.05
    end = began + seconds
    while time.time() < end:
        due = int((time.time() - began + tick) * rate) - sent
        if due > 0:
            now = datetime.now(timezone.utc)
            sink.write(maker.lines(due, now, now + timedelta(seconds=tick)))
            sink._producer.flush(1)
            sent += due
            bursts.append((sent, time.time()))
        time.sleep(max(0.0, tick - (time.time() - began) % tick))
    sink.close()
    done.set()
    watcher.join()
    proc.terminate()
    proc.wait()
    every = sorted(delays) + [math.inf] * (len(bursts) - len(delays))  # a burst never seen: never fresh
    return {
        "rate": rate,
        "events": sent,
        "bursts": len(bursts),
        "bursts_seen": len(delays),
        "bursts_unseen": len(bursts) - len(delays),
        "p50_s": _finite(percentile(every, 50)),
        "p99_s": _finite(percentile(every, 99)),
        "max_s": _finite(every[-1] if every else math.inf),
        "query_p50_ms": round(statistics.median(query_s) * 1000, 1) if query_s else None,
    }


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank `p`th percentile of an ascending list (inf for an empty one)."""
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)] if ordered else math.inf


def _finite(seconds: float) -> float | None:
    return None if math.isinf(seconds) else round(seconds, 3)


def freshness_target(runs: list[dict], rate: int = 10_000, seconds: float = 2.0) -> bool | None:
    """p99 under `seconds` at `rate`, every burst seen; None when that rate was not run."""
    run = next((f for f in runs if f["rate"] == rate), None)
    if run is None:
        return None
    return run["bursts"] > 0 and run["bursts_unseen"] == 0 and run["p99_s"] is not None and run["p99_s"] < seconds


def day_query(folder: Path, events: int) -> dict:
    """A day of minutes in gold.sales_minute (compacted, as the ingestor keeps it), then read it back."""
    from almacen.domains.sales import SALES
    from almacen.ingest.stream import StreamIngestor
    from almacen.sources.landing import LandingWriter

    settings = settings_for(folder, "unused", trigger=0.5)
    settings = settings.model_copy(
        update={"stream": settings.stream.model_copy(update={"source": "landing", "landing": str(folder / "landing")})}
    )
    maker, writer = (
        EventMaker([b[0] for b in BRANCHES[:5]], seed=3, run="day"),
        LandingWriter(folder / "landing", "day"),
    )
    start = datetime.now(timezone.utc) - timedelta(days=1)
    for lines in stream_lines(maker, events, start, per_second=events / 86_000):
        writer.write([line for _, line in lines])
    ingestor = StreamIngestor(settings, kind=SALES)
    ingestor.start()
    ingestor.run(until_idle=True)
    ingestor.close()
    lake = Lake(settings.lake)
    lake.compact("gold.sales_minute", retention_hours=0)
    timings, rows = [], 0
    for _ in range(5):
        t = time.perf_counter()
        rows = sales_minutes(lake, 1440, ["channel", "branch_id"]).num_rows
        timings.append(time.perf_counter() - t)
    return {
        "events": events,
        "gold_rows": lake.read("gold.sales_minute").num_rows,
        "result_rows": rows,
        "query_ms_median": round(statistics.median(timings) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--day-events", type=int, default=500_000)
    ap.add_argument("--spark-events", type=int, default=200_000, help="0 skips the Spark Structured Streaming row")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="almacen-stream-bench-"))
    report: dict = {"machine": machine()}
    if args.events:
        topic = f"bench.tp.{uuid.uuid4().hex[:8]}"
        report["produce_s"] = round(produce_all(topic, args.events), 1)
        config = folder / "tp.json"
        config.write_text(settings_for(folder / "tp", topic, trigger=1.0).model_dump_json())
        report["a_throughput"] = {"events": args.events, **run_ingestor(config)}
    report["b_freshness"] = [freshness(folder / f"f{r}", int(r), args.seconds) for r in args.rates.split(",") if r]
    if args.day_events:
        report["d_day_query"] = day_query(folder / "day", args.day_events)
    if args.spark_events:
        report["e_spark_streaming"] = spark_side_by_side(folder / "spark", args.spark_events)
    a = report.get("a_throughput", {})
    report["targets"] = {
        "a_events_per_s>=100k": a.get("events_per_s", 0) >= 100_000 if a else None,
        "b_p99<2s_at_10k_every_burst_seen": freshness_target(report["b_freshness"]),
        "c_peak_rss<1GiB": a.get("peak_rss_mb", 0) < 1024 if a else None,
        "d_day_query<1s": report["d_day_query"]["query_ms_median"] < 1000 if args.day_events else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
