"""Serving under load: `almacen serve` answering 20 concurrent API clients over 90 days of ~10M sales lines.

Prints one JSON document. The data: a simulated day of a five-branch chain (scaled so that 90 days
hold about `--lines` lines), extracted by almacen, repeated over 90 days (as in benchmarks/engines.py)
and built into gold; then the last hour of sale events streamed through the landing folder into
gold.sales_minute. The built lake is kept in `--data` and reused (only the streamed hour, the users
and their tokens are renewed per run).

Then, each server in its own process on 127.0.0.1, from process start (imports and the cold load
of the marts included, reported as `first_answer_s`) to shutdown, with its peak RSS:
  - `almacen serve` under `--clients` concurrent clients (half as a branch manager logged in through the
    dashboard's login form, sending its session cookie; half as an admin with a bearer token), each
    cycling through KPI of the latest day, KPI of 30 days for one branch, sales by category per week
    over 90 days, sales by branch per month, sales by channel with a category filter and the real-time
    last 60 minutes, back to back, for `--seconds` after `--warmup`;
    then the same with one client (the floor: no queueing), as the admin and as the manager;
    latencies overall, per endpoint and per kind of client (session cookie / bearer token);
  - the same app with the audit log replaced by a no-op, under both loads: what auditing costs;
  - the established tool without the server: the same KPI and sales-by-category SQL in DuckDB over
    the gold Delta tables (deltalake -> Arrow), scanned per query and held in memory.

Needs `pip install -e '.[bench]'`. Usage:
  python benchmarks/serve.py [--data /tmp/almacen-bench-serve] [--lines 10000000] [--clients 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil

import almacen
from almacen.config import load_config
from almacen.engine import DuckDBEngine
from almacen.domains.sales import extract
from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor
from almacen.lake import Lake
from almacen.domains.sales import build
from almacen.security import Tokens, Users
from almacen.simulate import demo_config, simulate_chain
from almacen.simulate.events import EventMaker
from almacen.sources.landing import LandingWriter
from engines import DAY, REPEAT
from measure import TreePeak, machine, measure, reap

DAYS = 90
LINES_PER_DAY_AT_SCALE_1 = 45_000
"""five demo branches at scale 1 sell about this many lines a day (benchmarks/engines.py: 10.0M in 223 days)"""
PASSWORD = "clave-de-benchmark-1"
MANAGER_BRANCHES = ("palermo", "rosario")
ADMIN, MANAGER = "ana", "beatriz"
KINDS = {ADMIN: "admin_bearer_token", MANAGER: "manager_session_cookie"}
"""how each user's clients authenticate, as reported under `by_client`"""
ALMACEN = str(Path(sys.executable).with_name("almacen"))
AUDIT_KEY = "benchmark-audit-key-of-serve-py-not-a-secret"
"""ALMACEN_AUDIT_KEY unless set: the audit log's MAC chain is keyed, and a lake built before the demo-lake
marker existed is not known as a demo lake; fixed, since the chain runs on across runs of the same lake"""


# -- the lake -------------------------------------------------------------------------------------


def prepare(folder: Path, lines: int) -> tuple[Path, dict]:
    """The built lake in `folder` (made once: simulate, extract, repeat over 90 days, build); config and sizes."""
    ready = folder / "ready.json"
    config = folder / "chain" / "almacen.toml"
    if ready.exists():
        return config, {**json.loads(ready.read_text()), "reused": True}
    t = time.perf_counter()
    config = demo_config(folder / "chain", branches=5)
    settings = load_config(config)
    simulate_chain(settings, DAY, scale=round(lines / DAYS / LINES_PER_DAY_AT_SCALE_1, 2))
    start = datetime.combine(DAY, datetime.min.time(), timezone.utc)
    records = extract(settings, [start + timedelta(hours=h) for h in range(24)])
    assert all(r.status == "ok" for r in records), [r.error for r in records if r.error]
    lake = Lake(settings.lake)
    with DuckDBEngine() as engine:
        for table, sql in REPEAT.items():
            engine.register("day", lake.read(table))
            lake.overwrite(table, engine.stream(sql, {"copies": DAYS}))
            engine.forget("day")
    prepared = time.perf_counter()
    counts = build(settings)
    data = {
        "days": DAYS,
        "branches": len(settings.branches),
        "first_day": str(DAY - timedelta(days=DAYS - 1)),
        "last_day": str(DAY),
        "silver_sales_lines": lake.dataset("silver.sales_lines_versions").count_rows(),
        "gold_rows": {
            t: counts[t]
            for t in ("gold.fact_sales_lines", "gold.sales_daily", "gold.sales_tickets_daily")
            if t in counts
        },
        "prepare_s": round(prepared - t, 1),
        "build_s": round(time.perf_counter() - prepared, 1),
    }
    ready.write_text(json.dumps(data))
    return config, {**data, "reused": False}


