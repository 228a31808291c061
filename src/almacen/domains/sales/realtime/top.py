"""`almacen top`: a live terminal view of the last minutes of sales, refreshed every second."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from rich.console import Group, JustifyMethod
from rich.live import Live
from rich.table import Table

from almacen.clock import utc_now
from almacen.domains.sales.realtime.query import sales_minutes
from almacen.lake import Lake


def _money(value) -> str:
    return f"$ {float(value or 0):,.0f}".replace(",", ".")


def render(lake: Lake, minutes: int = 10, until: datetime | None = None) -> Group:
    """Approved sales per minute by channel, and the busiest branches, over the last `minutes`."""
    until = until or utc_now()
    by_channel = sales_minutes(lake, minutes, ["channel"], until=until, status="aprobada").to_pylist()
    channels = sorted({r["channel"] for r in by_channel})
    per_minute = Table(title=f"approved sales per minute, last {minutes} min (UTC)", expand=False)
    per_minute.add_column("minute")
    for c in channels:
        per_minute.add_column(c, justify="right")
    per_minute.add_column("total", justify="right")
    rows: dict[datetime, dict[str, dict]] = {}
    for r in by_channel:
        rows.setdefault(r["minute"], {})[r["channel"]] = r
    for minute in sorted(rows):
        cells = [
            f"{rows[minute][c]['events']} · {_money(rows[minute][c]['amount'])}" if c in rows[minute] else "-"
            for c in channels
        ]
        total = sum(r["amount"] for r in rows[minute].values())
        per_minute.add_row(f"{minute:%H:%M}", *cells, _money(total))
    branches = Table(title="by branch", expand=False)
    justified: tuple[tuple[str, JustifyMethod], ...] = (("branch", "left"), ("sales", "right"), ("amount", "right"))
    for col, justify in justified:
        branches.add_column(col, justify=justify)
    by_branch = sales_minutes(lake, minutes, ["branch_id"], until=until, per_minute=False, status="aprobada")
    for r in sorted(by_branch.to_pylist(), key=lambda r: -float(r["amount"])):
        branches.add_row(r["branch_id"], str(r["events"]), _money(r["amount"]))
    return Group(per_minute, branches)


def live(lake: Lake, minutes: int = 10, refresh_s: float = 1.0, stop: Callable[[], bool] = lambda: False) -> None:
    """Redraw `render` every `refresh_s` seconds until interrupted (or `stop` says so)."""
    with Live(render(lake, minutes), refresh_per_second=4, screen=False) as view:
        while not stop():
            time.sleep(refresh_s)
            view.update(render(lake, minutes))
