"""Reconciliation: per branch and hour, what each source holds now versus gold plus quarantine.

The source side is read straight from the branch database (through the same mapping, none of
the lake): every sale by the hour it was sold, its latest state. The lake side is gold, and what
gold is missing must be exactly what quarantine holds: source = gold + quarantined, in tickets,
approved tickets and approved revenue, or the hour is listed as a difference.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import utc
from almacen.config import Branch, Settings, resolve_url
from almacen.engine import open_engine
from almacen.ingest.catalog import load_catalog
from almacen.ingest.conform import conform
from almacen.ingest.lineage import add_lineage, normalise
from almacen.lake import Lake, concat
from almacen.sources import read_window, safe_source

RECONCILIATION = "_system.reconciliation"
_SQL = resources.files("almacen.domains.sales") / "reconcile.sql"


@dataclass(frozen=True)
class Reconciliation:
    rows: pa.Table
    """one row per (branch, hour) with source, gold and quarantined measures and `ok`"""
    errors: dict[str, str]
    """branches whose source could not be read, with why"""

    @property
    def ok(self) -> bool:
        return not self.errors and (self.rows.num_rows == 0 or all(self.rows["ok"].to_pylist()))

    @property
    def differences(self) -> pa.Table:
        return self.rows.filter(pc.invert(self.rows["ok"]))


def reconcile(settings: Settings, start: datetime, end: datetime, branch_ids: list[str] | None = None) -> Reconciliation:
    """Compare every hour in [start, end) for the selected branches, and record the result in the lake."""
    start, end = utc(start), utc(end)
    branches = [settings.branch(b) for b in branch_ids] if branch_ids else [b for b in settings.branches if b.enabled]
    lake = Lake(settings.lake)
    with open_engine(settings) as engine:  # the configured engine: Spark reconciles on Spark
        load_catalog(settings, lake, engine)
        errors: dict[str, str] = {}
        with ThreadPoolExecutor(settings.max_workers) as pool:
            reads = list(pool.map(lambda b: _read_source(settings, b, start), branches))
        sources: dict[str, list[pa.Table]] = {"sales": [], "sales_lines": []}
        for branch, read in zip(branches, reads):
            if isinstance(read, Exception):
                errors[branch.id] = str(read)
                continue
            for (table, rows) in read:
                sources[table.role].append(conform(engine, table, rows, f"src_{branch.id}"))
        if not sources["sales"]:
            return Reconciliation(pa.table({}), errors)
        for role, parts in sources.items():
            engine.register(f"source.{role}", concat(parts))
        for table in ("gold.fact_sales", "gold.sales_hourly", "silver.sales_versions",
                      "quarantine.sales", "quarantine.sales_lines"):
            try:
                engine.register_table(table, lake)
            except LookupError as exc:
                raise LookupError(f"{exc}: run `almacen extract` and `almacen build` first") from None
        engine.register("branches", pa.table({"branch_id": [b.id for b in branches if b.id not in errors]},
                                             schema=pa.schema([("branch_id", pa.string())])))
        rows = engine.query(_SQL.read_text(encoding="utf-8"), {"start": start, "end": end})
    if rows.num_rows:
        ids = ", ".join(f"'{b}'" for b in set(rows["branch_id"].to_pylist()))
        lake.replace(RECONCILIATION, rows, f"branch_id IN ({ids}) AND hour >= '{start:%Y-%m-%d %H:%M:%S}' "
                                             f"AND hour < '{end:%Y-%m-%d %H:%M:%S}'")
    return Reconciliation(rows, errors)


def _read_source(settings: Settings, branch: Branch, start: datetime):
    """Every row of the branch's POS tables changed since `start` (sales sold since then are among them)."""
    where = f"branch {branch.id}"
    try:
        url = resolve_url(branch.url, branch.password_env, where)
        schema = settings.schemas()[branch.pos_schema]
        until = datetime.now(timezone.utc) + timedelta(days=3650)
        return [(table, add_lineage(normalise(read_window(url, name, table, start, until, where)), branch.id,
                                    start, safe_source(url), start))
                for name, table in schema.tables.items()]
    except Exception as exc:  # noqa: BLE001 - one unreadable branch is reported, the others reconcile
        return exc