def stream_last_hour(config: Path, events: int) -> dict:
    """`events` sale events over the hour up to now, through the landing folder into gold.sales_minute."""
    settings = load_config(config)
    now = datetime.now(timezone.utc)
    run = f"bench{now:%Y%m%d%H%M%S}"
    maker = EventMaker([b.id for b in settings.branches], seed=11, run=run)
    LandingWriter(settings.stream.landing, run, file_events=10_000).write(
        [line for _, line in maker.lines(events, now - timedelta(minutes=60), now)]
    )
    t = time.perf_counter()
    ingestor = StreamIngestor(settings, kind=SALES)
    ingestor.start()
    totals = ingestor.run(until_idle=True)
    ingestor.close()
    return {"events": totals.read, "stream_s": round(time.perf_counter() - t, 1)}


def credentials(config: Path) -> dict[str, str]:
    """An admin and a branch manager (made once, password PASSWORD), each with a fresh bearer token:
    username -> secret (the manager's clients log in with the password instead; its token is unused)."""
    lake = Lake(load_config(config).lake)
    users, tokens = Users(lake), {}
    for username, role, branches in ((ADMIN, "admin", ()), (MANAGER, "branch_manager", MANAGER_BRANCHES)):
        if users.get(username) is None:
            users.add(username, PASSWORD, role, branches)
        tokens[username] = Tokens(lake, users).create(username, "benchmark")[1]
    return tokens


# -- the server -----------------------------------------------------------------------------------

NO_AUDIT = """
    import sys, uvicorn
    from almacen.config import load_config
    from almacen.domains import REGISTRY
    from almacen.serve import create_app

    class NoAudit:
        def record(self, *args, **kwargs): return 0
        def flush(self): pass
        def close(self): pass

    app = create_app(load_config(sys.argv[1]), site=REGISTRY.site())
    app.state.services.audit = NoAudit()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


class Server:
    """A server process on a free loopback port, the high-water marks of its processes (measure.TreePeak)
    read every 20 ms until it stops."""

    def __init__(self, config: Path, audit: bool = True, workers: int = 1) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = (
            [ALMACEN, "serve", "-c", str(config), "--port", str(self.port), "--workers", str(workers)]
            if audit
            else [sys.executable, "-c", textwrap.dedent(NO_AUDIT), str(config), str(self.port)]
        )
        # one cookie signing key for all workers (demo mode would draw one per process); PYTHONPATH is inherited
        env = {"ALMACEN_SECRET_KEY": secrets.token_urlsafe(32), **os.environ}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.peak, self._stop = TreePeak(self.proc.pid), threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _sample(self) -> None:
        while not self._stop.wait(0.02):  # never reaps the server: stop() does, through wait4
            self.peak.sample()

    def first_answer(self, token: str, timeout: float = 300) -> float:
        """Seconds from process start to the first 200 from /api/kpis (imports, start-up and the marts' cold load)."""
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.proc.stderr.read()[-2000:]}")
            try:
                r = httpx.get(f"{self.url}/api/kpis", headers={"Authorization": f"Bearer {token}"}, timeout=60)
                if r.status_code == 200:
                    return round(time.perf_counter() - self.started, 2)
                raise RuntimeError(f"first /api/kpis: {r.status_code} {r.text[:500]}")
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"no answer from {self.url} within {timeout} s")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> dict:
        """Stop the server (SIGINT: uvicorn shuts down, flushing the audit log; killed after 30 s):
        `peak_rss_mb`, the sum of its processes' high-water marks, and each one's."""
        self._stop.set()
        self._sampler.join()
        if self.proc.returncode is not None:  # it exited on its own and was reaped (first_answer): no rusage
            return self.peak.result(0)
        self.peak.sample()
        self.proc.send_signal(signal.SIGINT)
        return self.peak.result(reap(self.proc, self.peak, timeout=30))


