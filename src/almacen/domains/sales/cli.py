"""The sales domain's commands: `almacen reconcile`, `almacen top` and `almacen minutes`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from almacen.config import load_config
from almacen.domains.sales.reconcile import Reconciliation
from almacen.errors import UsageError
from almacen.ingest import batch_id
from almacen.terminal import (
    BranchOpt,
    ConfigOpt,
    audit_run,
    console,
    err,
    friendly,
    parse_day,
    parse_hour,
    parse_time,
    stop_on_signals,
)
from almacen.terminal import report


def install(app: typer.Typer) -> None:
    """Add the sales commands to the `almacen` app (`Domain.cli`)."""
    app.command()(reconcile)
    app.command()(top)
    app.command()(minutes)


@friendly
def reconcile(
    hour: Annotated[str | None, typer.Option(help="one hour (UTC), e.g. 2026-11-23T14")] = None,
    day: Annotated[str | None, typer.Option(help="a whole UTC day, e.g. 2026-11-23")] = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="re-extract the slices the differences name, rebuild, reconcile again")
    ] = False,
    branch: BranchOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Compare each source's control report with gold + quarantine per branch and hour of sale: tickets,
    approved tickets, approved revenue and a content checksum, exactly. Exits 1 while differences remain."""
    from almacen.domains.sales import reconcile as run
    from almacen.domains.sales.reconcile import fix as repair

    settings = load_config(config)
    if hour:
        start = parse_hour(hour)
        end = start + timedelta(hours=1)
    elif day:
        start = datetime.combine(parse_day(day), datetime.min.time(), timezone.utc)
        end = start + timedelta(days=1)
    else:
        raise UsageError("say what to reconcile: --hour or --day")
    result = run(settings, start, end, branch)
    show_reconciliation(console, result)
    fixed: list[str] = []
    if fix and not result.ok:
        if not result.slices:
            err.print("--fix: the differences name no slice to re-extract", highlight=False)
        else:
            with console.status(f"re-extracting {len(result.slices)} slices, rebuilding, reconciling again"):
                repaired = repair(settings, result, start, end, branch)
            report.runs(console, repaired.runs)
            fixed = [f"{r.branch_id}:{r.window_start:%Y-%m-%dT%H}" for r in repaired.runs if r.status == "ok"]
            result = repaired.after
            show_reconciliation(console, result)
    audit_run(
        settings,
        "reconcile",
        start=start,
        end=end,
        hours=result.rows.num_rows,
        differences=result.differences.num_rows,
        unreadable=sorted(result.errors),
        ok=result.ok,
        **({"re_extracted": fixed} if fix else {}),
    )
    if not result.ok:
        raise typer.Exit(1)


@friendly
def top(minutes: Annotated[int, typer.Option(help="minutes shown")] = 10, config: ConfigOpt = None) -> None:
    """A live view of the last minutes of sales, refreshed every second (Ctrl-C quits)."""
    _top(config, minutes)


@friendly
def minutes(
    last: Annotated[int, typer.Option(help="how many minutes back")] = 15,
    by: Annotated[str, typer.Option(help="comma-separated: branch_id, channel, payment_type, status")] = "",
    total: Annotated[bool, typer.Option(help="one row per group instead of per minute")] = False,
    status: Annotated[str | None, typer.Option(help="only this status, e.g. aprobada")] = None,
    until: Annotated[str | None, typer.Option(help="end of the window (default: now), ISO time")] = None,
    config: ConfigOpt = None,
) -> None:
    """Sales per minute from gold.sales_minute, grouped by any dimensions."""
    _minutes(console, config, last, by, total, status, until)


def _top(config: Path | None, minutes: int) -> None:
    from almacen.lake import Lake
    from almacen.domains.sales.realtime.top import live

    stop = stop_on_signals()
    live(Lake(load_config(config).lake), minutes, stop=stop.is_set)


def _minutes(
    console: Console, config: Path | None, last: int, by: str, total: bool, status: str | None, until: str | None
) -> None:
    from almacen.lake import Lake
    from almacen.domains.sales.realtime import sales_minutes

    dims = [d.strip() for d in by.split(",") if d.strip()]
    rows = sales_minutes(
        Lake(load_config(config).lake),
        last,
        dims,
        per_minute=not total,
        status=status,
        until=parse_time(until, "--until") if until else None,
    )
    table = Table(title=f"sales, last {last} minutes")
    for name in rows.column_names:
        table.add_column(name, justify="left" if name in ("minute", *dims) else "right")
    for r in rows.to_pylist():
        table.add_row(*[f"{v:%Y-%m-%d %H:%M}" if isinstance(v, datetime) else str(v) for v in r.values()])
    console.print(table)


def show_reconciliation(console: Console, result: Reconciliation) -> None:
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
        t.add_row(
            branch,
            str(len(rs)),
            f"{sum(r['source_tickets'] for r in rs):,}",
            f"{sum(r['quarantined_tickets'] for r in rs):,}",
            f"{sum(r['source_revenue'] for r in rs):,.2f}",
            f"{sum(r['quarantined_revenue'] for r in rs):,.2f}",
            "[green]OK[/]" if ok else "[red]FAIL[/]",
        )
    console.print(t)
    columns = {
        "tickets": "tickets",
        "approved tickets": "approved",
        "approved revenue": "revenue",
        "checksum": "checksum",
    }
    for r in result.differences.to_pylist():
        measures = [
            f"{m} {r['source_' + c]} vs {r['gold_' + c]}+{r['quarantined_' + c]}"
            for m, c in columns.items()
            if m in r["differs"].split(", ")
        ]
        slices = ", ".join(batch_id(r["branch_id"], h) for h in r["slices"] or [])
        todo = (
            f"re-extract {slices}" if slices else "no slice to re-extract: gold disagrees with its own lines (rebuild)"
        )
        console.print(
            f"[red]difference[/] {r['branch_id']} {r['hour']:%Y-%m-%dT%H}: {'; '.join(measures)}; {todo}",
            highlight=False,
            soft_wrap=True,
        )
