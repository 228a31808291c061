"""The serving query layer: what pages, API and exports read, cut to the asking user's scope.

Gold marts are small (a row per day × branch × dimension), so they are held as tables of an
in-memory DuckDBEngine (`STATE_TABLES`) and reloaded when their Delta version moves; each query runs
on its own cursor (`Engine.read`), with bound parameters from the SQL files beside this module.
Every read goes through `Marts.read`, which applies the user's permission and branch scope: this is
the one place they are enforced.

The tables held and the datasets answered come from the marts the server is given (`almacen.serve.site.Mart`:
each domain declares one) beside the server's own `SYSTEM` mart (runs, freshness, quarantine); this module names no
domain's table.

Answers of cached datasets are kept until the next reload of any table, keyed by the scoped filters:
dashboards ask the same few questions over and over, and a query costs 5–15 ms of CPU against ~0.1 ms
for a cached answer (benchmarks/serve.py). The permission check and the scope cut run before the lookup.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from almacen.clock import floor_minute, utc_now
from almacen.engine import DuckDBEngine
from almacen.errors import NotFound
from almacen.lake import Access, Lake, access_of
from almacen.monitor.runs import RUNS
from almacen.monitor.runs import SCHEMA as RUNS_SCHEMA
from almacen.security import Permission, User, require
from almacen.serve.filters import Filters
from almacen.serve.site import Dataset, Held, Mart
from almacen.sql import load_sql

_TS = pa.timestamp("us", tz="UTC")
BRANCHES_SCHEMA = pa.schema([("branch_id", pa.string()), ("name", pa.string())])
QUARANTINE_SCHEMA = pa.schema(
    [
        ("table_name", pa.string()),
        ("branch_id", pa.string()),
        ("batch_id", pa.string()),
        ("rule", pa.string()),
        ("reason", pa.string()),
        ("quarantined_at", _TS),
    ]
)
CACHE_ENTRIES = 512


def check_served_scopes(tables: Iterable[str]) -> None:
    """Refuse to serve a gold table of `tables` whose access scope is undeclared, or is one this layer does
    not cut (client, admin): nothing is served without a scope, and the branch cut below is the right one.
    The scopes are declared before (`almacen.domain.Registry.site` declares every domain's)."""
    gold = [t for t in tables if t.startswith("gold.")]
    wrong = [
        f"{t} ({'undeclared' if d is None else d.access})"
        for t, d in ((t, access_of(t)) for t in gold)
        if d is None or d.access not in (Access.BRANCH, Access.PUBLIC)
    ]
    if wrong:
        raise RuntimeError(
            f"serve: {', '.join(wrong)} may not be served: the dashboard cuts rows by branch "
            "only; declare them branch or public (almacen.lake.access)"
        )


class NotBuilt(NotFound):
    """A gold mart the dashboard needs is not in the lake yet; the server answers 503 (not ready), not 404."""


def sql(name: str) -> str:
    """The text of the dashboard query `name` (serve/sql/<name>.sql)."""
    return load_sql("almacen.serve", f"sql/{name}.sql")


class Marts:
    """The tables of `marts` (and of `SYSTEM`) in memory for serving, refreshed from the lake at most
    every `refresh_seconds`; `branches` (id -> name, as configured) are the branches the quality page lists.

    Raises:
        ValueError: two marts serve a dataset of the same name, or give one filter different vocabularies.
        RuntimeError: a gold table held has no access scope this layer can cut by (`check_served_scopes`).
    """

    def __init__(
        self,
        lake: Lake,
        *,
        marts: Sequence[Mart] = (),
        branches: Mapping[str, str] | None = None,
        refresh_seconds: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.marts = (SYSTEM, *marts)
        self._datasets: dict[str, Dataset] = {}
        self._latest_sql: dict[str, str | None] = {}
        vocabularies: dict[str, tuple[str, ...]] = {}
        for mart in self.marts:
            for ds in mart.datasets:
                if ds.name in self._datasets:
                    raise ValueError(f"serve: the dataset {ds.name!r} of the {mart.name} mart is served already")
                self._datasets[ds.name], self._latest_sql[ds.name] = ds, mart.latest
            for name, values in mart.vocabularies.items():
                if vocabularies.setdefault(name, tuple(values)) != tuple(values):
                    raise ValueError(
                        f"serve: the {mart.name} mart gives the {name} filter other values than "
                        f"another mart: {values} against {vocabularies[name]}"
                    )
        self.vocabularies: Mapping[str, tuple[str, ...]] = vocabularies
        """the closed values each filter accepts, by filter name (`channel`, `payment_type`)"""
        self._held: tuple[Held, ...] = tuple(t for mart in self.marts for t in mart.tables)
        for held in self._held:
            if held.recent is not None and held.empty is None:
                raise ValueError(f"serve: {held.name} holds only recent rows, so it needs its `empty` schema")
        self._quarantined = tuple(dict.fromkeys(q for mart in self.marts for q in mart.quarantined))
        check_served_scopes(t.name for t in self._held)
        self.lake, self.refresh_seconds, self.clock = lake, refresh_seconds, clock
        self._engine = DuckDBEngine()  # in UTC, as the lake
        for schema in dict.fromkeys(("gold", "_system", "serving", *(t.name.partition(".")[0] for t in self._held))):
            self._engine.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        self._versions: dict[str, int | None | list[tuple[str, int | None]]] = {}
        """the Delta version each held table was loaded at; under `quarantine.*`, every quarantine table's"""
        self._checked = 0.0
        self._lock = threading.Lock()
        self._generation = 0
        """bumped by every reload of a mart: cached results of an older generation are never served"""
        self._results: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._results_lock = threading.Lock()
        self._latest: dict[tuple[int, str, tuple[str, ...] | None], date] = {}
        self._replace(
            "serving.branches",
            pa.Table.from_pylist(
                [{"branch_id": k, "name": v} for k, v in (branches or {}).items()], schema=BRANCHES_SCHEMA
            ),
        )

    # -- what callers ask -------------------------------------------------------------------------

    def read(self, user: User, dataset: str, filters: Filters | None = None, **options) -> pa.Table:
        """One dataset for one user: the permission is checked and the filters cut to the user's scope."""
        ds = self._datasets.get(dataset)
        if ds is None:
            raise NotFound(f"no dataset {dataset!r}; known: {', '.join(sorted(self._datasets))}")
        require(user.role, ds.permission)
        if filters is not None:
            filters = filters.within(user.scope)
        scoped = filters.branches if filters is not None else user.scope.restrict(None)
        self.refresh()
        if not ds.cached:
            return ds.compute(self, filters, scoped, **options)
        minute = floor_minute(self.clock()) if ds.per_minute else None
        key = (
            self._generation,
            dataset,
            filters,
            None if scoped is None else tuple(scoped),
            minute,
            tuple(sorted(options.items())),
        )
        with self._results_lock:
            found = self._results.get(key)
            if found is not None:
                self._results.move_to_end(key)
                return found
        result = ds.compute(self, filters, scoped, **options)
        with self._results_lock:
            self._results[key] = result
            while len(self._results) > CACHE_ENTRIES:
                self._results.popitem(last=False)
        return result

    @property
    def datasets(self) -> Mapping[str, Dataset]:
        """Every dataset served, by name (the server's own first, then the marts' in the order given)."""
        return self._datasets

    def latest_date(self, dataset: str, branches: list[str] | None = None) -> date:
        """The last business date with data for `dataset` (its mart's `latest` SQL), over `branches` (None:
        every branch); today when there is none. A branch manager's default range thus ends on their
        branches' last day."""
        text = self._latest_sql.get(dataset)
        if text is None:
            return self.clock().date()
        self.refresh()
        generation = self._generation
        key = None if branches is None else tuple(sorted(branches))
        with self._results_lock:
            found = self._latest.get((generation, text, key))
        if found is not None:
            return found
        value = self._query(text, {"branches": None if key is None else list(key)})["d"][0].as_py()
        value = value or self.clock().date()
        with self._results_lock:
            if len(self._latest) > CACHE_ENTRIES:
                self._latest.clear()
            self._latest[(generation, text, key)] = value
        return value

    def query(self, text: str, params: Mapping[str, object]) -> pa.Table:
        """Run one SELECT over the held tables, binding the parameters it names: what a dataset's
        `compute` calls (after `read` checked the permission and cut the filters to the user's scope)."""
        return self._query(text, dict(params))

    # -- loading ----------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Reload the tables whose Delta version moved (checked at most every `refresh_seconds`)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._checked < self.refresh_seconds:
                return
            for held in self._held:
                self._load(held)
            self._load_quarantine()
            self._checked = time.monotonic()

    def _load(self, held: Held) -> None:
        table = held.name
        dt = self.lake.table(table)
        version = None if dt is None else dt.version()
        if table in self._versions and self._versions[table] == version:
            # the recent minutes held are a superset of any window asked until a new version adds rows:
            # reloading them anyway bumped the generation every refresh and emptied the answer cache
            return
        if dt is None:
            if held.empty is None:
                raise NotBuilt(f"{table} is not in the lake at {self.lake.path(table)}: run `almacen build` first")
            data = held.empty.empty_table()
        elif held.recent is not None:
            data = self._recent(held)
        else:
            data = self.lake.read(table)
        self._replace(table, data)
        self._versions[table] = version

    def _recent(self, held: Held) -> pa.Table:
        """The rows of a table held recent only: its timestamp column within the span of the clock's minute."""
        import pyarrow.dataset as pads

        assert held.recent is not None and held.empty is not None  # checked when the marts were given
        column, span = held.recent
        since = floor_minute(self.clock()) - span
        data = self.lake.dataset(held.name)
        assert data is not None  # `_load` found the table
        rows = data.to_table(filter=pads.field(column) >= pa.scalar(since, _TS))
        return rows.cast(held.empty)

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
            assert data is not None  # it has a version
            cols = {
                "branch_id": "branch_id",
                "_batch_id": "batch_id",
                "_rule": "rule",
                "_reason": "reason",
                "_quarantined_at": "quarantined_at",
            }
            got = data.to_table(columns=[c for c in cols if c in data.schema.names])
            n = got.num_rows
            parts.append(
                pa.table(
                    {
                        "table_name": pa.array([name] * n, pa.string()),
                        **{
                            new: (
                                got[old] if old in got.column_names else pa.nulls(n, QUARANTINE_SCHEMA.field(new).type)
                            )
                            for old, new in cols.items()
                        },
                    }
                ).cast(QUARANTINE_SCHEMA)
            )
        self._replace("serving.quarantine", pa.concat_tables(parts) if parts else QUARANTINE_SCHEMA.empty_table())
        self._versions["quarantine.*"] = versions

    def _quarantine_tables(self) -> list[str]:
        if "://" in self.lake.root:
            return list(self._quarantined)
        folder = Path(self.lake.root) / "quarantine"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def _replace(self, table: str, data: pa.Table) -> None:
        schema, _, name = table.partition(".")
        self._engine.register("incoming", data)
        try:
            self._engine.execute(f'CREATE OR REPLACE TABLE "{schema}"."{name}" AS SELECT * FROM incoming')
        finally:
            self._engine.forget("incoming")
        with self._results_lock:
            self._generation += 1
            self._results.clear()

    def _query(self, text: str, params: dict[str, object]) -> pa.Table:
        """Run one statement on its own cursor, binding the parameters it names (DuckDB refuses extras)."""
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", text)}
        return self._engine.read(text, used or None)

    def close(self) -> None:
        self._engine.close()


def _quality(part: str) -> Callable[..., pa.Table]:
    """How a quality dataset is computed: `sql/<part>.sql` over the system tables, cut to the branches in scope."""

    def compute(marts: Marts, filters: Filters | None, branches: list[str] | None, **_: object) -> pa.Table:
        return marts.query(sql(part), {"branches": branches} | ({"now": marts.clock()} if part == "freshness" else {}))

    return compute


SYSTEM = Mart(
    name="system",
    tables=(Held(RUNS, empty=RUNS_SCHEMA),),
    datasets=tuple(
        Dataset(name, Permission.QUALITY, _quality(part))
        for name, part in (
            ("runs", "runs"),
            ("freshness", "freshness"),
            ("quarantine", "quarantine_summary"),
            ("quarantine_rows", "quarantine_rows"),
        )
    ),
)
"""what the server itself serves: job runs, freshness per configured branch, quarantine (a domain adds its
reconciliation: the sales mart's `reconciliation`)"""
