"""The invoice ledger: drafts per month, issued invoices that never change, and adjustment notes.

`gold.invoice_drafts` (+ `_lines`) holds the month's drafts, replaced by each invoice run.
Issuing moves them into `gold.invoices` / `gold.invoice_lines`, which are only ever appended to:
an issued invoice is never modified or deleted. A recalculation compares the month's fresh figures
with what was issued for it (the invoice plus its earlier adjustments) and issues the difference as
a credit or debit note that references the invoice. Lines are committed before their header, and
a line without a header (a run cut short) is removed before the next run, so a header always comes
with all its lines.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import day_start, from_ms, month_after, utc_now
from almacen.config import Settings
from almacen.domains.messaging.invoice import CENT, INVOICE_SCHEMA, LINE_SCHEMA, invoice_month_sql
from almacen.engine import DuckDBEngine
from almacen.errors import AlmacenError, NotFound
from almacen.lake import Access, Lake, Table, define
from almacen.lake.predicate import equals, isin

DRAFTS, DRAFT_LINES = "gold.invoice_drafts", "gold.invoice_draft_lines"
INVOICES, LINES = "gold.invoices", "gold.invoice_lines"
# Who may read them once published (almacen.lake.access), beside their names (shapes: invoice.py).
# An issued invoice or note belongs to its client: rows cut by client_id. A draft is not a document
# yet — replaced by every run, possibly provisional, its figures may still move — so it is for
# almacen administrators only; a client sees its invoice once issued.
_RUN = pa.field("run_id", pa.string())
"""the run that wrote a document (`_with_run`), kept with it"""
LEDGER_SCHEMA, LEDGER_LINE_SCHEMA = INVOICE_SCHEMA.append(_RUN), LINE_SCHEMA.append(_RUN)
INVOICE_TABLE = define(
    Table(
        INVOICES,
        Access.CLIENT,
        LEDGER_SCHEMA,
        keys=("invoice_id",),
        description="issued invoices and their credit and debit notes (append-only)",
    )
)
LINE_TABLE = define(
    Table(
        LINES,
        Access.CLIENT,
        LEDGER_LINE_SCHEMA,
        keys=("invoice_id", "line_no"),
        description="the lines of issued invoices and notes (append-only)",
    )
)
DRAFT_TABLE = define(
    Table(
        DRAFTS,
        Access.ADMIN,
        LEDGER_SCHEMA,
        keys=("invoice_id",),
        description="the month's invoice drafts, replaced by every invoice run",
    )
)
DRAFT_LINE_TABLE = define(
    Table(
        DRAFT_LINES,
        Access.ADMIN,
        LEDGER_LINE_SCHEMA,
        keys=("invoice_id", "line_no"),
        description="the lines of the month's invoice drafts",
    )
)
INPUTS = ("gold.usage_minute", "silver.rate_cards", "silver.contracts")
_TS = pa.timestamp("us", tz="UTC")


class LedgerError(AlmacenError, ValueError):
    """A ledger run (draft, issue, recalc) that cannot go ahead: missing inputs, an incomplete month
    without --force, nothing drafted to issue; or a month that is not YYYY-MM."""


@dataclass
class MonthRun:
    """What an invoice, issue or recalc run did for one month."""

    month: date
    documents: int = 0
    total: Decimal = Decimal("0.00")
    provisional: bool = False
    skipped: list[str] = field(default_factory=list)
    """clients left out, with why (already issued: changes go through recalc)"""


def month_start(text: str) -> date:
    """`2026-10` (or a date in it) as the first day of the month; a clear error otherwise."""
    try:
        year, month = (int(p) for p in text.split("-")[:2])
        return date(year, month, 1)
    except ValueError:
        raise LedgerError(f"month {text!r} is not YYYY-MM (e.g. 2026-10)") from None


def month_complete(settings: Settings, lake: Lake, month: date) -> tuple[bool, datetime | None]:
    """Complete once the message stream's watermark is `settle_hours` past the month's end."""
    from almacen.domains.messaging.usage import USAGE, WATERMARK_APP

    watermark = from_ms(lake.transaction_version(USAGE, WATERMARK_APP))
    end = day_start(month_after(month))
    return watermark is not None and watermark >= end + timedelta(hours=settings.messaging.settle_hours), watermark


def compute_month(lake: Lake, month: date) -> tuple[pa.Table, pa.Table]:
    """Fresh invoice figures of every client for `month` from the lake's usage, rate cards and contracts."""
    with DuckDBEngine() as engine:
        for table in INPUTS:
            try:
                engine.register_table(table, lake)
            except NotFound as exc:
                hint = (
                    "run `almacen stream messaging` first"
                    if table.startswith("gold")
                    else f"load it with `almacen billing {'rates' if 'rate' in table else 'clients'} load FILE`"
                )
                raise LedgerError(f"cannot invoice: {exc}; {hint}") from None
        return invoice_month_sql(engine, month)


