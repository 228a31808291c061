"""The `almacen` command: simulate, extract, build, reconcile, stream, top, minutes, billing, demo, publish.

Every failure a user can cause (bad config, unreachable branch, missing table) ends in one red
line naming what and where, and a non-zero exit.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from almacen.cli import report
from almacen.clock import hour_start
from almacen.config import load_config

app = typer.Typer(help="almacen: a commerce data platform. Branch sales into a governed lakehouse.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="almacen.toml (default $ALMACEN_CONFIG or ./almacen.toml)")]
BranchOpt = Annotated[list[str] | None, typer.Option("--branch", "-b", help="only this branch (repeatable)")]


def friendly(fn):
    """Turn expected failures into one line on stderr and exit code 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (ValueError, LookupError, RuntimeError, OSError) as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    return wrapper


def parse_hour(text: str) -> datetime:
    """`2026-11-23T14` (UTC unless an offset is given) -> the start of that hour, in UTC."""
    try:
        value = datetime.fromisoformat(text if len(text) > 13 else text + ":00")
    except ValueError:
        raise ValueError(f"--hour/--since/--until: {text!r} is not an hour like 2026-11-23T14") from None
    return hour_start(value)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    out = []
    while start < end:
        out.append(start)
        start += timedelta(hours=1)
    return out


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


