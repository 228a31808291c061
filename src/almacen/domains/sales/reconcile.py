"""Reconciliation: per branch and hour of sale, what each source reports it holds versus gold plus quarantine.

The source side is each POS schema's control report (`controls/`): portable SQL over the raw POS tables in
the POS's own codes and columns, written apart from the mapping that extraction uses, so a wrong mapping
shows instead of cancelling out. The lake side is gold, and what gold is missing must be exactly what
quarantine holds: source = gold + quarantined in tickets, approved tickets, approved revenue and a content
checksum over every header and line (reconcile.sql defines it), or the hour is a difference. A difference
names every measure that differs and the slices (`branch:<id>:<hour>` cuts) to re-extract; `fix`
re-extracts exactly those, rebuilds the models and reconciles again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import utc
from almacen.config import Branch, Settings, resolve_url, source_zone
from almacen.domains.sales.controls import ControlRows, control_for, read_control
from almacen.domains.sales.extraction import extract_slices
from almacen.domains.sales.models import build
from almacen.engine import open_engine
from almacen.errors import NotFound
from almacen.lake import Access, Lake, Table, concat, define
from almacen.lake.predicate import all_of, at_least, before, isin
from almacen.monitor import RunRecord
from almacen.sql import load_sql

RECONCILIATION = "_system.reconciliation"
_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [("branch_id", pa.string()), ("hour", _TS)]
    + [(f"{side}_{m}", pa.int64()) for m in ("tickets", "approved") for side in ("source", "gold", "quarantined")]
    + [(f"{side}_revenue", pa.decimal128(18, 2)) for side in ("source", "gold", "quarantined")]
    + [(f"{side}_checksum", pa.decimal128(38, 0)) for side in ("source", "gold", "quarantined")]
    + [
        ("differs", pa.string()),
        ("slices", pa.list_(pa.field("element", _TS))),
        ("ok", pa.bool_()),
        ("checked_at", _TS),
    ]
)
"""`_system.reconciliation`, whichever engine computed it (Spark marks list items non-null, DuckDB does not)"""
RECONCILIATION_TABLE = define(
    Table(
        RECONCILIATION,
        Access.BRANCH,
        SCHEMA,
        keys=("branch_id", "hour"),
        description="the last check of each branch's hour: source control vs gold + quarantine, and why they differ",
    )
)
_LAKE_TABLES = (
    "gold.fact_sales",
    "gold.fact_sales_lines",
    "gold.dim_product",
    "gold.sales_hourly",
    "silver.sales",
    "silver.sales_versions",
    "quarantine.sales",
    "quarantine.sales_lines",
)


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation of a window: OK when every hour balances and every branch could be compared."""

    rows: pa.Table
    """one row per (branch, hour) with source, gold and quarantined measures, `differs`, `slices` and `ok`"""
    errors: dict[str, str]
    """branches whose source could not be read (or has no control report), with why"""

    @property
    def ok(self) -> bool:
        return not self.errors and (self.rows.num_rows == 0 or all(self.rows["ok"].to_pylist()))

    @property
    def differences(self) -> pa.Table:
        """The hours that do not balance."""
        return self.rows.filter(pc.invert(self.rows["ok"])) if self.rows.num_rows else self.rows

    @property
    def slices(self) -> list[tuple[str, datetime]]:
        """The (branch, cut hour) slices the differences name for re-extraction, in order, each once."""
        named = {(r["branch_id"], hour) for r in self.differences.to_pylist() for hour in (r["slices"] or [])}
        return sorted(named, key=lambda s: (s[1], s[0]))


@dataclass(frozen=True)
class Fix:
    """What `fix` did: the slices it re-extracted (their run records) and the reconciliation after it."""

    runs: list[RunRecord]
    after: Reconciliation


def reconcile(
    settings: Settings, start: datetime, end: datetime, branch_ids: list[str] | None = None
) -> Reconciliation:
    """Compare every hour of sale in [start, end) for the selected branches, and record the result in the lake.

    A branch whose source cannot be read, or whose POS schema has no control report, is listed in
    `errors` (the reconciliation is not OK) and the others are compared.

    Raises:
        NotFound: a lake table reconciliation reads is missing (nothing extracted or built yet).
    """
    start, end = utc(start), utc(end)
    branches = [settings.branch(b) for b in branch_ids] if branch_ids else [b for b in settings.branches if b.enabled]
    lake = Lake(settings.lake)
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(settings.max_workers) as pool:
        reads = list(pool.map(lambda b: _read_source(settings, b, start, end), branches))
    controls: dict[str, ControlRows] = {}
    for branch, read in zip(branches, reads):
        if isinstance(read, Exception):
            errors[branch.id] = str(read)
        else:
            controls[branch.id] = read
    if not controls:
        return Reconciliation(pa.table({}), errors)
    with open_engine(settings) as engine:  # the configured engine: Spark reconciles on Spark
        for role, part in (("sales", "sales"), ("sales_lines", "lines")):
            engine.register(
                f"source.{role}",
                concat(_with_branch(getattr(rows, part), branch_id) for branch_id, rows in controls.items()),
            )
        for table in _LAKE_TABLES:
            try:
                engine.register_table(table, lake)
            except NotFound as exc:
                raise NotFound(f"{exc}: run `almacen extract` and `almacen build` first") from None
        engine.register(
            "branches",
            pa.table(
                {"branch_id": list(controls), "product_key": [c.product_key for c in controls.values()]},
                schema=pa.schema([("branch_id", pa.string()), ("product_key", pa.string())]),
            ),
        )
        rows = engine.query(load_sql("almacen.domains.sales", "reconcile.sql"), {"start": start, "end": end}).cast(
            SCHEMA
        )
    if rows.num_rows:
        checked = isin("branch_id", sorted(set(rows["branch_id"].to_pylist())))
        lake.replace(RECONCILIATION, rows, all_of(checked, at_least("hour", start), before("hour", end)))
    return Reconciliation(rows, errors)


def fix(
    settings: Settings, result: Reconciliation, start: datetime, end: datetime, branch_ids: list[str] | None = None
) -> Fix:
    """Re-extract exactly the slices `result` names, rebuild the models, and reconcile [start, end) again.

    A difference that names no slice (gold differs from what its own lines say: a model, not a cut) and an
    unreadable branch are not fixed by this; they remain in `Fix.after`.
    """
    runs = extract_slices(settings, result.slices) if result.slices else []
    if runs:
        build(settings)
    return Fix(runs, reconcile(settings, start, end, branch_ids))


def _read_source(settings: Settings, branch: Branch, start: datetime, end: datetime) -> ControlRows | Exception:
    """The branch's control rows for the sales of [start, end), or why they could not be read."""
    where = f"branch {branch.id}"
    try:
        schema = settings.schemas()[branch.pos_schema]
        control = control_for(branch.pos_schema, schema.control)
        url = resolve_url(branch.url, branch.password_env, where)
        _, sales_table = schema.table_for("sales")
        return read_control(url, control, start, end, source_zone(branch, sales_table), where)
    except Exception as exc:  # noqa: BLE001 - one unreadable branch is reported, the others reconcile
        return exc


def _with_branch(rows: pa.Table, branch_id: str) -> pa.Table:
    return rows.append_column("branch_id", pa.repeat(pa.scalar(branch_id, pa.string()), rows.num_rows))
