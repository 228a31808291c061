"""The invoice of a month for every client: usage priced by graduated tiers, less the free allowance and discount.

Computed twice on purpose: `invoice_month_sql` (invoice.sql in DuckDB, what runs in production) and
`invoice_month_py` (plain Python and Decimal, the reference), which the tests prove identical to the
cent. Rules (docs/billing.md): billable templates of the month by (category, country); tiers are
graduated; lines ordered category, country, tier; the free allowance is consumed in line order;
`amount = round_half_up((quantity - free) * unit_price, 2)`; `discount = round_half_up(subtotal * pct
/ 100, 2)`; `total = subtotal - discount`. A client with a contract in force and no usage gets a zero
invoice; billable usage with no contract or no price in force stops the run with an InvoiceError.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import day_start, month_after
from almacen.domains.messaging.rates import ClientAccount, RateCard, RateCardError, contract_in_force, no_period_message
from almacen.engine import DuckDBEngine
from almacen.errors import AlmacenError
from almacen.sql import exactly, load_sql

_PACKAGE = "almacen.domains.messaging"
"""where the SQL files beside this module are"""
_TS = pa.timestamp("us", tz="UTC")
INVOICE_SCHEMA = pa.schema(
    [
        ("invoice_id", pa.string()),
        ("client_id", pa.string()),
        ("month", pa.date32()),
        ("kind", pa.string()),
        ("references", pa.string()),
        ("status", pa.string()),
        ("provisional", pa.bool_()),
        ("rate_card_version", pa.int64()),
        ("contract_version", pa.int64()),
        ("currency", pa.string()),
        ("subtotal", pa.decimal128(18, 2)),
        ("discount", pa.decimal128(18, 2)),
        ("total", pa.decimal128(18, 2)),
        ("created_at", _TS),
        ("issued_at", _TS),
    ]
)
LINE_SCHEMA = pa.schema(
    [
        ("invoice_id", pa.string()),
        ("line_no", pa.int32()),
        ("client_id", pa.string()),
        ("month", pa.date32()),
        ("category", pa.string()),
        ("country", pa.string()),
        ("tier", pa.int32()),
        ("tier_from", pa.int64()),
        ("unit_price", pa.decimal128(18, 6)),
        ("quantity", pa.int64()),
        ("free_quantity", pa.int64()),
        ("amount", pa.decimal128(18, 2)),
        ("rate_card_version", pa.int64()),
    ]
)
CENT = Decimal("0.01")
_SHOWN = 10  # items named in an error before "... (n in all)"


class InvoiceError(AlmacenError, ValueError):
    """A month that cannot be invoiced: billable usage with no contract or no price in force, named."""


def invoice_id(client_id: str, month: date) -> str:
    """`INV-<YYYY-MM>-<client_id>`: the id of a client's invoice of a month."""
    return f"INV-{month:%Y-%m}-{client_id}"


