"""Catch-up: which (branch, hour) slices are not final yet, and which hours every run reads again.

A slice is final when its latest `ok` extract run is settled. An `ok` run that read no rows is not
proof that the hour was empty: the source may not have had the hour yet (a POS that syncs late, a
replica behind). So an empty slice is `unsettled`, and read again by every catch-up, while both:

- the branch normally sells then: among the same hour of the previous `HISTORY_DAYS` days that were
  extracted for the branch (their latest `ok` run), more than half read rows; and
- the source is not past it: its latest cursor (converted to UTC, measured when the slice was read)
  is earlier than the hour's end plus `settle_hours`.

An hour with no history at all is taken as final when empty: there is nothing to compare it with.

`lookback_hours` (dlt's "lag") is the other safety net: every run also reads the last N hours again,
so a back-office correction that does not move the cursor (a line's product or amount changed, the
header's last-modified time untouched) is picked up while it is within those hours. Older ones are
found by reconciliation, not by extraction.

The lake's run records are the only state: nothing here is kept anywhere else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import hour_start, hours_between
from almacen.config import Settings
from almacen.lake import Lake
from almacen.monitor import read_runs

HISTORY_DAYS = 7
"""how many previous days of the same hour decide whether a branch normally sells then"""

History = dict[tuple[str, datetime], int]
"""(branch id, hour) -> rows read by the slice's latest `ok` extract run"""


def extract_runs_since(hour: datetime) -> pads.Expression:
    """The extract run records `normally_sells` may look at for slices from `hour` on (a dataset filter,
    so that a run reads the last `HISTORY_DAYS` days of records, not every record ever written)."""
    since = pa.scalar(hour_start(hour) - timedelta(days=HISTORY_DAYS), pa.timestamp("us", tz="UTC"))
    return (pads.field("job") == "extract") & (pads.field("window_start") >= since)


def extract_history(runs: pa.Table) -> tuple[History, set[tuple[str, datetime]]]:
    """Per (branch, hour): the rows read by its latest `ok` extract run, and the slices whose latest
    `ok` run is unsettled. `runs` is `read_runs`' table; records are taken in the order written."""
    ok = runs.filter(pc.and_(pc.equal(runs["job"], "extract"), pc.equal(runs["status"], "ok")))
    if ok.num_rows == 0:
        return {}, set()
    ok = ok.sort_by([("started_at", "ascending")]).select(["branch_id", "window_start", "rows_read", "unsettled"])
    latest = (
        ok.group_by(["branch_id", "window_start"], use_threads=False)
        .aggregate([("rows_read", "last"), ("unsettled", "last")])
        .to_pylist()
    )
    history = {(r["branch_id"], r["window_start"]): r["rows_read_last"] for r in latest}
    unsettled = {(r["branch_id"], r["window_start"]) for r in latest if r["unsettled_last"]}
    return history, unsettled


def normally_sells(history: History, branch_id: str, hour: datetime) -> bool:
    """Whether more than half of the same hour's extracted slices of the previous `HISTORY_DAYS` days
    read rows for the branch (False with no history)."""
    before = [
        history[key]
        for day in range(1, HISTORY_DAYS + 1)
        if (key := (branch_id, hour - timedelta(days=day))) in history
    ]
    return bool(before) and 2 * sum(n > 0 for n in before) > len(before)


def is_unsettled(settings: Settings, hour: datetime, source_latest: datetime | None) -> bool:
    """For an empty slice of an hour the branch normally sells in (`normally_sells`): whether the source
    (latest cursor `source_latest`, UTC; None: no rows at all) is not yet `settle_hours` past the hour's end."""
    settle = hour + timedelta(hours=1 + settings.settle_hours)
    return source_latest is None or source_latest < settle


def missed_slices(
    settings: Settings, since: datetime | None, until: datetime, branch_ids: list[str] | None = None
) -> list[tuple[str, datetime]]:
    """Every (branch, hour) in [since, until) without an `ok` extract run, or whose latest `ok` run is
    unsettled (an empty hour the branch normally sells in, read before the source was past it).

    `since` defaults to the first hour any extraction ran for; the lake's run records are the
    only state, so a slice whose data committed but whose record did not is simply done again.
    """
    runs = read_runs(Lake(settings.lake))
    runs = runs.filter(pc.equal(runs["job"], "extract"))
    if since is None:
        if runs.num_rows == 0:
            return []
        since = pc.min(runs["window_start"]).as_py()
    history, unsettled = extract_history(runs)
    branches = branch_ids or [b.id for b in settings.branches if b.enabled]
    return [
        (b, hour)
        for hour in hours_between(hour_start(since), until)
        for b in branches
        if (b, hour) not in history or (b, hour) in unsettled
    ]


def lookback_slices(
    settings: Settings, until: datetime, branch_ids: list[str] | None = None
) -> list[tuple[str, datetime]]:
    """The (branch, hour) slices of the `lookback_hours` before `until` (a branch's own setting over the
    top-level one), which every hourly run reads again (see the module docstring)."""
    branches = [settings.branch(b) for b in branch_ids] if branch_ids else [b for b in settings.branches if b.enabled]
    end, slices = hour_start(until), []
    for b in branches:
        n = settings.lookback_hours if b.lookback_hours is None else b.lookback_hours
        slices += [(b.id, end - timedelta(hours=k)) for k in range(n, 0, -1)]
    return slices
