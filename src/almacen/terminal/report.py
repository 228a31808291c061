"""Rich renderings of what a command did: run records, unsettled hours, table counts."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from almacen.config import Settings
from almacen.lake import Lake
from almacen.monitor import RunRecord


def runs(console: Console, records: list[RunRecord]) -> None:
    """One line per branch: hours ok/failed/unsettled (ok, but empty and not final yet) and rows read,
    written, quarantined."""
    by_branch: dict[str | None, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_branch[r.branch_id].append(r)
    t = Table(title="extraction", title_justify="left")
    for col in ("branch", "hours ok", "failed", "unsettled", "rows read", "written", "quarantined"):
        t.add_column(col, justify="left" if col == "branch" else "right")
    for branch, rs in sorted(by_branch.items()):
        failed = sum(r.status != "ok" for r in rs)
        unsettled = sum(bool(r.unsettled) for r in rs if r.status == "ok")
        t.add_row(
            branch,
            str(len(rs) - failed),
            f"[red]{failed}[/]" if failed else "0",
            f"[yellow]{unsettled}[/]" if unsettled else "0",
            f"{sum(r.rows_read for r in rs):,}",
            f"{sum(r.rows_written for r in rs):,}",
            f"{sum(r.rows_quarantined for r in rs):,}",
        )
    console.print(t)


def unsettled(console: Console, records: list[RunRecord], settle_hours: int) -> None:
    """One line per unsettled slice: an hour the branch normally sells in came back empty before the
    source was `settle_hours` past it; `--catch-up` reads it again."""
    for r in sorted(
        (r for r in records if r.status == "ok" and r.unsettled), key=lambda r: (r.branch_id, r.window_start)
    ):
        at = (
            f"its latest row is at {r.source_latest:%Y-%m-%dT%H:%M} UTC"
            if r.source_latest
            else "it has no rows from the day before"
        )
        console.print(
            f"[yellow]unsettled:[/] {r.branch_id} {r.window_start:%Y-%m-%dT%H}: 0 rows in an hour it "
            f"normally sells in, and the source is not {settle_hours} h past it yet ({at}); "
            "--catch-up reads it again",
            highlight=False,
            soft_wrap=True,
        )


def counts(console: Console, counts: dict[str, int], settings: Settings) -> None:
    t = Table(title=f"tables in {Lake(settings.lake).path('gold.x').rsplit('/', 2)[0]}", title_justify="left")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for table, n in sorted(counts.items()):
        t.add_row(table, f"{n:,}")
    console.print(t)