# -- the load -------------------------------------------------------------------------------------


def mix(last: date, category: str) -> list[tuple[str, str, dict]]:
    """The dashboard's requests: (name, path, query)."""
    d30, d90 = str(last - timedelta(days=29)), str(last - timedelta(days=89))
    return [
        ("kpis_latest_day", "/api/kpis", {"from": str(last), "to": str(last)}),
        ("kpis_30d_branch", "/api/kpis", {"from": d30, "to": str(last), "branch": MANAGER_BRANCHES[0]}),
        ("sales_category_week_90d", "/api/sales", {"by": "category", "grain": "week", "from": d90, "to": str(last)}),
        ("sales_branch_month_90d", "/api/sales", {"by": "branch", "grain": "month", "from": d90, "to": str(last)}),
        (
            "sales_channel_day_30d_category",
            "/api/sales",
            {"by": "channel", "grain": "day", "from": d30, "to": str(last), "category": category},
        ),
        ("realtime_60min", "/api/realtime", {"minutes": 60}),
    ]


def varied(query: dict, n: int) -> dict:
    """The `n`th variant of a request: its date range moved back and stretched (minutes for real time),
    so that consecutive requests of one kind never ask the same thing (the server's result cache misses)."""
    if "minutes" in query:
        return {**query, "minutes": 1 + n % 180}
    end = date.fromisoformat(query["to"]) - timedelta(days=n % 60)
    days = (date.fromisoformat(query["to"]) - date.fromisoformat(query["from"])).days + (n // 60) % 30
    return {**query, "from": str(end - timedelta(days=days)), "to": str(end)}


async def log_in(http: httpx.AsyncClient, username: str, password: str) -> None:
    """Log `http` in as a browser does: the login page for its CSRF token, then the form; keeps the cookie."""
    page = await http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or csrf is None:
        raise RuntimeError(f"GET /login: {page.status_code}, no CSRF token: {page.text[:500]}")
    r = await http.post("/login", data={"username": username, "password": password, "csrf_token": csrf.group(1)})
    if r.status_code != 303 or not http.cookies:
        raise RuntimeError(f"POST /login as {username}: {r.status_code} {r.text[:500]}")


async def _client(
    http: httpx.AsyncClient,
    kind: str,
    requests: list,
    offset: int,
    warm_until: float,
    end: float,
    samples: list,
    distinct: bool,
) -> None:
    i = offset
    while (now := time.perf_counter()) < end:
        name, path, query = requests[i % len(requests)]
        if distinct:
            query = varied(query, i)
        i += len(requests) * 7 + 1 if distinct else 1  # distinct: client c walks the variants c, c+43, ...
        try:
            r = await http.get(path, params=query)
            ok = r.status_code == 200 and bool(r.json()["rows"])
        except httpx.HTTPError:
            ok = False
        samples.append((name, time.perf_counter() - now, ok, now >= warm_until, kind))


def load(
    server: Server,
    tokens: dict[str, str],
    requests: list,
    clients: int,
    seconds: float,
    warmup: float,
    distinct: bool = False,
    first: str = ADMIN,
) -> dict:
    """`clients` clients back to back (every other one the branch manager, starting with `first`) for `warmup` +
    `seconds`; latencies per request, overall, per endpoint and per kind of client, and the server's CPU time
    per request (warm-up included). Each manager client first logs in through the login form, one after the
    other and before the clock starts (so the login throttle sees no burst), then sends its session cookie;
    each admin client sends the admin's bearer token."""
    samples: list[tuple[str, float, bool, bool, str]] = []
    other = {ADMIN: MANAGER, MANAGER: ADMIN}[first]
    who = [first if c % 2 == 0 else other for c in range(clients)]

    async def run() -> None:
        http_clients = [
            httpx.AsyncClient(
                base_url=server.url,
                timeout=60,
                headers={} if u == MANAGER else {"Authorization": f"Bearer {tokens[u]}"},
            )
            for u in who
        ]
        try:
            for http, username in zip(http_clients, who):
                if username == MANAGER:
                    await log_in(http, username, PASSWORD)
            start = time.perf_counter()
            await asyncio.gather(
                *(
                    _client(http, KINDS[u], requests, c, start + warmup, start + warmup + seconds, samples, distinct)
                    for c, (http, u) in enumerate(zip(http_clients, who))
                )
            )
        finally:
            for http in http_clients:
                await http.aclose()

    ours, theirs = psutil.Process().cpu_times(), server.cpu_seconds()
    asyncio.run(run())
    used, served = psutil.Process().cpu_times(), server.cpu_seconds() - theirs
    measured = [s for s in samples if s[3]]
    return {
        "clients": clients,
        "distinct_filters": distinct,
        "seconds": seconds,
        "overall": stats(measured, seconds),
        "endpoints": {name: stats([s for s in measured if s[0] == name], seconds) for name, _, _ in requests},
        "by_client": {KINDS[u]: stats([s for s in measured if s[4] == KINDS[u]], seconds) for u in dict.fromkeys(who)},
        "server_cpu_ms_per_request": round(1000 * served / len(samples), 1),
        "load_generator_cpu_s": round(used.user + used.system - ours.user - ours.system, 1),
        "load_average_after": round(os.getloadavg()[0], 1),
    }


def stats(samples: list[tuple[str, float, bool, bool, str]], seconds: float) -> dict:
    ms = sorted(1000 * s[1] for s in samples)
    if not ms:
        return {"requests": 0}
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "requests": len(ms),
        "requests_per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(ms[-1], 1),
        "errors": sum(not s[2] for s in samples),
    }


