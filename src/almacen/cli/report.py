"""Rich renderings of what a command did: run records, table counts, reconciliation."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from almacen.config import Settings
from almacen.domains.sales import Reconciliation
from almacen.lake import Lake
from almacen.monitor import RunRecord


def runs(console: Console, records: list[RunRecord]) -> None:
    """One line per branch: hours ok/failed and rows read, written, quarantined."""
    by_branch: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_branch[r.branch_id].append(r)
    t = Table(title="extraction", title_justify="left")
    for col in ("branch", "hours ok", "failed", "rows read", "written", "quarantined"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for branch, rs in sorted(by_branch.items()):
        failed = sum(r.status != "ok" for r in rs)
        t.add_row(branch, str(len(rs) - failed), f"[red]{failed}[/]" if failed else "0",
                  f"{sum(r.rows_read for r in rs):,}", f"{sum(r.rows_written for r in rs):,}",
                  f"{sum(r.rows_quarantined for r in rs):,}")
    console.print(t)


def counts(console: Console, counts: dict[str, int], settings: Settings) -> None:
    t = Table(title=f"tables in {Lake(settings.lake).path('gold.x').rsplit('/', 2)[0]}", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for table, n in sorted(counts.items()):
        t.add_row(table, f"{n:,}")
    console.print(t)


def reconciliation(console: Console, result: Reconciliation) -> None:
    """Per branch: hours compared, OK or the differing hours."""
    for branch, error in result.errors.items():
        console.print(f"[red]{branch}: source unreadable: {error}[/]", highlight=False)
    if result.rows.num_rows == 0:
        console.print("no sales in that window")
        return
    t = Table(title="reconciliation: source = gold + quarantine, per branch and hour", title_justify="left")
    for col in ("branch", "hours", "source tickets", "in quarantine", "source revenue", "in quarantine", "status"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    rows = result.rows.to_pylist()
    for branch in sorted({r["branch_id"] for r in rows}):
        rs = [r for r in rows if r["branch_id"] == branch]
        ok = all(r["ok"] for r in rs)
        t.add_row(branch, str(len(rs)), f"{sum(r['source_tickets'] for r in rs):,}",
                  f"{sum(r['quarantined_tickets'] for r in rs):,}", f"{sum(r['source_revenue'] for r in rs):,.2f}",
                  f"{sum(r['quarantined_revenue'] for r in rs):,.2f}", "[green]OK[/]" if ok else "[red]FAIL[/]")
    console.print(t)
    for r in result.differences.to_pylist():
        console.print(f"[red]difference[/] {r['branch_id']} {r['hour']:%Y-%m-%dT%H}: tickets {r['source_tickets']} "
                      f"vs {r['gold_tickets']}+{r['quarantined_tickets']}, revenue {r['source_revenue']} vs "
                      f"{r['gold_revenue']}+{r['quarantined_revenue']}", highlight=False)
