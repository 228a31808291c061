"""`almacen publish` over a lake of about a million gold sales lines: seconds and rows per second.

Prints one JSON document. The data: a simulated day of a five-branch chain repeated day after day
(as in benchmarks/engines.py) until silver holds about `--lines` sales lines, built into gold with
DuckDB. It is then published twice into a fresh database of the PostgreSQL at `--postgres`: the first
publish creates the schema (and any missing roles), the second replaces it, as a scheduled re-publish does.

Needs `pip install -e '.[bench]'` and a PostgreSQL (`scripts/services up`). Usage:
  python benchmarks/publish.py [--lines 1000000] [--postgres postgresql://almacen:almacen@127.0.0.1:55432/almacen]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from almacen.config import load_config
from almacen.lake import Lake
from almacen.domains.sales import build
from almacen.serve.publish import publish
from engines import prepare
from measure import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument(
        "--postgres",
        default=os.environ.get("ALMACEN_TEST_POSTGRES_URL", "postgresql://almacen:almacen@127.0.0.1:55432/almacen"),
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="almacen-publish-"))
    database = f"bench_publish_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        config, data = prepare(work / "chain", args.lines)
        t = time.perf_counter()
        build(load_config(config))
        data["build_s"] = round(time.perf_counter() - t, 1)
        lake = Lake(load_config(config).lake)
        url = urlunsplit(urlsplit(args.postgres)._replace(path=f"/{database}"))
        runs = []
        for _ in range(2):
            done = publish(lake, url, users=[], actor="benchmark")
            total = sum(done.tables.values())
            runs.append(
                {
                    "seconds": done.seconds,
                    "rows": total,
                    "rows_per_s": round(total / done.seconds),
                    "fact_sales_lines": done.tables["fact_sales_lines"],
                }
            )
        print(
            json.dumps(
                {
                    "machine": machine(),
                    "data": data,
                    "tables": done.tables,
                    "first_publish": runs[0],
                    "republish": runs[1],
                },
                indent=2,
            )
        )
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
