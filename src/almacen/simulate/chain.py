"""Run the simulated chain forward in time, writing into every branch's POS database.

`simulate_chain(settings, day, until=...)` applies, in time order, every event of the day's plan
(sale created, status changed) before `until` that the database has not seen yet, so calling it
hour by hour plays the day as the branches lived it, and calling it twice changes nothing.
Plan times and `until` are UTC; a branch with a `timezone` runs a local-time POS, whose timestamps
are written on the clock of that zone (its bookkeeping table `_sim_applied` stays in UTC).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from almacen.clock import naive_utc
from almacen.config import Settings, resolve_url, source_zone
from almacen.simulate import pos
from almacen.simulate.catalog import Product, build_catalog
from almacen.simulate.customers import build_customers
from almacen.simulate.plan import DEFECTS, Sale, plan_day
from almacen.sources import connect


@dataclass
class BranchSummary:
    sales: int = 0
    lines: int = 0
    updates: int = 0
    defects: dict[str, int] = field(default_factory=dict)


@dataclass
class SimulationSummary:
    """What this call wrote, per branch."""

    day: date
    until: datetime
    branches: dict[str, BranchSummary] = field(default_factory=dict)

    def __rich__(self) -> str:
        parts = [
            f"{b}: {s.sales:,} sales, {s.lines:,} lines, {s.updates:,} status updates" for b, s in self.branches.items()
        ]
        return f"simulated {self.day} until {self.until:%Y-%m-%d %H:%M} UTC\n  " + "\n  ".join(parts)


def simulate_chain(
    settings: Settings,
    day: date,
    *,
    until: datetime | None = None,
    seed: int = 7,
    scale: float = 1.0,
    bad_rows: float = 0.002,
    n_products: int = 2000,
) -> SimulationSummary:
    """Write `day`'s sales (and their status updates) up to `until` into the catalog and every enabled branch."""
    end = naive_utc(until) if until else datetime.combine(day + timedelta(days=1), datetime.min.time())
    products = build_catalog(seed, n_products)
    if settings.catalog is not None:
        write_catalog(resolve_url(settings.catalog.url, settings.catalog.password_env, "catalog"), products)
    summary = SimulationSummary(day, end)
    for branch in (b for b in settings.branches if b.enabled):
        schema = branch.pos_schema
        defects = (
            DEFECTS if schema == "tickets" else tuple(d if d != "duplicate_line" else "null_payment" for d in DEFECTS)
        )
        plan = _plan(branch.id, day, seed, scale, bad_rows, n_products, schema == "tickets", defects)
        url = resolve_url(branch.url, branch.password_env, f"branch {branch.id}")
        summary.branches[branch.id] = _apply(url, schema, day, plan, end, source_zone(branch))
    return summary


@functools.lru_cache(maxsize=64)
def _plan(
    branch_id: str,
    day: date,
    seed: int,
    scale: float,
    bad_rows: float,
    n_products: int,
    fractional: bool,
    defects: tuple[str, ...],
) -> tuple[Sale, ...]:
    """The day's plan, built once per process (the demo asks for it every simulated hour)."""
    return tuple(
        plan_day(
            branch_id,
            day,
            list(build_catalog(seed, n_products)),
            list(build_customers(seed)),
            seed=seed,
            scale=scale,
            bad_rows=bad_rows,
            fractional=fractional,
            defects=defects,
        )
    )


def _apply(url: str, schema: str, day: date, plan: tuple[Sale, ...], until: datetime, zone: ZoneInfo) -> BranchSummary:
    """Apply the plan's events in [already applied, until) (UTC) in one transaction, writing the POS's
    times on the clock of `zone`."""
    md = pos.metadata(schema)
    engine = connect(url)
    summary = BranchSummary()
    try:
        md.create_all(engine)
        applied = md.tables["_sim_applied"]
        with engine.begin() as con:
            since = con.execute(sa.select(applied.c.until).where(applied.c.day == day.isoformat())).scalar()
            since = since or datetime.combine(day, datetime.min.time())
            if until <= since:
                return summary
            new = [s for s in plan if since <= s.sold_at < until]
            pos.insert_sales(con, md, schema, new, zone)
            updates = sorted(
                ((at, status, s) for s in plan for at, status in s.updates if since <= at < until),
                key=lambda u: (u[0], u[2].sale_id),
            )
            for at, status, sale in updates:
                pos.update_status(con, md, schema, sale, at, status, zone)
            con.execute(applied.delete().where(applied.c.day == day.isoformat()))
            con.execute(applied.insert().values(day=day.isoformat(), until=until))
        summary.sales, summary.updates = len(new), len(updates)
        summary.lines = sum(len(s.lines) for s in new)
        for s in new:
            if s.defect:
                summary.defects[s.defect] = summary.defects.get(s.defect, 0) + 1
        return summary
    finally:
        engine.dispose()


def write_catalog(url: str, products: Sequence[Product]) -> None:
    """The ERP's `articulos` table, replaced whole (idempotent)."""
    md = sa.MetaData()
    t = sa.Table(
        "articulos",
        md,
        sa.Column("id_articulo", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(16), unique=True),
        sa.Column("descripcion", sa.String(120)),
        sa.Column("rubro", sa.String(40)),
        sa.Column("precio_lista", sa.Numeric(12, 2, asdecimal=True)),
    )
    engine = connect(url)
    try:
        md.create_all(engine)
        with engine.begin() as con:
            if con.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == len(products):
                return
            con.execute(t.delete())
            con.execute(
                t.insert(),
                [
                    {
                        "id_articulo": p.product_id,
                        "sku": p.sku,
                        "descripcion": p.name,
                        "rubro": p.category,
                        "precio_lista": p.price,
                    }
                    for p in products
                ],
            )
    finally:
        engine.dispose()
