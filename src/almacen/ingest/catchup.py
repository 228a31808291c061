"""Catch-up: which (branch, hour) slices have no successful extraction yet."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow.compute as pc

from almacen.config import Settings
from almacen.lake import Lake
from almacen.monitor import read_runs


def missed_slices(settings: Settings, since: datetime | None, until: datetime,
                  branch_ids: list[str] | None = None) -> list[tuple[str, datetime]]:
    """Every (branch, hour) in [since, until) without an `ok` extract run.

    `since` defaults to the first hour any extraction ran for; the lake's run records are the
    only state, so a slice whose data committed but whose record did not is simply done again.
    """
    runs = read_runs(Lake(settings.lake))
    runs = runs.filter(pc.equal(runs["job"], "extract"))
    if since is None:
        if runs.num_rows == 0:
            return []
        since = pc.min(runs["window_start"]).as_py()
    done = {(r["branch_id"], r["window_start"]) for r in
            runs.filter(pc.equal(runs["status"], "ok")).select(["branch_id", "window_start"]).to_pylist()}
    branches = branch_ids or [b.id for b in settings.branches if b.enabled]
    missed, hour = [], since
    while hour < until:
        missed += [(b, hour) for b in branches if (b, hour) not in done]
        hour += timedelta(hours=1)
    return missed
