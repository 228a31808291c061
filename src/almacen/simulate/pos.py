"""The two point-of-sale products the simulated chain runs, and how a sale is written into each.

"ventas": `ventas` + `ventas_items`, values in almacen's vocabulary, integer quantities.
"tickets": `tickets` + `ticket_lineas`, coded values, SKUs, decimal quantities, no key on lines.
Both are created through SQLAlchemy, so the same code writes SQLite, PostgreSQL and MariaDB.
Plan times are UTC; a POS writes its clock's time in its zone (`zone`, default UTC), as a real
Argentine POS writes `DATETIME` in local time (America/Argentina/Buenos_Aires).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from almacen.clock import UTC, wall_clock
from almacen.errors import UsageError
from almacen.simulate.plan import Sale

TICKET_CODES = {
    "channel": {"tienda": "T", "web": "W", "app": "A"},
    "payment_type": {
        "efectivo": "EF",
        "debito": "TD",
        "credito": "TC",
        "mercado_pago_qr": "QR",
        "transferencia": "TR",
        "cheque": "CH",
    },
    "status": {"aprobada": "APR", "rechazada": "REC", "pendiente": "PEN", "anulada": "ANU"},
}
TICKET_OFFSET = 100_000_000


def _money(precision: int = 14) -> sa.Numeric:
    return sa.Numeric(precision, 2, asdecimal=True)


def metadata(schema: str) -> sa.MetaData:
    """The POS tables of `schema` ('ventas' or 'tickets'), plus the simulator's own bookkeeping."""
    md = sa.MetaData()
    sa.Table(
        "_sim_applied",
        md,
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("until", sa.DateTime, nullable=False),
    )
    if schema == "ventas":
        sa.Table(
            "ventas",
            md,
            sa.Column("id_venta", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("fecha", sa.DateTime, nullable=False),
            sa.Column("actualizado", sa.DateTime, nullable=False, index=True),
            sa.Column("canal", sa.String(10)),
            sa.Column("medio_pago", sa.String(20)),
            sa.Column("estado", sa.String(12)),
            sa.Column("cliente_dni", sa.String(12)),
            sa.Column("cliente_nombre", sa.String(120)),
            sa.Column("cliente_email", sa.String(120)),
            sa.Column("cliente_telefono", sa.String(40)),
            sa.Column("total", _money()),
        )
        sa.Table(
            "ventas_items",
            md,
            sa.Column("id_venta", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("renglon", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("id_producto", sa.Integer),
            sa.Column("cantidad", sa.Integer),
            sa.Column("precio_unitario", _money(12)),
            sa.Column("importe", _money()),
        )
    elif schema == "tickets":
        sa.Table(
            "tickets",
            md,
            sa.Column("ticket_nro", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("emitido_en", sa.DateTime, nullable=False),
            sa.Column("modificado_en", sa.DateTime, nullable=False, index=True),
            sa.Column("origen", sa.String(1)),
            sa.Column("forma_pago", sa.String(4)),
            sa.Column("situacion", sa.String(3)),
            sa.Column("doc_cliente", sa.String(13)),
            sa.Column("nombre_cliente", sa.String(120)),
            sa.Column("mail_cliente", sa.String(120)),
            sa.Column("cel_cliente", sa.String(40)),
            sa.Column("importe_total", _money()),
        )
        sa.Table(
            "ticket_lineas",
            md,
            sa.Column("ticket_nro", sa.BigInteger, index=True),
            sa.Column("linea", sa.Integer),
            sa.Column("cod_articulo", sa.String(16)),
            sa.Column("unidades", sa.Numeric(10, 3, asdecimal=True)),
            sa.Column("precio", _money(12)),
            sa.Column("subtotal", _money()),
        )
    else:
        raise UsageError(f"the simulator has no POS schema {schema!r}; it writes 'ventas' or 'tickets'")
    return md


def header_rows(schema: str, sales: Iterable[Sale], zone: ZoneInfo = UTC) -> list[dict]:
    """Header rows as the POS stores them (at creation: updated = sold), times on the clock of `zone`."""
    rows = []
    for s in sales:
        c = s.customer
        recorded, sold_at = wall_clock(s.recorded_sold_at or s.sold_at, zone), wall_clock(s.sold_at, zone)
        if schema == "ventas":
            rows.append(
                {
                    "id_venta": s.sale_id,
                    "fecha": recorded,
                    "actualizado": sold_at,
                    "canal": s.channel,
                    "medio_pago": s.payment_type,
                    "estado": s.status,
                    "cliente_dni": c and c.dni,
                    "cliente_nombre": c and c.name,
                    "cliente_email": c and c.email,
                    "cliente_telefono": c and c.phone,
                    "total": s.total,
                }
            )
        else:
            rows.append(
                {
                    "ticket_nro": TICKET_OFFSET + s.sale_id,
                    "emitido_en": recorded,
                    "modificado_en": sold_at,
                    "origen": TICKET_CODES["channel"][s.channel],
                    "forma_pago": s.payment_type and TICKET_CODES["payment_type"][s.payment_type],
                    "situacion": TICKET_CODES["status"][s.status],
                    "doc_cliente": c and c.dni,
                    "nombre_cliente": c and c.name,
                    "mail_cliente": c and c.email,
                    "cel_cliente": c and c.phone,
                    "importe_total": s.total,
                }
            )
    return rows


def line_rows(schema: str, sales: Iterable[Sale]) -> list[dict]:
    rows = []
    for s in sales:
        for line in s.lines:
            if schema == "ventas":
                rows.append(
                    {
                        "id_venta": s.sale_id,
                        "renglon": line.line_no,
                        "id_producto": line.product.product_id,
                        "cantidad": int(line.quantity),
                        "precio_unitario": line.unit_price,
                        "importe": line.amount,
                    }
                )
            else:
                rows.append(
                    {
                        "ticket_nro": TICKET_OFFSET + s.sale_id,
                        "linea": line.line_no,
                        "cod_articulo": line.product.sku,
                        "unidades": line.quantity,
                        "precio": line.unit_price,
                        "subtotal": line.amount,
                    }
                )
    return rows


def insert_sales(con: sa.Connection, md: sa.MetaData, schema: str, sales: list[Sale], zone: ZoneInfo = UTC) -> None:
    """Write new sales, headers then lines; times on the clock of `zone`."""
    headers, lines = ("ventas", "ventas_items") if schema == "ventas" else ("tickets", "ticket_lineas")
    for table, rows in ((headers, header_rows(schema, sales, zone)), (lines, line_rows(schema, sales))):
        for i in range(0, len(rows), 5000):
            con.execute(md.tables[table].insert(), rows[i : i + 5000])


def update_status(
    con: sa.Connection, md: sa.MetaData, schema: str, sale: Sale, at: datetime, status: str, zone: ZoneInfo = UTC
) -> None:
    """A sale changes status: the POS rewrites the header and moves its last-modified time (`at`, UTC,
    written on the clock of `zone`)."""
    at = wall_clock(at, zone)
    if schema == "ventas":
        t = md.tables["ventas"]
        con.execute(t.update().where(t.c.id_venta == sale.sale_id).values(estado=status, actualizado=at))
    else:
        t = md.tables["tickets"]
        con.execute(
            t.update()
            .where(t.c.ticket_nro == TICKET_OFFSET + sale.sale_id)
            .values(situacion=TICKET_CODES["status"][status], modificado_en=at)
        )