def invoice_month_py(
    usage: pa.Table, rate_card: RateCard, clients: list[ClientAccount], month: date, created_at: datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """(invoices, lines) of `month` in the gold shapes, computed in plain Python: the reference for the SQL.

    `usage` has gold.usage_minute's columns (rows outside the month are ignored); the contract version
    written is the `version` the accounts were read with (`contracts_from_table`), null when unknown."""
    _check_month(month)
    period = rate_card.period_for(month)
    quantities = _quantities(usage, month)
    contracts = {a.client_id: c for a in clients if (c := contract_in_force(a.contracts, a.client_id, month))}
    _raise_on_problems(
        month,
        rate_card.version,
        sorted({client for client, _, _ in quantities} - set(contracts)),
        _unpriced(quantities, period.prices),
    )
    contract_version = _one_version(clients)
    used: dict[str, list[tuple[str, str, int]]] = {}
    for (client_id, category, country), quantity in sorted(quantities.items()):
        used.setdefault(client_id, []).append((category, country, quantity))
    invoices, lines = [], []
    with localcontext() as ctx:
        ctx.prec = 60  # every product and sum below is exact
        for client_id, contract in sorted(contracts.items()):
            number = invoice_id(client_id, month)
            remaining, subtotal, line_no = contract.free_messages, Decimal("0.00"), 0
            for category, country, quantity in used.get(client_id, []):
                tiers = period.prices[(category, country)]
                for i, tier in enumerate(tiers, start=1):
                    upper = tiers[i].start if i < len(tiers) else None
                    held = (quantity if upper is None else min(quantity, upper)) - tier.start
                    if held <= 0:
                        continue
                    free = min(remaining, held)
                    remaining -= free
                    amount = ((held - free) * tier.unit_price).quantize(CENT, ROUND_HALF_UP)
                    subtotal += amount
                    line_no += 1
                    lines.append(
                        {
                            "invoice_id": number,
                            "line_no": line_no,
                            "client_id": client_id,
                            "month": month,
                            "category": category,
                            "country": country,
                            "tier": i,
                            "tier_from": tier.start,
                            "unit_price": tier.unit_price,
                            "quantity": held,
                            "free_quantity": free,
                            "amount": amount,
                            "rate_card_version": rate_card.version,
                        }
                    )
            discount = (subtotal * contract.discount_pct / 100).quantize(CENT, ROUND_HALF_UP)
            invoices.append(
                {
                    "invoice_id": number,
                    "client_id": client_id,
                    "month": month,
                    "kind": "invoice",
                    "references": None,
                    "status": "draft",
                    "provisional": False,
                    "rate_card_version": rate_card.version,
                    "contract_version": contract_version,
                    "currency": rate_card.currency,
                    "subtotal": subtotal,
                    "discount": discount,
                    "total": subtotal - discount,
                    "created_at": created_at,
                    "issued_at": None,
                }
            )
    return (pa.Table.from_pylist(invoices, schema=INVOICE_SCHEMA), pa.Table.from_pylist(lines, schema=LINE_SCHEMA))


def register_inputs(
    engine: DuckDBEngine, usage: pa.Table, rate_card_table: pa.Table, contracts_table: pa.Table
) -> None:
    """Register the three inputs of `invoice_month_sql` under the names its SQL reads."""
    engine.register("gold.usage_minute", usage)
    engine.register("silver.rate_cards", rate_card_table)
    engine.register("silver.contracts", contracts_table)


def invoice_month_sql(
    engine: DuckDBEngine, month: date, created_at: datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """(invoices, lines) of `month` in the gold shapes, computed by invoice.sql over the registered
    gold.usage_minute, silver.rate_cards and silver.contracts (the highest version of each).

    `created_at` is written as given (null by default: the caller stamps it); issued_at is null."""
    _check_month(month)
    params = {"month": month}
    problems = engine.query(load_sql(_PACKAGE, "invoice_check.sql"), params).to_pylist()
    for p in problems:
        if p["problem"] == "period":
            if p["version"] is None:
                raise RateCardError("silver.rate_cards is empty: load a rate card first")
            raise RateCardError(no_period_message(p["version"], month, p["first_period"]))
    _raise_on_problems(
        month,
        problems[0]["version"] if problems else None,
        [p["client_id"] for p in problems if p["problem"] == "contract"],
        [(p["category"], p["country"], p["client_id"]) for p in problems if p["problem"] == "price"],
    )
    result = engine.query(load_sql(_PACKAGE, "invoice.sql"), {**params, "created_at": created_at})
    lines = pc.list_flatten(result.column("lines"))
    lines = pa.Table.from_struct_array(lines) if len(lines) else LINE_SCHEMA.empty_table()
    return exactly(result.drop_columns(["lines"]), INVOICE_SCHEMA, "invoice"), exactly(lines, LINE_SCHEMA, "invoice")


def _quantities(usage: pa.Table, month: date) -> dict[tuple[str, str, str], int]:
    """Billable units of the month by (client_id, category, country), only those above zero."""
    start, end = day_start(month), day_start(month_after(month))
    minute = usage["minute"].cast(_TS)
    inside = pc.and_(pc.greater_equal(minute, pa.scalar(start, _TS)), pc.less(minute, pa.scalar(end, _TS)))
    totals: dict[tuple[str, str, str], int] = {}
    for row in usage.filter(inside).select(["client_id", "category", "country", "billable"]).to_pylist():
        key = (row["client_id"], row["category"], row["country"])
        totals[key] = totals.get(key, 0) + (row["billable"] or 0)
    return {key: q for key, q in totals.items() if q > 0}


def _unpriced(quantities: dict[tuple[str, str, str], int], prices: dict) -> list[tuple[str, str, str]]:
    """(category, country, first client) of billable usage the period does not price."""
    first: dict[tuple[str, str], str] = {}
    for client_id, category, country in sorted(quantities, key=_nulls_last):
        if (category, country) not in prices:
            first.setdefault((category, country), client_id)
    return [(category, country, client_id) for (category, country), client_id in first.items()]


def _raise_on_problems(
    month: date, rate_card_version: int | None, uncontracted: list[str], unpriced: list[tuple[str, str, str]]
) -> None:
    """The one wording, for both twins, of usage that cannot be billed."""
    if uncontracted:
        ids = sorted(uncontracted, key=lambda c: (c is None, c or ""))
        plural = "s" if len(ids) > 1 else ""
        raise InvoiceError(
            f"invoice {month:%Y-%m}: billable usage of client{plural} {_listed(ids)} "
            f"but no contract in force on {month}"
        )
    if unpriced:
        items = [f"{c}/{k} (client {client})" for c, k, client in sorted(unpriced, key=_nulls_last)]
        card = "rate card" if rate_card_version is None else f"rate card version {rate_card_version}"
        raise InvoiceError(
            f"invoice {month:%Y-%m}: billable usage of {_listed(items)} but no price in force on {month} in {card}"
        )


def _listed(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown}, ... ({len(items)} in all)"


def _nulls_last(values: Iterable) -> tuple:
    return tuple((v is None, v or "") for v in values)


def _one_version(clients: list[ClientAccount]) -> int | None:
    versions = {a.version for a in clients}
    if len(versions) > 1:
        raise InvoiceError(f"client accounts come from different contract versions: {sorted(versions, key=str)}")
    return versions.pop() if versions else None


def _check_month(month: date) -> None:
    if isinstance(month, datetime) or not isinstance(month, date) or month.day != 1:
        raise ValueError(f"month must be the first day of a month (a date), got {month!r}")
