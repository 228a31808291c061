"""The serving query layer: what pages, API and exports read, cut to the asking user's scope.

Gold marts are small (a row per day × branch × dimension), so they are held in an in-memory DuckDB
and reloaded when their Delta version moves; each query runs on its own cursor, with bound
parameters from the SQL files beside this module. Every read goes through `Marts.read`, which
applies the user's permission and branch scope: this is the one place they are enforced.

Sales results are kept until the next reload of any mart, keyed by the scoped filters: dashboards
ask the same few questions over and over, and a query costs 5–15 ms of CPU against ~0.1 ms for a
cached answer (benchmarks/serve.py). The permission check and the scope cut run before the lookup.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from almacen.lake import Access, Lake, access_of
from almacen.monitor.runs import RUNS, SCHEMA as RUNS_SCHEMA
from almacen.realtime.rollup import MINUTE, MINUTE_SCHEMA, floor_minute
from almacen.security import Permission, User, require
from almacen.serve.filters import Filters

_SQL = resources.files("almacen.serve") / "sql"
_TS = pa.timestamp("us", tz="UTC")
REQUIRED = ("gold.sales_tickets_daily", "gold.sales_daily", "gold.dim_branch", "gold.dim_product")
OPTIONAL = {
    RUNS: RUNS_SCHEMA,
    "_system.reconciliation": pa.schema([
        ("branch_id", pa.string()), ("hour", _TS), ("ok", pa.bool_()), ("checked_at", _TS),
        ("source_revenue", pa.decimal128(18, 2)), ("gold_revenue", pa.decimal128(18, 2))]),
}
QUARANTINE_SCHEMA = pa.schema([("table_name", pa.string()), ("branch_id", pa.string()), ("batch_id", pa.string()),
                               ("rule", pa.string()), ("reason", pa.string()), ("quarantined_at", _TS)])
QUARANTINED = ("sales", "sales_lines", "sales_events")
REALTIME_HOURS = 3
"""how much of gold.sales_minute is held in memory: the real-time page shows at most the last hour"""
CACHED = ("kpis", "sales", "realtime")
"""datasets whose answer depends only on the loaded marts, the scoped filters and (real time) the minute"""
CACHE_ENTRIES = 512


KPIS = ("revenue", "tickets", "avg_ticket", "units_per_ticket", "approval_rate")


SERVED_GOLD = (*REQUIRED, MINUTE)
"""the gold tables the dashboard reads; each must be declared branch-scoped or public (cut here by branch)"""


def check_served_scopes() -> None:
    """Refuse to serve a gold table whose access scope is undeclared, or is one this layer does not cut
    (client, admin): nothing is served without a scope, and the branch cut below is the right one."""
    import almacen.models  # noqa: F401 - declares the sales models' scopes from their SQL headers

    wrong = [f"{t} ({'undeclared' if access_of(t) is None else access_of(t).access})" for t in SERVED_GOLD
             if access_of(t) is None or access_of(t).access not in (Access.BRANCH, Access.PUBLIC)]
    if wrong:
        raise RuntimeError(f"serve: {', '.join(wrong)} may not be served: the dashboard cuts rows by branch "
                           "only; declare them branch or public (almacen.lake.access)")


class NotBuilt(LookupError):
    """A gold mart the dashboard needs is not in the lake yet."""


def sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text(encoding="utf-8")


class Marts:
    """Gold marts in memory for serving, refreshed from the lake at most every `refresh_seconds`."""

    def __init__(self, lake: Lake, *, refresh_seconds: float = 5.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        check_served_scopes()
        self.lake, self.refresh_seconds, self.clock = lake, refresh_seconds, clock
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        for schema in ("gold", "_system", "serving"):
            self._con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        self._versions: dict[str, int | None] = {}
        self._checked = 0.0
        self._lock = threading.Lock()
        self._generation = 0
        """bumped by every reload of a mart: cached results of an older generation are never served"""
        self._results: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._results_lock = threading.Lock()
        self._latest: dict[tuple[int, tuple[str, ...] | None], date] = {}

    # -- what callers ask -------------------------------------------------------------------------

    def read(self, user: User, dataset: str, filters: Filters | None = None, **options) -> pa.Table:
        """One dataset for one user: the permission is checked and the filters cut to the user's scope."""
        query = QUERIES.get(dataset)
        if query is None:
            raise LookupError(f"no dataset {dataset!r}; known: {', '.join(sorted(QUERIES))}")
        permission, fn = query
        require(user.role, permission)
        if filters is not None:
            filters = filters.within(user.scope)
        scoped = filters.branches if filters is not None else user.scope.restrict(None)
        self.refresh()
        if dataset not in CACHED:
            return fn(self, filters, scoped, **options)
        minute = floor_minute(self.clock()) if dataset == "realtime" else None
        key = (self._generation, dataset, filters, None if scoped is None else tuple(scoped), minute,
               tuple(sorted(options.items())))
        with self._results_lock:
            found = self._results.get(key)
            if found is not None:
                self._results.move_to_end(key)
                return found
        result = fn(self, filters, scoped, **options)
        with self._results_lock:
            self._results[key] = result
            while len(self._results) > CACHE_ENTRIES:
                self._results.popitem(last=False)
        return result

    def latest_date(self, branches: list[str] | None = None) -> date:
        """The last business date with sales in the marts, over `branches` (None: every branch); today
        when there are none. A branch manager's default range thus ends on their branches' last day."""
        self.refresh()
        generation = self._generation
        key = None if branches is None else tuple(sorted(branches))
        with self._results_lock:
            found = self._latest.get((generation, key))
        if found is not None:
            return found
        value = self._query("SELECT max(date) AS d FROM gold.sales_tickets_daily "
                            "WHERE $b::VARCHAR[] IS NULL OR list_contains($b::VARCHAR[], branch_id)",
                            {"b": None if key is None else list(key)})["d"][0].as_py()
        value = value or self.clock().date()
        with self._results_lock:
            if len(self._latest) > CACHE_ENTRIES:
                self._latest.clear()
            self._latest[(generation, key)] = value
        return value

    def choices(self, user: User) -> dict[str, list]:
        """What the filter controls offer this user: branches in scope, categories, channels, payment types."""
        self.refresh()
        branches = self._query(
            "SELECT branch_id, name FROM gold.dim_branch WHERE $b::VARCHAR[] IS NULL OR list_contains($b::VARCHAR[], branch_id) "
            "ORDER BY name", {"b": user.scope.restrict(None)}).to_pylist()
        categories = self._query("SELECT DISTINCT category FROM gold.dim_product WHERE category IS NOT NULL ORDER BY 1", {})
        return {"branches": branches, "categories": categories["category"].to_pylist()}

    # -- datasets ---------------------------------------------------------------------------------

    def _kpis(self, f: Filters, branches, **_) -> pa.Table:
        """A row per KPI: its value, the previous period's, the same days last week's and the changes in %."""
        prev, week = f.shifted(f.days), f.shifted(7)
        periods = {r["period"]: r for r in self._query(sql("kpis"), {
            **f.params(), "prev_start": prev.start, "prev_end": prev.end,
            "week_start": week.start, "week_end": week.end}).to_pylist()}
        now, before, last_week = periods["current"], periods["previous"], periods["last_week"]
        rows = [{"kpi": k, "value": now[k], "previous": before[k], "last_week": last_week[k],
                 "vs_previous_pct": _change(now[k], before[k]), "vs_last_week_pct": _change(now[k], last_week[k])}
                for k in KPIS]
        return pa.Table.from_pylist([{**r, **{c: None if r[c] is None else str(r[c])
                                             for c in ("value", "previous", "last_week")}} for r in rows])

    def _sales(self, f: Filters, branches, *, by: str = "branch", grain: str = "day") -> pa.Table:
        name = "sales_by_category" if by == "category" or f.categories else "sales_by_ticket"
        return self._query(sql(name), {**f.params(), "by": by, "grain": grain})

    def _realtime(self, f: Filters | None, branches, *, minutes: int = 60) -> pa.Table:
        until = floor_minute(self.clock())
        params = {"until": until, "minutes": minutes, "branches": branches,
                  "channels": list(f.channels) if f and f.channels else None,
                  "payment_types": list(f.payment_types) if f and f.payment_types else None}
        return self._query(sql("realtime"), params)

    def _quality(self, f, branches, *, part: str) -> pa.Table:
        params = {"branches": branches} | ({"now": self.clock()} if part == "freshness" else {})
        return self._query(sql(part), params)

    # -- loading ----------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Reload the tables whose Delta version moved (checked at most every `refresh_seconds`)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.refresh_seconds:
                return
            for table in REQUIRED:
                self._load(table, required=True)
            for table, schema in OPTIONAL.items():
                self._load(table, empty=schema)
            self._load(MINUTE, empty=MINUTE_SCHEMA, recent=True)
            self._load_quarantine()
            self._checked = time.monotonic()

    def _load(self, table: str, *, required: bool = False, empty: pa.Schema | None = None, recent: bool = False) -> None:
        dt = self.lake.table(table)
        version = None if dt is None else dt.version()
        if table in self._versions and self._versions[table] == version:
            # the recent minutes held are a superset of any window asked until a new version adds rows:
            # reloading them anyway bumped the generation every refresh and emptied the answer cache
            return
        if dt is None:
            if required:
                raise NotBuilt(f"{table} is not in the lake at {self.lake.path(table)}: run `almacen build` first")
            data = empty.empty_table()
        elif recent:
            data = self._recent_minutes()
        else:
            data = self.lake.read(table)
        self._replace(table, data)
        self._versions[table] = version

    def _recent_minutes(self) -> pa.Table:
        import pyarrow.dataset as pads

        since = floor_minute(self.clock()) - timedelta(hours=REALTIME_HOURS)
        rows = self.lake.dataset(MINUTE).to_table(filter=pads.field("minute") >= pa.scalar(since, _TS))
        return rows.cast(MINUTE_SCHEMA)

    def _load_quarantine(self) -> None:
        parts, versions = [], []
        for name in self._quarantine_tables():
            dt = self.lake.table(f"quarantine.{name}")
            versions.append((name, None if dt is None else dt.version()))
        if self._versions.get("quarantine.*") == versions:
            return
        for name, version in versions:
            if version is None:
                continue
            data = self.lake.dataset(f"quarantine.{name}")
            cols = {"branch_id": "branch_id", "_batch_id": "batch_id", "_rule": "rule", "_reason": "reason",
                    "_quarantined_at": "quarantined_at"}
            got = data.to_table(columns=[c for c in cols if c in data.schema.names])
            n = got.num_rows
            parts.append(pa.table({
                "table_name": pa.array([name] * n, pa.string()),
                **{new: (got[old] if old in got.column_names else pa.nulls(n, QUARANTINE_SCHEMA.field(new).type))
                   for old, new in cols.items()}}).cast(QUARANTINE_SCHEMA))
        self._replace("serving.quarantine", pa.concat_tables(parts) if parts else QUARANTINE_SCHEMA.empty_table())
        self._versions["quarantine.*"] = versions

    def _quarantine_tables(self) -> list[str]:
        if "://" in self.lake.root:
            return list(QUARANTINED)
        folder = Path(self.lake.root) / "quarantine"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def _replace(self, table: str, data: pa.Table) -> None:
        schema, _, name = table.partition(".")
        self._con.register("__incoming", data)
        try:
            self._con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM __incoming')
        finally:
            self._con.unregister("__incoming")
        with self._results_lock:
            self._generation += 1
            self._results.clear()

    def _query(self, text: str, params: dict[str, object]) -> pa.Table:
        """Run one statement on its own cursor, binding the parameters it names (DuckDB refuses extras)."""
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", text)}
        cursor = self._con.cursor()
        try:
            return cursor.sql(text, params=used or None).to_arrow_table()
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()


def _change(value, base) -> float | None:
    """Percent change from `base` to `value`, one decimal; None when there is no base to compare with."""
    if value is None or not base:
        return None
    return round(100 * (float(value) - float(base)) / float(base), 1)


QUERIES: dict[str, tuple[Permission, Callable[..., pa.Table]]] = {
    "kpis": (Permission.SALES, Marts._kpis),
    "sales": (Permission.SALES, Marts._sales),
    "realtime": (Permission.SALES, Marts._realtime),
    "runs": (Permission.QUALITY, lambda m, f, b, **o: m._quality(f, b, part="runs")),
    "freshness": (Permission.QUALITY, lambda m, f, b, **o: m._quality(f, b, part="freshness")),
    "quarantine": (Permission.QUALITY, lambda m, f, b, **o: m._quality(f, b, part="quarantine_summary")),
    "quarantine_rows": (Permission.QUALITY, lambda m, f, b, **o: m._quality(f, b, part="quarantine_rows")),
    "reconciliation": (Permission.QUALITY, lambda m, f, b, **o: m._quality(f, b, part="reconciliation")),
}
"""dataset name -> (permission it needs, how it is computed)"""
