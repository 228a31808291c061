"""Extraction speed: almacen vs Spark JDBC local[2] vs a bare ConnectorX read, on the same PostgreSQL tables.

Prints one JSON document. Each contender runs in its own process, timed from process start to its
last commit (or, for the bare read, to the Arrow table in memory), with the peak RSS of its process
tree: the sum of each process's high-water mark (Spark's JVM included; benchmarks/measure.py).
`targets` holds the booleans the targets are judged by: `b_10x_faster_than_spark` is true only when
the bare Spark JDBC job's wall time is at least 10.0 times almacen's (`ratios` gives the ratio).

  (a) backfill: one branch holding N sales lines over 100 hours, extracted whole;
  (b) hourly:   one busy hour (~20,000 lines) from each of 5 branches, as the hourly job runs it.

Contenders: almacen (embedded reader), almacen_spark (the same extraction with engine = "spark": Spark
JDBC partitioned reads, same lake writes), a bare Spark JDBC job and a bare ConnectorX read.

Needs `scripts/services up` and `pip install -e '.[bench]'`. Usage:
  python benchmarks/extract.py [--lines 2000000] [--skip-spark] [--only-almacen]
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.simulate import build_catalog, bulk_sales, write_catalog
from measure import machine, measure

PG = os.environ.get("ALMACEN_TEST_POSTGRES_URL", "postgresql://almacen:almacen@127.0.0.1:55432/almacen")
JDBC_JAR = "/usr/share/java/postgresql.jar"
SPARK_JARS = Path(__file__).resolve().parents[1] / ".jars" / "spark"
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
BACKFILL_HOURS = 100
BUSY_HOUR = START + timedelta(hours=1)


def fresh_db(name: str) -> str:
    admin = sa.create_engine(make_url(PG).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(PG).set(database=name).render_as_string(hide_password=False)


def prepare(lines: int) -> dict:
    """The backfill branch (N lines over 100 h) and 5 hourly branches (3 h of ~20k lines/h each)."""
    backfill = fresh_db("bench_backfill")
    t = time.perf_counter()
    written = bulk_sales(backfill, "ventas", lines, START.replace(tzinfo=None), BACKFILL_HOURS)
    write_catalog(backfill, list(build_catalog()))
    hourly = []
    for i in range(5):
        url = fresh_db(f"bench_hour_{i}")
        bulk_sales(url, "ventas", 60_000, START.replace(tzinfo=None), 3, seed=100 + i, branch_id=f"b{i}")
        hourly.append(url)
    write_catalog(hourly[0], list(build_catalog()))
    for url in [backfill, *hourly]:  # as a DBA would after a bulk load: no contender pays first-read hint bits
        vacuum = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
        with vacuum.connect() as con:
            con.execute(sa.text("VACUUM ANALYZE"))
        vacuum.dispose()
    engine = sa.create_engine(make_url(hourly[0]).set(drivername="postgresql+psycopg"))
    with engine.connect() as con:
        busy = con.execute(
            sa.text(
                "SELECT count(*) FROM ventas_items i JOIN ventas v USING (id_venta) "
                "WHERE v.actualizado >= :a AND v.actualizado < :b"
            ),
            {"a": BUSY_HOUR.replace(tzinfo=None), "b": (BUSY_HOUR + timedelta(hours=1)).replace(tzinfo=None)},
        ).scalar_one()
    engine.dispose()
    return {
        "backfill": backfill,
        "backfill_lines": written,
        "hourly": hourly,
        "busy_hour_lines_per_branch": busy,
        "prepare_s": round(time.perf_counter() - t, 1),
    }


def config(folder: Path, urls: list[str], engine: str = "duckdb") -> Path:
    """An almacen.toml for these branches (password from the environment, as in production)."""
    catalog = make_url(urls[0])._replace(password=None).render_as_string(hide_password=False)
    lines = [f'lake = "{folder / "lake"}"', "demo = true", f'engine = "{engine}"']
    if engine == "spark":
        lines += ["[spark]", 'master = "local[2]"', f'jars = "{SPARK_JARS}"', "jdbc_partitions = 2"]
    lines += ["[catalog]", f'url = "{catalog}"', 'password_env = "BENCH_PW"']
    for i, url in enumerate(urls):
        lines += [
            "[[branches]]",
            f'id = "b{i}"',
            f'name = "B{i}"',
            'city = "CABA"',
            'province = "CABA"',
            f'url = "{make_url(url)._replace(password=None).render_as_string(hide_password=False)}"',
            'password_env = "BENCH_PW"',
            'pos_schema = "ventas"',
        ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "almacen.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def almacen_cmd(cfg: Path, *args: str) -> list[str]:
    code = textwrap.dedent(f"""
        import json, sys
        from datetime import datetime
        from almacen.config import load_config
        from almacen.domains.sales import extract
        settings = load_config({str(cfg)!r})
        hours = [datetime.fromisoformat(h) for h in {list(args)!r}]
        records = extract(settings, hours)
        assert all(r.status == "ok" for r in records), [r.error for r in records if r.error]
        print(json.dumps({{"rows": sum(r.rows_read for r in records)}}))
    """)
    return [sys.executable, "-c", code]


def connectorx_cmd(url: str) -> list[str]:
    code = textwrap.dedent(f"""
        import json, connectorx as cx
        url = {url!r}
        lines = cx.read_sql(url, "SELECT * FROM ventas_items", return_type="arrow", partition_on="id_venta", partition_num=2)
        sales = cx.read_sql(url, "SELECT * FROM ventas", return_type="arrow", partition_on="id_venta", partition_num=2)
        print(json.dumps({{"rows": lines.num_rows + sales.num_rows}}))
    """)
    return [sys.executable, "-c", code]


def spark_cmd(urls: list[str], out: Path, hour: datetime | None) -> list[str]:
    """Spark JDBC local[2]: read the tables (partitioned by id for a backfill), write Parquet."""
    jdbc = [(f"jdbc:postgresql://{make_url(u).host}:{make_url(u).port}/{make_url(u).database}") for u in urls]
    code = textwrap.dedent(f"""
        import json
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").appName("bench")
                 .config("spark.jars", {JDBC_JAR!r}).config("spark.driver.host", "127.0.0.1")
                 .config("spark.ui.enabled", "false").getOrCreate())
        rows = 0
        hour = {hour.strftime("%Y-%m-%d %H:%M:%S") if hour else None!r}
        for i, url in enumerate({jdbc!r}):
            for table, q in (("ventas", "SELECT * FROM ventas v"),
                             ("ventas_items", "SELECT i.*, v.actualizado FROM ventas_items i JOIN ventas v USING (id_venta)")):
                reader = lambda: (spark.read.format("jdbc").option("url", url).option("driver", "org.postgresql.Driver")
                                  .option("user", "almacen").option("password", "almacen"))
                if hour:
                    q += f" WHERE v.actualizado >= '{{hour}}' AND v.actualizado < TIMESTAMP '{{hour}}' + INTERVAL '1 hour'"
                    df = reader().option("query", q).load()
                else:
                    bounds = reader().option("query", "SELECT min(id_venta) lo, max(id_venta) hi FROM ventas").load().first()
                    df = (reader().option("dbtable", f"({{q}}) t").option("partitionColumn", "id_venta")
                          .option("lowerBound", bounds.lo).option("upperBound", bounds.hi + 1).option("numPartitions", 2).load())
                df.write.mode("overwrite").parquet({str(out)!r} + f"/b{{i}}/{{table}}")
                rows += spark.read.parquet({str(out)!r} + f"/b{{i}}/{{table}}").count()
        print(json.dumps({{"rows": rows}}))
    """)
    return [sys.executable, "-c", code]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--only-almacen", action="store_true", help="only almacen and almacen_spark (no bare readers)")
    args = ap.parse_args()
    env = {"BENCH_PW": make_url(PG).password or "", "SPARK_LOCAL_IP": "127.0.0.1"}
    data = prepare(args.lines)
    work = Path(tempfile.mkdtemp(prefix="almacen-bench-"))
    report: dict = {"machine": machine(), "data": {k: v for k, v in data.items() if k not in ("backfill", "hourly")}}
    try:
        backfill_hours = [(START + timedelta(hours=h)).isoformat() for h in range(BACKFILL_HOURS)]
        a = {"almacen": measure(almacen_cmd(config(work / "a", [data["backfill"]]), *backfill_hours), env)}
        if not args.only_almacen:
            a["connectorx_bare"] = measure(connectorx_cmd(data["backfill"]))
        if not args.skip_spark:
            a["almacen_spark"] = measure(
                almacen_cmd(config(work / "a_spark", [data["backfill"]], "spark"), *backfill_hours), env
            )
            if not args.only_almacen:
                a["spark_jdbc_local2"] = measure(spark_cmd([data["backfill"]], work / "spark_a", None), env)
        b = {"almacen": measure(almacen_cmd(config(work / "b", data["hourly"]), BUSY_HOUR.isoformat()), env)}
        if not args.skip_spark:
            b["almacen_spark"] = measure(
                almacen_cmd(config(work / "b_spark", data["hourly"], "spark"), BUSY_HOUR.isoformat()), env
            )
            if not args.only_almacen:
                b["spark_jdbc_local2"] = measure(spark_cmd(data["hourly"], work / "spark_b", BUSY_HOUR), env)
        for case in (a, b):
            for r in case.values():
                r["rows_per_s"] = round(r["rows"] / r["wall_s"]) if r.get("rows") else None
        report["a_backfill"], report["b_hourly_5_branches"] = a, b
        for case in (a, b):  # both engines must have loaded the same rows
            if "almacen_spark" in case:
                assert case["almacen_spark"]["rows"] == case["almacen"]["rows"], case
        report["targets"] = {
            "a_rows_per_s>=800k": a["almacen"]["rows_per_s"] >= 800_000,
            "a_peak_rss<600MB": a["almacen"]["peak_rss_mb"] < 600,
            "b_10x_faster_than_spark": (b["spark_jdbc_local2"]["wall_s"] / b["almacen"]["wall_s"] >= 10)
            if "spark_jdbc_local2" in b
            else None,
        }
        if "almacen_spark" in b:
            report["ratios_almacen_spark_over_embedded_wall"] = {
                "a": round(a["almacen_spark"]["wall_s"] / a["almacen"]["wall_s"], 2),
                "b": round(b["almacen_spark"]["wall_s"] / b["almacen"]["wall_s"], 2),
            }
        if "spark_jdbc_local2" in b:
            report["ratios"] = {
                "a_spark_over_almacen_wall": round(a["spark_jdbc_local2"]["wall_s"] / a["almacen"]["wall_s"], 2),
                "b_spark_over_almacen_wall": round(b["spark_jdbc_local2"]["wall_s"] / b["almacen"]["wall_s"], 2),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