def draft_month(settings: Settings, month: date, *, force: bool = False, now: datetime | None = None) -> MonthRun:
    """Draft the month's invoices (replacing its earlier drafts) for every client not yet issued."""
    lake, now = Lake(settings.lake), now or utc_now()
    complete, watermark = month_complete(settings, lake, month)
    if not complete and not force:
        raise LedgerError(
            f"{month:%Y-%m} is not complete yet: message events are in up to {watermark or 'nothing'}, and the "
            f"month closes {settings.messaging.settle_hours} h after its end; use --force for a provisional draft"
        )
    _remove_orphan_lines(lake)
    invoices, lines = compute_month(lake, month)
    issued = set(_issued(lake, month, kind="invoice")["client_id"].to_pylist())
    keep = pc.invert(pc.is_in(invoices["client_id"], pa.array(sorted(issued), pa.string())))
    invoices = invoices.filter(keep)
    lines = lines.filter(pc.is_in(lines["invoice_id"], invoices["invoice_id"]))
    run_id = uuid.uuid4().hex
    invoices = _stamp(invoices, status="draft", provisional=not complete, created_at=now, run_id=run_id)
    lines = _with_run(lines, run_id)
    where = equals("month", month)
    _replace_or_create(lake, DRAFT_LINES, lines, where)
    _replace_or_create(lake, DRAFTS, invoices, where)
    return MonthRun(
        month,
        invoices.num_rows,
        _sum(invoices["total"]),
        not complete,
        [f"{c}: already issued (use recalc)" for c in sorted(issued)],
    )


def issue_month(settings: Settings, month: date, *, force: bool = False, now: datetime | None = None) -> MonthRun:
    """Move the month's drafts into the issued ledger (append-only); provisional drafts need `force`."""
    lake, now = Lake(settings.lake), now or utc_now()
    drafts = month_rows(lake, DRAFTS, month)
    if drafts.num_rows == 0:
        raise LedgerError(f"no drafts for {month:%Y-%m}: run `almacen billing invoice --month {month:%Y-%m}` first")
    if not force and pc.any(drafts["provisional"]).as_py():
        raise LedgerError(
            f"the drafts of {month:%Y-%m} are provisional (the month was not complete): "
            "draft again once it is, or issue them with --force"
        )
    _remove_orphan_lines(lake)
    already = set(_issued(lake, month)["invoice_id"].to_pylist())
    drafts = drafts.filter(pc.invert(pc.is_in(drafts["invoice_id"], pa.array(sorted(already), pa.string()))))
    lines = month_rows(lake, DRAFT_LINES, month)
    lines = lines.filter(pc.is_in(lines["invoice_id"], drafts["invoice_id"]))
    issued = drafts.set_column(
        drafts.schema.get_field_index("status"), "status", pa.repeat(pa.scalar("issued"), drafts.num_rows)
    )
    issued = issued.set_column(
        issued.schema.get_field_index("issued_at"),
        pa.field("issued_at", _TS),
        pa.repeat(pa.scalar(now, _TS), drafts.num_rows),
    )
    if issued.num_rows:
        lake.append(LINES, lines.cast(_with_run(LINE_SCHEMA.empty_table(), "").schema))
        lake.append(INVOICES, issued)
    where = equals("month", month)
    lake.replace(DRAFT_LINES, month_rows(lake, DRAFT_LINES, month).slice(0, 0), where)
    lake.replace(DRAFTS, drafts.slice(0, 0), where)
    return MonthRun(
        month,
        issued.num_rows,
        _sum(issued["total"]),
        bool(pc.any(issued["provisional"]).as_py()) if issued.num_rows else False,
    )


