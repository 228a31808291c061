"""The sales mart the server holds: daily sales marts, the branch and product dimensions, the recent sale
minutes; and the datasets computed over them (KPIs, sales by a dimension, real time, filter choices).

Each dataset is a function of the held tables (`Marts.query`), with the filters already cut to the
asking user's branch scope by `Marts.read`; the SQL files sit beside this module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import Query

from almacen.clock import floor_minute
from almacen.domains.sales.realtime.rollup import MINUTE, MINUTE_SCHEMA
from almacen.domains.sales.reconcile import RECONCILIATION, SCHEMA as RECONCILIATION_SCHEMA
from almacen.domains.sales.vocabulary import CHANNELS, PAYMENT_TYPES
from almacen.security import Permission
from almacen.serve.filters import Filters
from almacen.serve.marts import Marts
from almacen.serve.site import Dataset, Held, Mart
from almacen.sql import load_sql

REALTIME_HOURS = 3
"""how much of gold.sales_minute is held in memory: the real-time page shows at most the last hour"""
KPIS = ("revenue", "tickets", "avg_ticket", "units_per_ticket", "approval_rate")
Dimension = Literal["branch", "category", "payment_type", "channel"]
Grain = Literal["day", "week", "month"]


def sql(name: str) -> str:
    """The text of this module's SQL file `<name>.sql`."""
    return load_sql("almacen.domains.sales.serve", f"{name}.sql")


def sales_options(by: Dimension = "branch", grain: Grain = "day") -> dict[str, Any]:
    """What /api/sales and its export take beyond the filters: the dimension and the period."""
    return {"by": by, "grain": grain}


def realtime_options(minutes: Annotated[int, Query(ge=1, le=180)] = 60) -> dict[str, Any]:
    """What /api/realtime and its export take: how many minutes, up to the clock's."""
    return {"minutes": minutes}


def kpis(marts: Marts, f: Filters, branches: list[str] | None, **_: Any) -> pa.Table:
    """A row per KPI: its value, the previous period's, the same days last week's and the changes in %."""
    prev, week = f.shifted(f.days), f.shifted(7)
    periods = {
        r["period"]: r
        for r in marts.query(
            sql("kpis"),
            {
                **f.params(),
                "prev_start": prev.start,
                "prev_end": prev.end,
                "week_start": week.start,
                "week_end": week.end,
            },
        ).to_pylist()
    }
    now, before, last_week = periods["current"], periods["previous"], periods["last_week"]
    rows = [
        {
            "kpi": k,
            "value": now[k],
            "previous": before[k],
            "last_week": last_week[k],
            "vs_previous_pct": _change(now[k], before[k]),
            "vs_last_week_pct": _change(now[k], last_week[k]),
        }
        for k in KPIS
    ]
    return pa.Table.from_pylist(
        [{**r, **{c: None if r[c] is None else str(r[c]) for c in ("value", "previous", "last_week")}} for r in rows]
    )


def sales(marts: Marts, f: Filters, branches: list[str] | None, *, by: str = "branch", grain: str = "day") -> pa.Table:
    """Approved sales per period by a dimension (tickets counted once, unless categories are involved)."""
    name = "sales_by_category" if by == "category" or f.categories else "sales_by_ticket"
    return marts.query(sql(name), {**f.params(), "by": by, "grain": grain})


def realtime(marts: Marts, f: Filters | None, branches: list[str] | None, *, minutes: int = 60) -> pa.Table:
    """Approved sales per minute of the last `minutes` minutes up to the clock's, every minute present."""
    params = {
        "until": floor_minute(marts.clock()),
        "minutes": minutes,
        "branches": branches,
        "channels": list(f.channels) if f and f.channels else None,
        "payment_types": list(f.payment_types) if f and f.payment_types else None,
    }
    return marts.query(sql("realtime"), params)


def choices(marts: Marts, f: Filters | None, branches: list[str] | None, **_: Any) -> pa.Table:
    """The branches in scope and the product categories, as (kind, value, label) rows (see choices.sql)."""
    return marts.query(sql("choices"), {"branches": branches})


def _change(value, base) -> float | None:
    """Percent change from `base` to `value`, one decimal; None when there is no base to compare with."""
    if value is None or not base:
        return None
    return round(100 * (float(value) - float(base)) / float(base), 1)


def reconciliation(marts: Marts, f: Filters | None, branches: list[str] | None, **_: Any) -> pa.Table:
    """Per branch in scope: hours checked against the branch sources, hours failing, the first of them, the
    last check, and the revenue each side reports (the quality page's reconciliation)."""
    return marts.query(sql("reconciliation"), {"branches": branches})


MART = Mart(
    name="sales",
    tables=(
        Held("gold.sales_tickets_daily"),
        Held("gold.sales_daily"),
        Held("gold.dim_branch"),
        Held("gold.dim_product"),
        Held(MINUTE, empty=MINUTE_SCHEMA, recent=("minute", timedelta(hours=REALTIME_HOURS))),
        Held(RECONCILIATION, empty=RECONCILIATION_SCHEMA),
    ),
    datasets=(
        Dataset("kpis", Permission.SALES, kpis, filtered=True, default_days=1, cached=True),
        Dataset("sales", Permission.SALES, sales, filtered=True, options=sales_options, cached=True),
        Dataset(
            "realtime",
            Permission.SALES,
            realtime,
            filtered=True,
            options=realtime_options,
            cached=True,
            per_minute=True,
        ),
        Dataset("choices", Permission.SALES, choices, exported=False),
        Dataset("reconciliation", Permission.QUALITY, reconciliation),
    ),
    latest=sql("latest"),
    vocabularies={"channel": CHANNELS, "payment_type": PAYMENT_TYPES},
    quarantined=("sales", "sales_lines", "sales_events"),
)