def serve_under_load(config: Path, tokens: dict[str, str], args, audit: bool) -> dict:
    server = Server(config, audit=audit, workers=args.workers if audit else 1)
    try:
        first = server.first_answer(tokens[ADMIN])
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[ADMIN]}"}) as http:
            last = date.fromisoformat(http.get("/api/kpis").json()["filters"]["end"])
            category = http.get("/api/choices").json()["categories"][0]
        requests = mix(last, category)
        runs = {
            f"{args.clients}_clients": load(server, tokens, requests, args.clients, args.seconds, args.warmup),
            f"{args.clients}_clients_distinct_filters": load(
                server, tokens, requests, args.clients, args.seconds, args.warmup, distinct=True
            ),
            "1_client": load(server, tokens, requests, 1, args.seconds / 2, args.warmup),
            "1_client_distinct_filters": load(
                server, tokens, requests, 1, args.seconds / 2, args.warmup, distinct=True
            ),
            "1_client_session": load(server, tokens, requests, 1, args.seconds / 2, args.warmup, first=MANAGER),
        }
    finally:
        peak = server.stop()
    return {
        "workers": args.workers if audit else 1,
        "first_answer_s": first,
        "server_peak_rss_mb": peak["peak_rss_mb"],
        "server_peak_rss_by_program": peak["peak_rss_by_program"],
        **runs,
    }


# -- the established tool, without the server ------------------------------------------------------

