"""`almacen demo`: a simulated chain's day, extracted hour by hour as the hourly job would, then gold;
beside it, live sale events streamed through the landing folder into the minute rollups; and a
month of the messaging platform's traffic streamed, metered per minute and invoiced.

The simulation advances one hour at a time and each hour is extracted right after it, so a
sale that was `pendiente` at 14:00 and `aprobada` at 17:00 reaches bronze twice and silver once.
"""

from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from almacen.clock import day_start
from almacen.domains.sales.cli import show_reconciliation
from almacen.terminal import report
from almacen.config import load_config
from almacen.config import Settings
from almacen.domains.sales import Reconciliation, reconcile
from almacen.domains.sales import extract
from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor, Totals
from almacen.lake import Lake
from almacen.domains.sales import build
from almacen.domains.sales.realtime import sales_minutes
from almacen.security import Users
from almacen.simulate import demo_config, simulate_chain
from almacen.simulate.events import EventMaker, emit
from almacen.sources.landing import LandingWriter
from almacen.terminal import progress

SETTLE_HOURS = 8
"""hours after the day ends still extracted, so late status updates land"""
HISTORY_DAYS = 7
"""days before the demo day, simulated and extracted in one go, so the dashboard has trends to show"""
DEMO_USERS = {"gerencia": ("admin", ()), "analista": ("analyst", ()), "auditoria": ("auditor", ())}
DEMO_PASSWORD = "tienda-de-prueba-2026"


