"""`almacen demo`: a simulated chain's day, extracted hour by hour as the hourly job would, then gold.

The simulation advances one hour at a time and each hour is extracted right after it, so a
sale that was `pendiente` at 14:00 and `aprobada` at 17:00 reaches bronze twice and silver once.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from almacen.cli import report
from almacen.cli.main import progress
from almacen.config import load_config
from almacen.domains.sales import Reconciliation, reconcile
from almacen.ingest import extract
from almacen.lake import Lake
from almacen.models import build
from almacen.simulate import demo_config, simulate_chain

SETTLE_HOURS = 8
"""hours after the day ends still extracted, so late status updates land"""


def run_demo(console: Console, folder: Path, branches: int, day: date, scale: float) -> None:
    for sub in ("pos", "lakehouse"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    settings = load_config(demo_config(folder, branches))
    start = datetime.combine(day, datetime.min.time(), timezone.utc)
    hours = [start + timedelta(hours=i) for i in range(24 + SETTLE_HOURS)]
    records = []
    with progress() as bar:
        task = bar.add_task("simulating and extracting hour by hour", total=len(hours))
        for hour in hours:
            simulate_chain(settings, day, until=hour + timedelta(hours=1), scale=scale)
            records += extract(settings, [hour])
            bar.advance(task)
    report.runs(console, records)
    counts = build(settings)
    result = reconcile(settings, start, start + timedelta(days=1))
    report.reconciliation(console, result)
    _summary(console, settings.lake, result)
    report.counts(console, counts, settings)
    console.print(f"\nconfig: {folder / 'almacen.toml'}   lake: {Path(settings.lake).resolve()}")
    console.print("next: [bold]almacen extract --catch-up -c demo/almacen.toml[/], "
                  "[bold]almacen reconcile --day " + day.isoformat() + " -c demo/almacen.toml[/]")


def _summary(console: Console, lake_root: str, result: Reconciliation) -> None:
    """Per branch revenue, tickets, average ticket and quarantined rows, from gold and quarantine."""
    lake = Lake(lake_root)
    facts = lake.read("gold.fact_sales", ["branch_id", "status", "lines_amount"])
    approved = facts.filter(pc.equal(facts["status"], "aprobada"))
    by_branch = {r["branch_id"]: r for r in approved.group_by("branch_id").aggregate(
        [("lines_amount", "sum"), ("branch_id", "count")]).to_pylist()}
    quarantined: dict[str, int] = {}
    for table in ("quarantine.sales", "quarantine.sales_lines"):
        q = lake.read(table, ["branch_id"])
        for r in (q.group_by("branch_id").aggregate([("branch_id", "count")]).to_pylist() if q else []):
            quarantined[r["branch_id"]] = quarantined.get(r["branch_id"], 0) + r["branch_id_count"]
    names = {r["branch_id"]: r["name"] for r in lake.read("gold.dim_branch").to_pylist()}
    t = Table(title="the day, by branch (approved sales)", title_justify="left")
    for col in ("branch", "revenue (ARS)", "tickets", "avg ticket", "quarantined rows", "reconciliation"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for branch, name in names.items():
        r = by_branch.get(branch, {"lines_amount_sum": 0, "branch_id_count": 0})
        revenue, tickets = r["lines_amount_sum"] or 0, r["branch_id_count"]
        reconciled = branch not in result.errors and all(
            r["ok"] for r in result.rows.to_pylist() if r["branch_id"] == branch)
        t.add_row(name, f"{revenue:,.0f}", f"{tickets:,}", f"{revenue / tickets:,.0f}" if tickets else "-",
                  f"{quarantined.get(branch, 0):,}", "[green]OK[/]" if reconciled else "[red]FAIL[/]")
    console.print(t)
