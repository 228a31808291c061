"""The returns domain's command: `almacen returns`, returns per branch from gold.returns_minute."""

from __future__ import annotations

import typer

from almacen.config import load_config
from almacen.lake import Lake
from almacen.terminal import ConfigOpt, console, friendly


def install(app: typer.Typer) -> None:
    """Add `returns` to the `almacen` app."""
    app.command("returns")(friendly(returns))


def returns(config: ConfigOpt = None) -> None:
    """Returns at the counter per branch, from the stream's gold."""
    minutes = Lake(load_config(config).lake).read("gold.returns_minute")
    if minutes is None:
        console.print("no returns yet")
        return
    totals = minutes.group_by("branch_id").aggregate([("returns", "sum"), ("amount", "sum")]).sort_by("branch_id")
    for row in totals.to_pylist():
        console.print(f"{row['branch_id']}: {row['returns_sum']} returns, ARS {row['amount_sum']}")