def run_demo(console: Console, folder: Path, branches: int, day: date, scale: float) -> None:
    for sub in ("pos", "lakehouse", "landing"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    settings = load_config(demo_config(folder, branches, local_time=True))
    start = day_start(day)
    hours = [start + timedelta(hours=i) for i in range(24 + SETTLE_HOURS)]
    records = []
    with progress() as bar:
        task = bar.add_task(f"simulating and extracting the {HISTORY_DAYS} days before", total=HISTORY_DAYS)
        for back in range(HISTORY_DAYS, 0, -1):
            simulate_chain(settings, day - timedelta(days=back), scale=scale)
            bar.advance(task)
        first = start - timedelta(days=HISTORY_DAYS)
        records += extract(settings, [first + timedelta(hours=i) for i in range(24 * HISTORY_DAYS)])
    with live_stream(settings) as streamed, progress() as bar:
        task = bar.add_task("simulating and extracting hour by hour (events streaming beside)", total=len(hours))
        for hour in hours:
            simulate_chain(settings, day, until=hour + timedelta(hours=1), scale=scale)
            records += extract(settings, [hour])
            bar.advance(task)
    report.runs(console, records)
    counts = build(settings)
    result = reconcile(settings, start, start + timedelta(days=1))
    show_reconciliation(console, result)
    _summary(console, settings.lake, result)
    report.counts(console, counts, settings)
    _realtime(console, settings, streamed)
    _messaging(console, settings, folder / "messaging")
    _demo_users(settings)
    console.print(f"\nconfig: {folder / 'almacen.toml'}   lake: {Path(settings.lake).resolve()}")
    console.print(
        f"dashboard: [bold]almacen serve -c {folder / 'almacen.toml'}[/] then http://127.0.0.1:8000/ — "
        f"users {', '.join(DEMO_USERS)} and {settings.branches[0].id} (a branch manager), "
        f"password {DEMO_PASSWORD}"
    )
    console.print(
        "next: [bold]almacen extract --catch-up -c demo/almacen.toml[/], "
        "[bold]almacen reconcile --day " + day.isoformat() + " -c demo/almacen.toml[/]"
    )
    console.print(
        "billing: [bold]almacen billing show --month 2026-10 --client c00001 -c demo/almacen.toml[/]; "
        "docs/messaging.md for a retroactive price change and its credit/debit notes"
    )
    console.print(
        "live: [bold]almacen simulate stream --rate 50/s --duration 600 -c demo/almacen.toml[/] with "
        "[bold]almacen stream -c demo/almacen.toml[/] and [bold]almacen top -c demo/almacen.toml[/]"
    )


@contextmanager
def live_stream(settings: Settings, rate: float = 200.0):
    """Sale events at `rate` per second into the landing folder, ingested as they come, while the block runs."""
    stop = threading.Event()
    maker = EventMaker([b.id for b in settings.branches], seed=7, run="demo")
    writer = LandingWriter(settings.stream.landing, "demo", file_events=10_000)
    emitter = threading.Thread(
        target=emit,
        args=(maker, lambda lines: writer.write([x for _, x in lines]), rate, 3600.0),
        kwargs={"bad_fraction": 0.002, "stop": stop.is_set},
    )
    ingestor = StreamIngestor(settings, kind=SALES)
    ingestor.start()
    totals: list[Totals] = []
    consumer = threading.Thread(target=lambda: totals.append(ingestor.run(stop)))
    emitter.start()
    consumer.start()
    try:
        yield totals
    finally:
        stop.set()
        emitter.join()
        consumer.join()
        ingestor.run(until_idle=True)  # what was emitted last
        ingestor.close()


def _messaging(console: Console, settings: Settings, folder: Path, clients: int = 200, events: int = 120_000) -> None:
    """October 2026 of a messaging platform (and two days of November, so the month is complete):
    streamed into gold.usage_minute, conversations built, every client's invoice drafted and issued."""
    from almacen.domains.messaging.build import build_messaging
    from almacen.domains.messaging.ledger import draft_month, issue_month
    from almacen.domains.messaging.reference import store_clients, store_rate_card
    from almacen.domains.messaging import MESSAGING
    from almacen.simulate.messaging import MessageMaker, build_world, write_reference

    shutil.rmtree(folder, ignore_errors=True)
    lake, world = Lake(settings.lake), build_world(clients, seed=7, start=date(2026, 9, 1))
    accounts, rates = write_reference(world, folder)
    store_clients(lake, accounts)
    store_rate_card(lake, rates)
    maker = MessageMaker(
        world,
        seed=7,
        start=datetime(2026, 10, 1, tzinfo=timezone.utc),
        per_second=events / 3.5 / (33 * 86_400),
        run="demo",
    )
    LandingWriter(settings.messaging.stream.landing, "demo", file_events=20_000).write(
        [line for _, line in maker.events(events) + maker.flush()]
    )
    ingestor = StreamIngestor(settings, kind=MESSAGING)
    ingestor.start()
    try:
        done = ingestor.run(until_idle=True)
    finally:
        ingestor.close()
    counts = build_messaging(settings)
    october = date(2026, 10, 1)
    draft_month(settings, october)
    issued = issue_month(settings, october)
    usage = _built(lake, "gold.usage_minute")
    console.print(
        f"\n[bold]messaging[/]: {done.read:,} events of {clients} client accounts streamed, "
        f"{done.quarantined:,} quarantined; {pc.sum(usage['sent']).as_py():,} templates sent, "
        f"{pc.sum(usage['billable']).as_py():,} billable; {counts['gold.conversations']:,} conversations"
    )
    invoices = _built(lake, "gold.invoices").sort_by([("total", "descending")]).slice(0, 5)
    t = Table(
        title=f"October 2026: {issued.documents} invoices issued, USD {issued.total:,.2f} in all — the largest",
        title_justify="left",
    )
    for col in ("invoice", "subtotal", "discount", "total (USD)"):
        t.add_column(col, justify="left" if col == "invoice" else "right")
    for r in invoices.to_pylist():
        t.add_row(r["invoice_id"], f"{r['subtotal']:,.2f}", f"{r['discount']:,.2f}", f"{r['total']:,.2f}")
    console.print(t)


def _built(lake: Lake, table: str, columns: list[str] | None = None) -> pa.Table:
    """A table the demo's earlier steps wrote (they raise when they cannot)."""
    data = lake.read(table, columns)
    assert data is not None, f"the demo's build left no {table} at {lake.path(table)}"
    return data


def _demo_users(settings: Settings) -> None:
    """One user per role, with a published demo password (demo mode only: change them for real use)."""
    users = Users(Lake(settings.lake))
    for name, (role, branches) in {
        **DEMO_USERS,
        settings.branches[0].id: ("branch_manager", (settings.branches[0].id,)),
    }.items():
        users.add(name, DEMO_PASSWORD, role, branches)


def _realtime(console: Console, settings: Settings, streamed: list[Totals]) -> None:
    """What the stream ingested while the day was extracted, and the last minutes from gold.sales_minute."""
    done = streamed[0] if streamed else Totals()
    console.print(
        f"\n[bold]real time[/]: {done.read:,} events streamed, {done.written:,} in bronze.sales_events, "
        f"{done.quarantined:,} quarantined, {done.late:,} late"
    )
    rows = sales_minutes(Lake(settings.lake), 5, ["channel"], status="aprobada")
    t = Table(title="approved sales per minute, last 5 minutes (gold.sales_minute)", title_justify="left")
    for col in ("minute (UTC)", "channel", "sales", "amount (ARS)"):
        t.add_column(col, justify="left" if col in ("minute (UTC)", "channel") else "right")
    for r in rows.to_pylist():
        t.add_row(f"{r['minute']:%H:%M}", r["channel"], f"{r['events']:,}", f"{r['amount']:,.0f}")
    console.print(t)


def _summary(console: Console, lake_root: str, result: Reconciliation) -> None:
    """Per branch revenue, tickets, average ticket and quarantined rows, from gold and quarantine."""
    lake = Lake(lake_root)
    facts = _built(lake, "gold.fact_sales", ["branch_id", "status", "lines_amount"])
    approved = facts.filter(pc.equal(facts["status"], "aprobada"))
    by_branch = {
        r["branch_id"]: r
        for r in approved.group_by("branch_id").aggregate([("lines_amount", "sum"), ("branch_id", "count")]).to_pylist()
    }
    quarantined: dict[str, int] = {}
    for table in ("quarantine.sales", "quarantine.sales_lines"):
        q = lake.read(table, ["branch_id"])
        for r in q.group_by("branch_id").aggregate([("branch_id", "count")]).to_pylist() if q else []:
            quarantined[r["branch_id"]] = quarantined.get(r["branch_id"], 0) + r["branch_id_count"]
    names = {r["branch_id"]: r["name"] for r in _built(lake, "gold.dim_branch").to_pylist()}
    t = Table(title="the day, by branch (approved sales)", title_justify="left")
    for col in ("branch", "revenue (ARS)", "tickets", "avg ticket", "quarantined rows", "reconciliation"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for branch, name in names.items():
        r = by_branch.get(branch, {"lines_amount_sum": 0, "branch_id_count": 0})
        revenue, tickets = r["lines_amount_sum"] or 0, r["branch_id_count"]
        reconciled = branch not in result.errors and all(
            r["ok"] for r in result.rows.to_pylist() if r["branch_id"] == branch
        )
        t.add_row(
            name,
            f"{revenue:,.0f}",
            f"{tickets:,}",
            f"{revenue / tickets:,.0f}" if tickets else "-",
            f"{quarantined.get(branch, 0):,}",
            "[green]OK[/]" if reconciled else "[red]FAIL[/]",
        )
    console.print(t)