def recalc(
    settings: Settings, since: date, until: date | None = None, *, now: datetime | None = None
) -> list[MonthRun]:
    """Recompute every month from `since` (to `until`, default the last month issued): for each issued
    invoice whose fresh figures differ from what was issued, issue a credit or debit note with the
    differences per line; drafts are simply drafted again."""
    lake, now = Lake(settings.lake), now or utc_now()
    _remove_orphan_lines(lake)
    ledger = lake.read(INVOICES)
    months = sorted(set(ledger["month"].to_pylist())) if ledger is not None else []
    last = until or (months[-1] if months else since)
    runs = []
    month = since
    while month <= last:
        if month_rows(lake, DRAFTS, month).num_rows:
            draft_month(settings, month, force=True, now=now)
        runs.append(_adjust_month(lake, month, now))
        month = month_after(month)
    return runs


def _adjust_month(lake: Lake, month: date, now: datetime) -> MonthRun:
    """Credit or debit notes for the month's issued invoices whose fresh figures moved."""
    issued = _issued(lake, month)
    run = MonthRun(month)
    if issued.num_rows == 0:
        return run
    fresh, fresh_lines = compute_month(lake, month)
    billed_lines = month_rows(lake, LINES, month)
    by_original: dict[str, list[dict]] = defaultdict(list)
    for doc in issued.to_pylist():
        by_original[doc["references"] or doc["invoice_id"]].append(doc)
    fresh_by_client = {r["client_id"]: r for r in fresh.to_pylist()}
    fresh_lines_by_id: dict[str, list[dict]] = defaultdict(list)
    for line in fresh_lines.to_pylist():
        fresh_lines_by_id[line["invoice_id"]].append(line)
    billed_by_id: dict[str, list[dict]] = defaultdict(list)
    for line in billed_lines.to_pylist():
        billed_by_id[line["invoice_id"]].append(line)
    run_id = uuid.uuid4().hex
    notes, note_lines = [], []
    for _original_id, docs in sorted(by_original.items()):
        fresh_doc = fresh_by_client.get(docs[0]["client_id"])
        if fresh_doc is None:
            continue
        billed = [line for d in docs for line in billed_by_id[d["invoice_id"]]]
        made = adjustment_note(docs, billed, fresh_doc, fresh_lines_by_id[fresh_doc["invoice_id"]])
        if made is not None:
            note, lines = made
            notes.append({**note, "created_at": now, "issued_at": now, "run_id": run_id})
            note_lines += [{**line, "run_id": run_id} for line in lines]
    if notes:
        invoices = lake.table(INVOICES)
        invoice_schema = invoices.schema().to_arrow() if invoices is not None else None
        lake.append(LINES, pa.Table.from_pylist(note_lines, schema=_with_run(LINE_SCHEMA.empty_table(), "").schema))
        lake.append(
            INVOICES,
            pa.Table.from_pylist(notes, schema=pa.schema(invoice_schema) if invoice_schema is not None else None),
        )
    run.documents = len(notes)
    run.total = sum((n["total"] for n in notes), Decimal("0.00"))
    return run


def adjustment_note(
    issued: list[dict], billed_lines: list[dict], fresh: dict, fresh_lines: list[dict]
) -> tuple[dict, list[dict]] | None:
    """The note that brings what was issued for an invoice (`issued`: the invoice and its earlier notes,
    `billed_lines`: all their lines) to its `fresh` figures, or None when nothing moved.

    Its lines are the per (category, country, tier) differences of quantity, free quantity and amount;
    its subtotal, discount and total the differences of the documents' own figures (each side rounded
    as its invoice was, so the note adds up to exactly what the client now owes)."""
    original = next(d for d in issued if d["kind"] == "invoice")
    lines = _line_differences(billed_lines, fresh_lines)
    money = {k: fresh[k] - sum((d[k] for d in issued), Decimal("0.00")) for k in ("subtotal", "discount", "total")}
    if not lines and not any(money.values()):
        return None
    note_id = f"{original['invoice_id']}-A{len(issued)}"
    note = {
        **fresh,
        "invoice_id": note_id,
        "kind": "credit" if money["total"] < 0 else "debit",
        "references": original["invoice_id"],
        "status": "issued",
        "provisional": False,
        **money,
    }
    return note, [{**line, "invoice_id": note_id, "line_no": i} for i, line in enumerate(lines, start=1)]


