"""One model build, two engines: the silver and gold rebuild on DuckDB (embedded) and on Spark local[2].

Prints one JSON document. The data: a simulated day of a five-branch chain, extracted by almacen
(quality gate included), then repeated day after day (ids made unique, times shifted a day per
copy) until silver holds about `--lines` sales lines. Each engine then runs `almacen build`'s
`build()` over its own copy of that lake, in its own process, timed from process start (Spark's
JVM start included, and reported apart) to the last gold commit; peak RSS is the process tree's.

Needs `pip install -e '.[bench]'` and the connector jars (`scripts/spark/jars`). Usage:
  python benchmarks/engines.py [--lines 10000000] [--spark-memory 8g] [--skip-spark]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from almacen.config import load_config
from almacen.engine import DuckDBEngine
from almacen.domains.sales import extract
from almacen.lake import Lake
from almacen.simulate import demo_config, simulate_chain
from measure import machine, measure

DAY = date(2026, 11, 23)
ROOT = Path(__file__).resolve().parent.parent
# Each copy d of the day: sale ids suffixed with d, every time moved d days back.
REPEAT = {
    "silver.sales_versions": "SELECT * REPLACE (sale_id || '-' || d AS sale_id, sold_at - to_days(d::INTEGER) AS sold_at, "
    "updated_at - to_days(d::INTEGER) AS updated_at) FROM day, range($copies) AS r(d)",
    "silver.sales_lines_versions": "SELECT * REPLACE (sale_id || '-' || d AS sale_id, "
    "updated_at - to_days(d::INTEGER) AS updated_at) FROM day, range($copies) AS r(d)",
}


def prepare(folder: Path, lines: int) -> tuple[Path, dict]:
    """A chain's lake whose silver versions hold about `lines` sales lines; its config and sizes."""
    t = time.perf_counter()
    config = demo_config(folder, branches=5)
    settings = load_config(config)
    simulate_chain(settings, DAY)
    start = datetime.combine(DAY, datetime.min.time(), timezone.utc)
    records = extract(settings, [start + timedelta(hours=h) for h in range(24)])
    assert all(r.status == "ok" for r in records), [r.error for r in records if r.error]
    lake = Lake(settings.lake)
    per_day = lake.table("silver.sales_lines_versions").to_pyarrow_dataset().count_rows()
    copies = math.ceil(lines / per_day)
    with DuckDBEngine() as engine:
        for table, sql in REPEAT.items():
            engine.register("day", lake.read(table))
            lake.overwrite(table, engine.stream(sql, {"copies": copies}))
            engine.forget("day")
    sizes = {t: lake.table(t).to_pyarrow_dataset().count_rows() for t in REPEAT}
    return config, {"days": copies, "rows": sizes, "prepare_s": round(time.perf_counter() - t, 1)}


def build_cmd(config: Path, lake: Path, engine: str, spark_memory: str) -> list[str]:
    """A process that builds every model of the lake at `lake` with `engine`; prints its timings and row counts."""
    code = textwrap.dedent(f"""
        import json, time
        t0 = time.perf_counter()
        from almacen.config import SparkSettings, load_config
        from almacen.engine import open_engine
        from almacen.domains.sales import build
        settings = load_config({str(config)!r}).model_copy(update={{
            "engine": {engine!r}, "lake": {str(lake)!r},
            "spark": SparkSettings(jars={str(ROOT / ".jars" / "spark")!r}, conf={{"spark.driver.memory": {spark_memory!r}}})}})
        engine = open_engine(settings)
        t1 = time.perf_counter()
        counts = build(settings, engine)
        t2 = time.perf_counter()
        print(json.dumps({{"engine_start_s": round(t1 - t0, 2), "build_s": round(t2 - t1, 2), "rows": counts}}))
    """)
    return [sys.executable, "-c", code]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--spark-memory", default="8g", help="spark.driver.memory (local mode: the whole of Spark)")
    ap.add_argument("--skip-spark", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="almacen-engines-"))
    try:
        config, data = prepare(work / "chain", args.lines)
        report: dict = {"machine": machine(), "data": data, "build": {}}
        engines = ["duckdb"] + ([] if args.skip_spark else ["spark"])
        for engine in engines:
            lake = work / engine
            shutil.copytree(load_config(config).lake, lake)
            report["build"][engine] = measure(
                build_cmd(config, lake, engine, args.spark_memory), {"SPARK_LOCAL_IP": "127.0.0.1"}
            )
        duck = report["build"]["duckdb"]
        report["gold_sales_lines"] = duck["rows"]["gold.fact_sales_lines"]
        if "spark" in report["build"]:
            spark = report["build"]["spark"]
            report["same_row_counts"] = spark["rows"] == duck["rows"]
            report["ratios"] = {
                "spark_over_duckdb_wall": round(spark["wall_s"] / duck["wall_s"], 2),
                "spark_over_duckdb_build": round(spark["build_s"] / duck["build_s"], 2),
                "spark_over_duckdb_peak_rss": round(spark["peak_rss_mb"] / duck["peak_rss_mb"], 2),
            }
        for r in report["build"].values():
            r["rows"] = sum(r["rows"].values())
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
