"""Big POS tables for benchmarks: millions of lines, written with COPY on PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from almacen.simulate import pos
from almacen.simulate.catalog import build_catalog
from almacen.simulate.customers import build_customers
from almacen.simulate.plan import plan_day
from almacen.sources import connect


def bulk_sales(
    url: str, schema: str, n_lines: int, start: datetime, hours: int, seed: int = 7, branch_id: str = "bench"
) -> int:
    """Fill a POS database with about `n_lines` sales lines over `hours` hours from `start`; returns lines written.

    Sales come from the day plans (no defects, no status updates), their times spread evenly over the hours.
    """
    md = pos.metadata(schema)
    products, customers = list(build_catalog(seed)), list(build_customers(seed, 500))
    engine = connect(url)
    md.create_all(engine)
    written, day = 0, 0
    try:
        while written < n_lines:
            plan = plan_day(
                branch_id,
                date(2026, 1, 1) + timedelta(days=day),
                products,
                customers,
                seed=seed,
                scale=4.0,
                bad_rows=0.0,
                fractional=schema == "tickets",
            )
            for s in plan:
                s.updates.clear()
                s.sale_id += day  # plan ids are per day; keep them unique across plans
            plan = plan[: max(1, (n_lines - written) * len(plan) // max(1, sum(len(s.lines) for s in plan)) + 1)]
            offset = len(plan) * day
            for i, s in enumerate(plan):
                s.sold_at = start + timedelta(seconds=((offset + i) * 7919) % (hours * 3600))
            _write(engine, md, schema, plan)
            written += sum(len(s.lines) for s in plan)
            day += 1
        return written
    finally:
        engine.dispose()


def _write(engine: sa.Engine, md: sa.MetaData, schema: str, plan) -> None:
    if engine.dialect.name != "postgresql":
        with engine.begin() as con:
            pos.insert_sales(con, md, schema, plan)
        return
    headers, lines = ("ventas", "ventas_items") if schema == "ventas" else ("tickets", "ticket_lineas")
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection  # psycopg's own connection: its cursors do COPY (a DB-API cursor does not)
        assert driver is not None  # the connection was just opened
        with driver.cursor() as cur:
            for table, rows in ((headers, pos.header_rows(schema, plan)), (lines, pos.line_rows(schema, plan))):
                columns = list(rows[0])
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
        raw.commit()
    finally:
        raw.close()
