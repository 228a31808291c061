"""Back-office corrections: changes a branch makes to sales it already wrote, as real head offices do.

Two kinds, the two that hourly extraction and count-and-sum reconciliation get wrong:

- `swap_product`: a line's product is corrected to another product at the same price, and the POS does
  NOT move the sale's last-modified time (the cursor). Counts and revenue stay the same; category revenue
  in gold is wrong until the sale's cut is extracted again.
- `correct_amount`: a line's amount is corrected (a discount applied afterwards) and the POS moves the
  sale's last-modified time to a later hour. Gold is wrong until that later cut is extracted.

Every correction is written to the branch's `_sim_corrections` table in the same transaction (the truth
ledger the tests check reconciliation against) and returned as a `Correction`. Times are UTC here; a
local-time POS has them written on its clock (`clock.wall_clock`), as the chain simulator does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import sqlalchemy as sa

from almacen.clock import local_window, to_utc, utc, wall_clock
from almacen.config import Branch, Settings, resolve_url, source_zone
from almacen.simulate import pos
from almacen.simulate.catalog import Product, build_catalog
from almacen.sources import connect

LEDGER = "_sim_corrections"
_ledger_md = sa.MetaData()
_LEDGER = sa.Table(
    LEDGER,
    _ledger_md,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("sale_id", sa.BigInteger, nullable=False),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("value_before", sa.String(40), nullable=False),
    sa.Column("value_after", sa.String(40), nullable=False),
    sa.Column("sold_at", sa.DateTime, nullable=False),
    sa.Column("cursor_before", sa.DateTime, nullable=False),
    sa.Column("cursor_after", sa.DateTime, nullable=False),
)
"""the ledger, times in UTC whatever the POS's zone"""


@dataclass(frozen=True)
class Correction:
    """One correction, as the simulator made it (times UTC, values as the POS stores them)."""

    branch_id: str
    kind: str
    """`product_swap` or `amount`"""
    sale_id: int
    """the POS's own sale number (`id_venta`, `ticket_nro`)"""
    line_no: int
    before: str
    """the product (id, or SKU for `tickets`) or the amount before the correction"""
    after: str
    sold_at: datetime
    cursor_before: datetime
    cursor_after: datetime
    """equal to `cursor_before` when the correction bypassed the cursor"""

    @property
    def cursor_hour(self) -> datetime:
        """The hour of the sale's cursor after the correction: the cut that holds its current version."""
        return self.cursor_after.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class _Tables:
    headers: sa.Table
    lines: sa.Table
    sale_id: str
    sold_at: str
    cursor: str
    status: str
    approved: str
    line_no: str
    product: str
    amount: str
    total: str


def _tables(schema: str) -> _Tables:
    """Where each POS schema keeps what a correction touches (the simulator's own knowledge of its POS)."""
    md = pos.metadata(schema)
    if schema == "ventas":
        return _Tables(
            md.tables["ventas"],
            md.tables["ventas_items"],
            "id_venta",
            "fecha",
            "actualizado",
            "estado",
            "aprobada",
            "renglon",
            "id_producto",
            "importe",
            "total",
        )
    return _Tables(
        md.tables["tickets"],
        md.tables["ticket_lineas"],
        "ticket_nro",
        "emitido_en",
        "modificado_en",
        "situacion",
        pos.TICKET_CODES["status"]["aprobada"],
        "linea",
        "cod_articulo",
        "subtotal",
        "importe_total",
    )


def swap_product(
    settings: Settings, branch_id: str, sold_in: datetime, *, seed: int = 7, n_products: int = 2000
) -> Correction:
    """Correct line 1 of the first clean approved sale sold in the hour `sold_in` (UTC) to another catalog
    product, leaving its price, amount and the sale's cursor as they were.

    The replacement is the first catalog product (by id) with the same list price in another category,
    else with the same price, else the next product by id: the line keeps its own price in every case.

    Raises:
        LookupError: the branch has no clean approved sale in that hour.
    """
    branch = settings.branch(branch_id)
    catalog = build_catalog(seed, n_products)
    t = _tables(branch.pos_schema)
    with _transaction(settings, branch) as (con, zone):
        sale_id, sold_at, cursor = _pick_sale(con, t, branch, sold_in, zone, catalog)
        line = con.execute(sa.select(t.lines).where(t.lines.c[t.sale_id] == sale_id, t.lines.c[t.line_no] == 1)).one()
        old = _product(catalog, line._mapping[t.product])
        new = _replacement(catalog, old)
        value = new.sku if branch.pos_schema == "tickets" else new.product_id
        con.execute(
            t.lines.update()
            .where(t.lines.c[t.sale_id] == sale_id, t.lines.c[t.line_no] == 1)
            .values({t.product: value})
        )
        before = old.sku if branch.pos_schema == "tickets" else str(old.product_id)
        return _record(con, branch, "product_swap", sale_id, 1, before, str(value), sold_at, cursor, cursor)