def _line_differences(billed: list[dict], fresh: list[dict]) -> list[dict]:
    """Fresh minus billed per (category, country, tier): the lines of an adjustment note."""
    key = lambda line: (line["category"], line["country"], line["tier"])  # noqa: E731
    totals: dict[tuple, dict] = {}
    for line in billed:
        t = totals.setdefault(key(line), {**line, "quantity": 0, "free_quantity": 0, "amount": Decimal("0.00")})
        t["quantity"] -= line["quantity"]
        t["free_quantity"] -= line["free_quantity"]
        t["amount"] -= line["amount"]
    for line in fresh:
        t = totals.setdefault(key(line), {**line, "quantity": 0, "free_quantity": 0, "amount": Decimal("0.00")})
        t.update({k: line[k] for k in ("unit_price", "tier_from", "rate_card_version")})
        t["quantity"] += line["quantity"]
        t["free_quantity"] += line["free_quantity"]
        t["amount"] += line["amount"]
    return [t for k, t in sorted(totals.items()) if t["quantity"] or t["free_quantity"] or t["amount"]]


def _issued(lake: Lake, month: date, kind: str | None = None) -> pa.Table:
    rows = month_rows(lake, INVOICES, month)
    return rows.filter(pc.equal(rows["kind"], kind)) if kind and rows.num_rows else rows


def month_rows(lake: Lake, table: str, month: date) -> pa.Table:
    """The table's rows of `month` (an empty table, typed as best known, when there are none)."""
    data = lake.dataset(table)
    if data is None:
        schema = LINE_SCHEMA if "line" in table else INVOICE_SCHEMA
        return _with_run(schema.empty_table(), "")
    return data.to_table(filter=pc.field("month") == pa.scalar(month, pa.date32()))


def _stamp(invoices: pa.Table, *, status: str, provisional: bool, created_at: datetime, run_id: str) -> pa.Table:
    n = invoices.num_rows
    for name, value, typ in (
        ("status", status, pa.string()),
        ("provisional", provisional, pa.bool_()),
        ("created_at", created_at, _TS),
    ):
        invoices = invoices.set_column(
            invoices.schema.get_field_index(name), pa.field(name, typ), pa.repeat(pa.scalar(value, typ), n)
        )
    return _with_run(invoices, run_id)


def _with_run(table: pa.Table, run_id: str) -> pa.Table:
    """The run that wrote a document, so a header and its lines can be told apart from another run's."""
    if "run_id" in table.column_names:
        return table
    return table.append_column("run_id", pa.repeat(pa.scalar(run_id, pa.string()), table.num_rows))


def _replace_or_create(lake: Lake, table: str, rows: pa.Table, where: str) -> None:
    if lake.table(table) is None:
        lake.append(table, rows)
    else:
        lake.replace(table, rows, where)


def _remove_orphan_lines(lake: Lake) -> None:
    """Lines committed by a run cut short before its headers: never part of an issued document."""
    for headers, lines_table in ((INVOICES, LINES), (DRAFTS, DRAFT_LINES)):
        lines, docs = lake.read(lines_table, ["invoice_id", "run_id"]), lake.read(headers, ["invoice_id", "run_id"])
        if lines is None or lines.num_rows == 0:
            continue
        have = set(zip(docs["invoice_id"].to_pylist(), docs["run_id"].to_pylist())) if docs is not None else set()
        orphans = sorted({(i, r) for i, r in zip(lines["invoice_id"].to_pylist(), lines["run_id"].to_pylist())} - have)
        if orphans:
            runs = sorted({r for _, r in orphans})
            table = lake.read(lines_table)
            assert table is not None  # its lines were read just above
            lake.replace(lines_table, table.slice(0, 0), isin("run_id", runs))


def _sum(values: pa.ChunkedArray) -> Decimal:
    return (pc.sum(values).as_py() or Decimal("0")).quantize(CENT)
