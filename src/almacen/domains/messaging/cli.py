"""`almacen billing …`: the messaging platform's client accounts, rate cards and invoices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from almacen.clock import utc_now
from almacen.config import load_config
from almacen.lake import Lake
from almacen.terminal import ConfigOpt, audit_run, console, friendly

billing_app = typer.Typer(
    help="Messaging billing: client accounts, rate cards, invoices and adjustments.", no_args_is_help=True
)
clients_app = typer.Typer(help="Client accounts and their contracts (versioned in the lake).", no_args_is_help=True)
rates_app = typer.Typer(help="Rate cards with effective dates (versioned in the lake).", no_args_is_help=True)
billing_app.add_typer(clients_app, name="clients")
billing_app.add_typer(rates_app, name="rates")
MonthOpt = Annotated[str, typer.Option("--month", help="the month, e.g. 2026-10 (UTC)")]


@clients_app.command("load")
@friendly
def clients_load(file: Path, config: ConfigOpt = None) -> None:
    """Validate clients.toml and store it as the next version of silver.clients / silver.contracts."""
    from almacen.domains.messaging.reference import store_clients

    _store(config, file, store_clients, "clients", "client accounts")


@rates_app.command("load")
@friendly
def rates_load(file: Path, config: ConfigOpt = None) -> None:
    """Validate rates.toml and store it as the next version of silver.rate_cards."""
    from almacen.domains.messaging.reference import store_rate_card

    _store(config, file, store_rate_card, "rates", "prices")


def _store(config: Path | None, file: Path, store, what: str, unit: str) -> None:
    """Store a reference file as a new version, say which, and audit it as `billing.<what>`."""

    settings = load_config(config)
    version, n = store(Lake(settings.lake), file)
    console.print(
        f"{'clients' if what == 'clients' else 'rate card'} version {version}: {n:,} {unit} from {file}",
        highlight=False,
    )
    audit_run(settings, f"billing.{what}", version=version, rows=n, file=str(file))


@billing_app.command("build")
@friendly
def build(config: ConfigOpt = None) -> None:
    """Rebuild silver.messages and the conversation tables from bronze.message_events."""
    from almacen.domains.messaging.build import build_messaging

    settings = load_config(config)
    for table, n in build_messaging(settings).items():
        console.print(f"{table}: {n:,} rows", highlight=False)


@billing_app.command("invoice")
@friendly
def invoice(
    month: MonthOpt,
    force: Annotated[bool, typer.Option(help="draft an incomplete month (provisional)")] = False,
    config: ConfigOpt = None,
) -> None:
    """Draft the month's invoice of every client (replacing earlier drafts); `issue` makes them final."""
    from almacen.domains.messaging.ledger import draft_month, month_start

    settings = load_config(config)
    run = draft_month(settings, month_start(month), force=force)
    _summary("drafted", run)
    audit_run(
        settings,
        "billing.invoice",
        month=month,
        drafts=run.documents,
        total=str(run.total),
        provisional=run.provisional,
    )


@billing_app.command("issue")
@friendly
def issue(
    month: MonthOpt,
    force: Annotated[bool, typer.Option(help="issue provisional drafts too")] = False,
    config: ConfigOpt = None,
) -> None:
    """Issue the month's drafts: from then on they are never changed (recalc adds credit/debit notes)."""
    from almacen.domains.messaging.ledger import issue_month, month_start

    settings = load_config(config)
    run = issue_month(settings, month_start(month), force=force)
    _summary("issued", run)
    audit_run(settings, "billing.issue", month=month, invoices=run.documents, total=str(run.total))


@billing_app.command("recalc")
@friendly
def recalc(
    since: Annotated[str, typer.Option(help="first month to recompute, e.g. 2026-08")],
    until: Annotated[str | None, typer.Option(help="last month (default: the last one issued)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Recompute months after a rate card or contract change: adjustment notes for what was issued."""
    from almacen.domains.messaging.ledger import month_start
    from almacen.domains.messaging.ledger import recalc as run_recalc

    settings = load_config(config)
    runs = run_recalc(settings, month_start(since), month_start(until) if until else None)
    for run in runs:
        _summary("adjustment notes", run)
    audit_run(
        settings,
        "billing.recalc",
        since=since,
        notes=sum(r.documents for r in runs),
        total=str(sum(r.total for r in runs)),
    )


@billing_app.command("show")
@friendly
def show(
    month: MonthOpt,
    client: Annotated[str | None, typer.Option(help="one client's documents and lines")] = None,
    drafts: Annotated[bool, typer.Option(help="the drafts instead of the issued ledger")] = False,
    config: ConfigOpt = None,
) -> None:
    """The month's invoices and notes (and, for one client, their lines)."""
    from almacen.domains.messaging.ledger import DRAFT_LINES, DRAFTS, INVOICES, LINES, month_rows, month_start

    lake = Lake(load_config(config).lake)
    m = month_start(month)
    docs, lines = (
        month_rows(lake, DRAFTS if drafts else INVOICES, m),
        month_rows(lake, DRAFT_LINES if drafts else LINES, m),
    )
    if client:
        docs = docs.filter(docs["client_id"].to_numpy(zero_copy_only=False) == client)
        lines = lines.filter(lines["client_id"].to_numpy(zero_copy_only=False) == client)
    _print(
        docs.select(
            ["invoice_id", "client_id", "kind", "references", "status", "provisional", "subtotal", "discount", "total"]
        ),
        f"{'drafts' if drafts else 'invoices'} {month}",
    )
    if client:
        _print(
            lines.select(
                [
                    "invoice_id",
                    "line_no",
                    "category",
                    "country",
                    "tier",
                    "quantity",
                    "free_quantity",
                    "unit_price",
                    "amount",
                    "rate_card_version",
                ]
            ),
            "lines",
        )


@billing_app.command("pending")
@friendly
def pending(config: ConfigOpt = None) -> None:
    """Status events still waiting for their message (never sent, or not arrived yet)."""
    from almacen.domains.messaging.build import pending_statuses

    rows = pending_statuses(load_config(config))
    now = utc_now()
    console.print(f"{rows.num_rows:,} status events wait for a message that was never seen", highlight=False)
    if rows.num_rows:
        oldest = min(rows["event_time"].to_pylist())
        console.print(
            f"oldest: {oldest:%Y-%m-%d %H:%M:%S}Z ({(now - oldest).total_seconds() / 3600:,.1f} h ago)", highlight=False
        )
        _print(rows.slice(0, 20), "first 20")


def _summary(what: str, run) -> None:
    flag = " (provisional)" if run.provisional else ""
    console.print(f"{run.month:%Y-%m}: {run.documents:,} {what}{flag}, total {run.total:,.2f}", highlight=False)
    for line in run.skipped[:10]:
        console.print(f"  skipped {line}", highlight=False)
    if len(run.skipped) > 10:
        console.print(f"  … and {len(run.skipped) - 10:,} more skipped", highlight=False)


def _print(rows, title: str) -> None:
    table = Table(title=title)
    for name in rows.column_names:
        table.add_column(name)
    for r in rows.to_pylist():
        table.add_row(*["" if v is None else str(v) for v in r.values()])
    console.print(table)


def install(app: typer.Typer) -> None:
    """Add `almacen billing …` to the `almacen` app (`Domain.cli`)."""
    app.add_typer(billing_app, name="billing")