def correct_amount(
    settings: Settings,
    branch_id: str,
    sold_in: datetime,
    *,
    at: datetime,
    discount: Decimal = Decimal("100.00"),
    seed: int = 7,
    n_products: int = 2000,
) -> Correction:
    """Apply `discount` to line 1 of the first clean approved sale sold in the hour `sold_in` (UTC): the
    line's amount and the sale's total go down by it, and the sale's cursor moves to `at` (UTC, later).

    Raises:
        LookupError: the branch has no clean approved sale in that hour.
        ValueError: `at` is not later than the sale's cursor, or the discount exceeds the line's amount.
    """
    branch = settings.branch(branch_id)
    t = _tables(branch.pos_schema)
    with _transaction(settings, branch) as (con, zone):
        sale_id, sold_at, cursor = _pick_sale(con, t, branch, sold_in, zone, build_catalog(seed, n_products))
        at = utc(at)
        if at <= cursor:
            raise ValueError(
                f"branch {branch.id}: sale {sale_id}: a cursor-moving correction at {at:%Y-%m-%d %H:%M} "
                f"must be later than its cursor {cursor:%Y-%m-%d %H:%M}"
            )
        line = t.lines.c[t.sale_id] == sale_id, t.lines.c[t.line_no] == 1
        amount = Decimal(str(con.execute(sa.select(t.lines.c[t.amount]).where(*line)).scalar_one()))
        if discount > amount:
            raise ValueError(
                f"branch {branch.id}: sale {sale_id}: discount {discount} exceeds line 1's amount {amount}"
            )
        con.execute(t.lines.update().where(*line).values({t.amount: amount - discount}))
        con.execute(
            t.headers.update()
            .where(t.headers.c[t.sale_id] == sale_id)
            .values({t.total: t.headers.c[t.total] - discount, t.cursor: wall_clock(at, zone)})
        )
        return _record(
            con, branch, "amount", sale_id, 1, f"{amount:.2f}", f"{amount - discount:.2f}", sold_at, cursor, at
        )


def corrections(settings: Settings, branch_id: str) -> list[Correction]:
    """The branch's correction ledger, in the order the corrections were made."""
    branch = settings.branch(branch_id)
    engine = connect(resolve_url(branch.url, branch.password_env, f"branch {branch.id}"))
    try:
        _ledger_md.create_all(engine)
        with engine.connect() as con:
            rows = con.execute(sa.select(_LEDGER).order_by(_LEDGER.c.seq)).all()
    finally:
        engine.dispose()
    return [
        Correction(
            branch.id,
            r.kind,
            r.sale_id,
            r.line_no,
            r.value_before,
            r.value_after,
            utc(r.sold_at),
            utc(r.cursor_before),
            utc(r.cursor_after),
        )
        for r in rows
    ]


@contextmanager
def _transaction(settings: Settings, branch: Branch) -> Iterator[tuple[sa.Connection, ZoneInfo]]:
    """One transaction on the branch's POS database (its ledger created if new), and the zone its clock writes in."""
    engine = connect(resolve_url(branch.url, branch.password_env, f"branch {branch.id}"))
    try:
        _ledger_md.create_all(engine)
        with engine.begin() as con:
            yield con, source_zone(branch, settings.schemas()[branch.pos_schema].table_for("sales")[1])
    finally:
        engine.dispose()


def _pick_sale(
    con: sa.Connection, t: _Tables, branch: Branch, sold_in: datetime, zone: ZoneInfo, catalog: tuple[Product, ...]
) -> tuple[int, datetime, datetime]:
    """(sale number, sold at, cursor), UTC, of the first approved sale sold in the hour `sold_in` whose lines
    are clean (known products, positive quantities, each line number once): a correction of a defective sale
    would be hidden by its quarantine."""
    hour = utc(sold_in).replace(minute=0, second=0, microsecond=0)
    start, end = local_window(hour, hour + timedelta(hours=1), zone)
    h = t.headers.c
    candidates = con.execute(
        sa.select(h[t.sale_id], h[t.sold_at], h[t.cursor])
        .where(h[t.status] == t.approved, h[t.sold_at] >= start, h[t.sold_at] < end)
        .order_by(h[t.sale_id])
    ).all()
    known = {p.sku for p in catalog} | {p.product_id for p in catalog}
    for sale_id, sold_at, cursor in candidates:
        sold_at, cursor = _utc(sold_at, zone), _utc(cursor, zone)
        if not hour <= sold_at < hour + timedelta(hours=1):
            continue
        lines = con.execute(sa.select(t.lines).where(t.lines.c[t.sale_id] == sale_id)).mappings().all()
        numbers = [r[t.line_no] for r in lines]
        quantity = "cantidad" if branch.pos_schema == "ventas" else "unidades"
        if (
            1 in numbers
            and len(numbers) == len(set(numbers))
            and all(r[t.product] in known for r in lines)
            and all(r[quantity] > 0 for r in lines)
        ):
            return sale_id, sold_at, cursor
    raise LookupError(f"branch {branch.id}: no clean approved sale sold in {hour:%Y-%m-%dT%H} to correct")


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A time the POS wrote on its clock, as the UTC instant `clock.to_utc` reads it as."""
    return to_utc(pa.array([local], pa.timestamp("us")), zone)[0].as_py()


def _product(catalog: tuple[Product, ...], value) -> Product:
    return next(p for p in catalog if value in (p.sku, p.product_id))


def _replacement(catalog: tuple[Product, ...], old: Product) -> Product:
    others = [p for p in catalog if p.product_id != old.product_id]
    same_price = [p for p in others if p.price == old.price]
    if same_price:
        return next((p for p in same_price if p.category != old.category), same_price[0])
    return next((p for p in others if p.product_id > old.product_id), others[0])


def _record(
    con: sa.Connection,
    branch: Branch,
    kind: str,
    sale_id: int,
    line_no: int,
    before: str,
    after: str,
    sold_at: datetime,
    cursor_before: datetime,
    cursor_after: datetime,
) -> Correction:
    """Write the correction to the ledger (in the correction's transaction) and return it."""
    naive = {
        k: v.replace(tzinfo=None)
        for k, v in (("sold_at", sold_at), ("cursor_before", cursor_before), ("cursor_after", cursor_after))
    }
    con.execute(
        _LEDGER.insert().values(
            kind=kind, sale_id=sale_id, line_no=line_no, value_before=before, value_after=after, **naive
        )
    )
    return Correction(branch.id, kind, sale_id, line_no, before, after, sold_at, cursor_before, cursor_after)