@app.command()
@friendly
def extract(
    hour: Annotated[str | None, typer.Option(help="one hour, e.g. 2026-11-23T14 (UTC)")] = None,
    since: Annotated[str | None, typer.Option(help="first hour of a range")] = None,
    until: Annotated[str | None, typer.Option(help="end of a range (exclusive; default: the last complete hour)")] = None,
    catch_up: Annotated[bool, typer.Option("--catch-up", help="only the (branch, hour) slices not yet extracted")] = False,
    branch: BranchOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Pull each branch's POS rows for the given hours into bronze, through quality into silver.

    With --hour and --catch-up the last `lookback_hours` of each branch are read again as well, and
    empty hours that are not final yet (unsettled) are reported; --catch-up reads them again."""
    from almacen.ingest import extract_slices, missed_slices
    from almacen.ingest.catchup import lookback_slices

    settings = load_config(config)
    last_complete = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    end = parse_hour(until) if until else last_complete
    if catch_up:
        slices = missed_slices(settings, parse_hour(since) if since else None, end, branch)
        slices = _with_lookback(slices, lookback_slices(settings, end, branch))
    elif hour:
        h = parse_hour(hour)
        slices = [(b, h) for b in (branch or [b.id for b in settings.branches if b.enabled])]
        slices = _with_lookback(slices, lookback_slices(settings, h, branch))
    elif since:
        slices = [(b, h) for h in hours_between(parse_hour(since), end)
                  for b in (branch or [b.id for b in settings.branches if b.enabled])]
    else:
        raise ValueError("say which hours: --hour, --since/--until or --catch-up")
    if not slices:
        console.print("nothing to extract: every (branch, hour) slice is already loaded")
        return
    with progress() as bar:
        task = bar.add_task("extracting", total=len(slices))
        records = extract_slices(settings, slices, on_progress=lambda n: bar.advance(task, n))
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
    from almacen.models import build as build_models

    settings = load_config(config)
    counts = build_models(settings)
    report.counts(console, counts, settings)
    audit_run(settings, "build", tables=counts)


@app.command()
@friendly
def reconcile(
    hour: Annotated[str | None, typer.Option(help="one hour (UTC), e.g. 2026-11-23T14")] = None,
    day: Annotated[str | None, typer.Option(help="a whole UTC day, e.g. 2026-11-23")] = None,
    fix: Annotated[bool, typer.Option("--fix", help="re-extract the slices the differences name, rebuild, "
                                                     "reconcile again")] = False,
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
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc)
        end = start + timedelta(days=1)
    else:
        raise ValueError("say what to reconcile: --hour or --day")
    result = run(settings, start, end, branch)
    report.reconciliation(console, result)
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
            report.reconciliation(console, result)
    audit_run(settings, "reconcile", start=start, end=end, hours=result.rows.num_rows,
              differences=result.differences.num_rows, unreadable=sorted(result.errors), ok=result.ok,
              **({"re_extracted": fixed} if fix else {}))
    if not result.ok:
        raise typer.Exit(1)


simulate_app = typer.Typer(help="Simulated data: a day of branch sales (--day), a stream of sale events (stream), "
                                 "or messaging traffic (messaging).",
                            no_args_is_help=True, invoke_without_command=True)
app.add_typer(simulate_app, name="simulate")


@simulate_app.callback()
@friendly
def simulate(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option(help="the business day to simulate, e.g. 2026-11-23")] = None,
    until: Annotated[str | None, typer.Option(help="apply events up to this hour only (UTC)")] = None,
    seed: int = 7,
    scale: float = 1.0,
    bad_rows: Annotated[float, typer.Option(help="share of sales with one defect")] = 0.002,
    config: ConfigOpt = None,
) -> None:
    """Write a simulated day of sales into every branch's POS database."""
    if ctx.invoked_subcommand:
        return
    if day is None:
        raise ValueError("simulate: give --day 2026-11-23 for a day of branch sales, or use `almacen simulate stream`")
    from almacen.simulate import simulate_chain

    settings = load_config(config)
    summary = simulate_chain(settings, date.fromisoformat(day), until=parse_hour(until) if until else None,
                             seed=seed, scale=scale, bad_rows=bad_rows)
    console.print(summary)


@simulate_app.command("stream")
@friendly
def simulate_stream(
    rate: Annotated[str, typer.Option(help="events per time: 2/s, 100000/s, 30/min, 1/5s")] = "2/s",
    duration: Annotated[float, typer.Option(help="seconds to emit for")] = 60.0,
    seed: int = 7,
    kafka: Annotated[str | None, typer.Option(help="bootstrap servers, e.g. 127.0.0.1:9092 (default: landing folder)")] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic (default stream.kafka.topic)")] = None,
    landing: Annotated[Path | None, typer.Option(help="landing folder (default stream.landing)")] = None,
    bad: Annotated[float, typer.Option(help="share of defective events")] = 0.0,
    kinds: Annotated[str, typer.Option(help="which defects: bad (invalid events), poison (tombstones, binary, "
                                            "empty, oversized...), all, or names separated by commas")] = "bad",
    config: ConfigOpt = None,
) -> None:
    """Emit sale events from the simulated chain, keyed by branch."""
    from almacen.cli import stream as cmd

    cmd.simulate_stream(console, config, rate, duration, seed, kafka, topic, landing, bad, kinds)


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
def top(minutes: Annotated[int, typer.Option(help="minutes shown")] = 10, config: ConfigOpt = None) -> None:
    """A live view of the last minutes of sales, refreshed every second (Ctrl-C quits)."""
    from almacen.cli import stream as cmd

    cmd.top(config, minutes)


@app.command()
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
    from almacen.cli import stream as cmd

    cmd.minutes(console, config, last, by, total, status, until)


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

    run_demo(console, folder, branches, date.fromisoformat(day), scale)


@app.command()
@friendly
def publish(
    postgres: Annotated[str, typer.Option(help="postgresql://user@host:port/db; password from $ALMACEN_PUBLISH_PASSWORD or $PGPASSWORD")],
    schema: Annotated[str, typer.Option(help="the published schema, replaced whole")] = "almacen",
    config: ConfigOpt = None,
) -> None:
    """Copy the gold marts into a PostgreSQL schema with roles, each table readable as its access scope says
    (rows cut per branch or per client, admins only, or public), for BI tools."""
    from almacen.cli.admin import cli_actor
    from almacen.domains import access
    from almacen.lake import Lake
    from almacen.security import audit_log
    from almacen.security.demo import refuse_demo_lake
    from almacen.serve.publish import publish as run

    settings = load_config(config)
    refuse_demo_lake(settings, "publish")
    # every table's access scope, declared beside its definition in the core and the domains
    done = run(Lake(settings.lake), postgres, schema=schema, actor=cli_actor(), access=access(),
               audit=audit_log(settings))
    for table, rows in done.tables.items():
        console.print(f"{schema}.{table}: {rows:,} rows, {done.access[table]}", highlight=False)
    for user, role in done.user_roles.items():
        console.print(f"user {user}: role {role}", highlight=False)
    console.print(f"published to {done.target} in {done.seconds:.1f} s", highlight=False)


from almacen.cli import serve as _serve  # noqa: E402,F401 - registers `almacen serve`
from almacen.cli.admin import audit_app, audit_run, run_totals, users_app  # noqa: E402 - uses friendly and ConfigOpt above
from almacen.cli.billing import billing_app  # noqa: E402 - also registers `almacen simulate messaging`

app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(billing_app, name="billing")