DIRECT = """
    import json, statistics, sys, time
    import duckdb
    from datetime import date, timedelta
    from almacen.config import load_config
    from almacen.lake import Lake
    from almacen.serve.filters import parse_filters
    from almacen.domains.sales.serve.marts import sql

    lake, last, category = Lake(load_config(sys.argv[1]).lake), date.fromisoformat(sys.argv[2]), sys.argv[3]
    kpi = parse_filters(last - timedelta(days=29), last, latest=last, default_days=30, branches=["palermo"])
    prev, week = kpi.shifted(kpi.days), kpi.shifted(7)
    queries = {
        "kpis_30d_branch": (sql("kpis"), {**kpi.params(), "prev_start": prev.start, "prev_end": prev.end,
                                          "week_start": week.start, "week_end": week.end}),
        "sales_category_week_90d": (sql("sales_by_category"), {
            **parse_filters(last - timedelta(days=89), last, latest=last, default_days=90).params(),
            "by": "category", "grain": "week"}),
    }
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; CREATE SCHEMA gold")

    def timed(n=200):
        out = {}
        for name, (text, params) in queries.items():
            used = {k: v for k, v in params.items() if "$" + k in text}
            ms = []
            for _ in range(n):
                t = time.perf_counter()
                rows = con.sql(text, params=used).fetch_arrow_table().num_rows
                ms.append(1000 * (time.perf_counter() - t))
            q = statistics.quantiles(ms, n=100, method="inclusive")
            out[name] = {"rows": rows, "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2)}
        return out

    tables = ("sales_tickets_daily", "sales_daily", "dim_branch")
    t = time.perf_counter()
    for name in tables:  # Parquet scanned by every query, through the Delta log's file list
        con.register(f"delta_{name}", lake.table(f"gold.{name}").to_pyarrow_dataset())
        con.execute(f"CREATE VIEW gold.{name} AS SELECT * FROM delta_{name}")
    open_s = time.perf_counter() - t
    scanned = timed(50)
    t = time.perf_counter()
    for name in tables:  # loaded once into DuckDB, as the server holds them
        con.execute(f"DROP VIEW gold.{name}; CREATE TABLE gold.{name} AS SELECT * FROM delta_{name}")
    load_s = time.perf_counter() - t
    print(json.dumps({"open_delta_s": round(open_s, 3), "delta_scan_per_query": scanned,
                      "load_into_memory_s": round(load_s, 3), "in_memory": timed()}))
"""


def direct(config: Path, last: date, category: str) -> dict:
    return measure([sys.executable, "-c", textwrap.dedent(DIRECT), str(config), str(last), category])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=Path("/tmp/almacen-bench-serve"), help="where the built lake is kept and reused"
    )
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--events", type=int, default=6_000, help="sale events streamed over the last hour")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--skip-no-audit", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="`almacen serve --workers` (the audited server)")
    args = ap.parse_args()
    os.environ.setdefault("ALMACEN_AUDIT_KEY", AUDIT_KEY)  # inherited by the servers
    config, data = prepare(args.data.resolve(), args.lines)
    data["streamed"] = stream_last_hour(config, args.events)
    tokens = credentials(config)
    report: dict = {
        "machine": {**machine(), "load_average_before": round(os.getloadavg()[0], 1)},
        "data": data,
        "code": str(Path(almacen.__file__).parents[1]),
        "target_p95_ms": 100,
    }
    report["serve"] = serve_under_load(config, tokens, args, audit=True)
    if not args.skip_no_audit:
        report["serve_without_audit"] = serve_under_load(config, tokens, args, audit=False)
    report["duckdb_direct"] = direct(config, date.fromisoformat(data["last_day"]), _category(config))
    report["targets"] = targets(report["serve"], args.clients)
    print(json.dumps(report, indent=2))


def targets(serve: dict, clients: int) -> dict:
    """The target, p95 under 100 ms with no errors under 20 clients, for the dashboard mix (the result
    cache's hits) and for distinct filters (its misses: every answer computed) alike."""
    out = {}
    for run in (f"{clients}_clients", f"{clients}_clients_distinct_filters"):
        overall = serve[run]["overall"]
        out[f"p95<100ms_{run}"] = bool(overall["requests"] and overall["errors"] == 0 and overall["p95_ms"] < 100)
    return out


def _category(config: Path) -> str:
    """The first category, as /api/choices lists it (the load's category filter)."""
    dim = Lake(load_config(config).lake).read("gold.dim_product", columns=["category"])
    return sorted(c for c in set(dim["category"].to_pylist()) if c)[0]


if __name__ == "__main__":
    main()
