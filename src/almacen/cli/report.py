"""Rich renderings of what a command did: run records, table counts, reconciliation."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from almacen.config import Settings
from almacen.domains.sales import Reconciliation
from almacen.ingest import batch_id
from almacen.lake import Lake
from almacen.monitor import RunRecord


def runs(console: Console, records: list[RunRecord]) -> None:
    """One line per branch: hours ok/failed/unsettled (ok, but empty and not final yet) and rows read,
    written, quarantined."""
    by_branch: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_branch[r.branch_id].append(r)
    t = Table(title="extraction", title_justify="left")
    for col in ("branch", "hours ok", "failed", "unsettled", "rows read", "written", "quarantined"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for branch, rs in sorted(by_branch.items()):
        failed = sum(r.status != "ok" for r in rs)
        unsettled = sum(bool(r.unsettled) for r in rs if r.status == "ok")
        t.add_row(branch, str(len(rs) - failed), f"[red]{failed}[/]" if failed else "0",
                  f"[yellow]{unsettled}[/]" if unsettled else "0",
                  f"{sum(r.rows_read for r in rs):,}", f"{sum(r.rows_written for r in rs):,}",
                  f"{sum(r.rows_quarantined for r in rs):,}")
    console.print(t)


def unsettled(console: Console, records: list[RunRecord], settle_hours: int) -> None:
    """One line per unsettled slice: an hour the branch normally sells in came back empty before the
    source was `settle_hours` past it; `--catch-up` reads it again."""
    for r in sorted((r for r in records if r.status == "ok" and r.unsettled), key=lambda r: (r.branch_id, r.window_start)):
        at = f"its latest row is at {r.source_latest:%Y-%m-%dT%H:%M} UTC" if r.source_latest else "it has no rows from the day before"
        console.print(f"[yellow]unsettled:[/] {r.branch_id} {r.window_start:%Y-%m-%dT%H}: 0 rows in an hour it "
                      f"normally sells in, and the source is not {settle_hours} h past it yet ({at}); "
                      "--catch-up reads it again", highlight=False, soft_wrap=True)


def counts(console: Console, counts: dict[str, int], settings: Settings) -> None:
    t = Table(title=f"tables in {Lake(settings.lake).path('gold.x').rsplit('/', 2)[0]}", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for table, n in sorted(counts.items()):
        t.add_row(table, f"{n:,}")
    console.print(t)


def reconciliation(console: Console, result: Reconciliation) -> None:
    """Per branch: hours compared, OK or FAIL; then one line per differing hour naming every measure that
    differs (source vs gold + quarantined) and the slices to re-extract."""
    for branch, error in result.errors.items():
        console.print(f"[red]{branch}: cannot reconcile: {error}[/]", highlight=False, soft_wrap=True)
    if result.rows.num_rows == 0:
        console.print("no sales in that window")
        return
    t = Table(title="reconciliation: source control = gold + quarantine, per branch and hour", title_justify="left")
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
    columns = {"tickets": "tickets", "approved tickets": "approved", "approved revenue": "revenue",
               "checksum": "checksum"}
    for r in result.differences.to_pylist():
        measures = [f"{m} {r['source_' + c]} vs {r['gold_' + c]}+{r['quarantined_' + c]}"
                    for m, c in columns.items() if m in r["differs"].split(", ")]
        slices = ", ".join(batch_id(r["branch_id"], h) for h in r["slices"] or [])
        todo = f"re-extract {slices}" if slices else "no slice to re-extract: gold disagrees with its own lines (rebuild)"
        console.print(f"[red]difference[/] {r['branch_id']} {r['hour']:%Y-%m-%dT%H}: {'; '.join(measures)}; {todo}",
                      highlight=False, soft_wrap=True)
