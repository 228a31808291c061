"""The `almacen` command: simulate, extract, build, reconcile, stream, top, minutes, billing, demo, publish.

Every failure a user can cause (bad config, unreachable branch, missing table) ends in one red
line naming what and where, and a non-zero exit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from almacen.cli.admin import audit_app, run_totals, users_app
from almacen.cli.serve import serve
from almacen.cli.simulate import simulate_app
from almacen.clock import hour_start, hours_between, utc_now
from almacen.domains import REGISTRY
from almacen.config import load_config
from almacen.errors import UsageError
from almacen.terminal import report
from almacen.terminal import (
    BranchOpt,
    ConfigOpt,
    audit_run,
    cli_actor,
    console,
    err,
    friendly,
    parse_day,
    parse_hour,
    progress,
)

app = typer.Typer(
    help="almacen: a commerce data platform. Branch sales into a governed lakehouse.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
@friendly
def extract(
    hour: Annotated[str | None, typer.Option(help="one hour, e.g. 2026-11-23T14 (UTC)")] = None,
    since: Annotated[str | None, typer.Option(help="first hour of a range")] = None,
    until: Annotated[
        str | None, typer.Option(help="end of a range (exclusive; default: the last complete hour)")
    ] = None,
    catch_up: Annotated[
        bool, typer.Option("--catch-up", help="only the (branch, hour) slices not yet extracted")
    ] = False,
    branch: BranchOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Pull each branch's POS rows for the given hours into bronze, through quality into silver.

    With --hour and --catch-up the last `lookback_hours` of each branch are read again as well, and
    empty hours that are not final yet (unsettled) are reported; --catch-up reads them again."""
    from almacen.ingest import extract_slices, missed_slices
    from almacen.ingest.catchup import lookback_slices

    settings = load_config(config)
    last_complete = hour_start(utc_now())
    end = parse_hour(until) if until else last_complete
    if catch_up:
        slices = missed_slices(settings, parse_hour(since) if since else None, end, branch)
        slices = _with_lookback(slices, lookback_slices(settings, end, branch))
    elif hour:
        h = parse_hour(hour)
        slices = [(b, h) for b in (branch or [b.id for b in settings.branches if b.enabled])]
        slices = _with_lookback(slices, lookback_slices(settings, h, branch))
    elif since:
        slices = [
            (b, h)
            for h in hours_between(parse_hour(since), end)
            for b in (branch or [b.id for b in settings.branches if b.enabled])
        ]
    else:
        raise UsageError("say which hours: --hour, --since/--until or --catch-up")
    if not slices:
        console.print("nothing to extract: every (branch, hour) slice is already loaded")
        return
    with progress() as bar:
        task = bar.add_task("extracting", total=len(slices))
        records = extract_slices(
            settings, slices, on_progress=lambda n: bar.advance(task, n), extraction=REGISTRY.extraction()
        )
    report.runs(console, records)
    report.unsettled(console, records, settings.settle_hours)
    audit_run(settings, "extract", **run_totals(records))
    failed = [r for r in records if r.status != "ok"]
    if failed:
        for r in failed:
            err.print(f"[red]failed:[/] {r.branch_id} {r.window_start:%Y-%m-%dT%H}: {r.error}", highlight=False)
        raise typer.Exit(1)


def _with_lookback(slices: list[tuple[str, datetime]], again: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    """The slices asked for plus the lookback hours read again, each once, in hour order."""
    return sorted(set(slices) | set(again), key=lambda s: (s[1], s[0]))


@app.command()
@friendly
def build(config: ConfigOpt = None) -> None:
    """Rebuild the silver and gold models from the lake."""
    from almacen.domains import build as build_models

    settings = load_config(config)
    counts = build_models(settings)
    report.counts(console, counts, settings)
    audit_run(settings, "build", tables=counts)


@app.command()
@friendly
def stream(
    kind: Annotated[str, typer.Argument(help="sales (gold.sales_minute) or messaging (gold.usage_minute)")] = "sales",
    until_idle: Annotated[bool, typer.Option(help="stop when a poll brings no events")] = False,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    config: ConfigOpt = None,
) -> None:
    """Consume events (landing folder or Kafka) into bronze, quarantine and their per-minute gold, exactly once."""
    from almacen.cli import stream as cmd

    cmd.stream(console, config, until_idle, seconds, kind)


@app.command()
@friendly
def demo(
    folder: Annotated[Path, typer.Option(help="where the demo's databases and lake go")] = Path("demo"),
    branches: int = 5,
    day: Annotated[str, typer.Option(help="the day to simulate")] = "2026-11-23",
    scale: float = 1.0,
) -> None:
    """Simulate a retail chain's day, extract it hour by hour, build gold, reconcile, and summarise."""
    from almacen.cli.demo import run_demo

    run_demo(console, folder, branches, parse_day(day), scale)


@app.command()
@friendly
def publish(
    postgres: Annotated[
        str, typer.Option(help="postgresql://user@host:port/db; password from $ALMACEN_PUBLISH_PASSWORD or $PGPASSWORD")
    ],
    schema: Annotated[str, typer.Option(help="the published schema, replaced whole")] = "almacen",
    config: ConfigOpt = None,
) -> None:
    """Copy the gold marts into a PostgreSQL schema with roles, each table readable as its access scope says
    (rows cut per branch or per client, admins only, or public), for BI tools."""
    from almacen.domains import access
    from almacen.lake import Lake
    from almacen.security import audit_log
    from almacen.security.demo import refuse_demo_lake
    from almacen.serve.publish import publish as run

    settings = load_config(config)
    refuse_demo_lake(settings, "publish")
    # every table's access scope, declared beside its definition in the core and the domains
    done = run(
        Lake(settings.lake), postgres, schema=schema, actor=cli_actor(), access=access(), audit=audit_log(settings)
    )
    for table, rows in done.tables.items():
        console.print(f"{schema}.{table}: {rows:,} rows, {done.access[table]}", highlight=False)
    for user, role in done.user_roles.items():
        console.print(f"user {user}: role {role}", highlight=False)
    console.print(f"published to {done.target} in {done.seconds:.1f} s", highlight=False)


app.command()(serve)
app.add_typer(simulate_app, name="simulate")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
REGISTRY.install_cli(app)  # each domain's commands and sub-apps (`Domain.cli`)
