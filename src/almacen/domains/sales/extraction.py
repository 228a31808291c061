"""The sales domain's extraction: what the branches' POS tables mean once the core has read an hour.

The core (`almacen.ingest.extract`) reads every branch's POS tables per (branch, hour) slice, checks
their schemas and records the runs; `commit_pos` conforms the rows to the sales and sales-lines
contracts, judges them by the sales rules, pseudonymises the customer and writes bronze, silver
versions and quarantine, one commit per table. `extract` and `extract_slices` are the core's, bound to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import pyarrow as pa

from almacen.clock import utc_now
from almacen.config import Settings
from almacen.domains.sales.quality import ACCEPTED_SALES, sales_lines_rules, sales_rules
from almacen.engine import Engine
from almacen.ingest import extract as core_extract
from almacen.ingest import extract_slices as core_extract_slices
from almacen.domains.sales.catalog import load_catalog
from almacen.domains.sales.conform import conform
from almacen.ingest.extract import TXN_PREFIX, Extraction, Slice
from almacen.lake import Lake, concat
from almacen.lake.predicate import isin
from almacen.monitor import RunRecord
from almacen.quality import Split, split
from almacen.security import pseudonymise
from almacen.security.demo import pseudonym_key
from almacen.sql import load_sql


def commit_pos(settings: Settings, lake: Lake, engine: Engine, slices: list[Slice]) -> None:
    """Write the good slices of the branches' POS: bronze as-is, conformed rows through the sales and lines
    rules into silver versions and quarantine (an `ingest.extract.Commit`)."""
    batch_ids = [s.batch_id for s in slices]
    in_batches = isin("_batch_id", batch_ids)
    by_role: dict[str, list[pa.Table]] = {"sales": [], "sales_lines": []}
    for (schema_name, table_name), rows in _by_source_table(slices).items():
        lake.replace(f"bronze.pos_{table_name}", rows, in_batches)
        source = settings.schemas()[schema_name].tables[table_name]
        by_role[source.role].append(conform(engine, source, rows, f"bronze_{table_name}"))
    now = utc_now()
    sales = _with_known_versions(lake, engine, concat(by_role["sales"]), batch_ids)
    sales_split = split(engine, sales, sales_rules(settings.future_tolerance_minutes), name="batch_sales", now=now)
    sales_split = Split(
        _pseudonymise(sales_split.passed.drop_columns(["_known_updated_at"]), pseudonym_key(settings)),
        _pseudonymise(sales_split.quarantined.drop_columns(["_known_updated_at"]), pseudonym_key(settings)),
    )
    lines = concat(by_role["sales_lines"])
    lines_split = split(
        engine,
        lines,
        sales_lines_rules(),
        name="batch_lines",
        now=now,
        inputs={ACCEPTED_SALES.name: sales_split.passed.select(["_batch_id", "sale_id"])},
    )
    lake.replace(
        "silver.sales_versions",
        sales_split.passed.drop_columns(["_untyped", "_bad_text", "_raw"]),
        in_batches,
        txns=_high_water_marks(lake, slices),
    )
    lake.replace(
        "silver.sales_lines_versions", lines_split.passed.drop_columns(["_untyped", "_bad_text", "_raw"]), in_batches
    )
    for table, quarantined in (
        ("quarantine.sales", sales_split.quarantined),
        ("quarantine.sales_lines", lines_split.quarantined),
    ):
        quarantined = quarantined.drop_columns(["_untyped", "_bad_text"]).append_column(
            "_quarantined_at", pa.array([now] * quarantined.num_rows, pa.timestamp("us", tz="UTC"))
        )
        lake.replace(table, quarantined, in_batches)
    written = _count_by_batch(sales_split.passed, lines_split.passed)
    quarantined = _count_by_batch(sales_split.quarantined, lines_split.quarantined)
    for s in slices:
        s.run.rows_written = written.get(s.batch_id, 0)
        s.run.rows_quarantined = quarantined.get(s.batch_id, 0)


def _high_water_marks(lake: Lake, slices: list[Slice]) -> list[tuple[str, int]]:
    """Per branch, the latest cut loaded (hours since the epoch), as Delta transaction ids
    `almacen-extract:<branch>` committed with the data: any Delta reader can see how far each branch
    is loaded. A catch-up of older hours never moves a mark back."""
    marks: dict[str, int] = {}
    for s in slices:
        marks[s.branch.id] = max(marks.get(s.branch.id, 0), int(s.hour.timestamp()) // 3600 + 1)
    return [
        (app, max(version, lake.transaction_version("silver.sales_versions", app) or 0))
        for app, version in ((f"{TXN_PREFIX}{b}", v) for b, v in marks.items())
    ]


def _with_known_versions(lake: Lake, engine: Engine, sales: pa.Table, batch_ids: list[str]) -> pa.Table:
    """Add `_known_updated_at`: the latest version of each sale loaded by other batches, if any."""
    known = lake.dataset("silver.sales_versions")
    engine.register("batch_sales_raw", sales)
    try:
        if known is None:
            return engine.query("SELECT *, NULL::TIMESTAMPTZ AS _known_updated_at FROM batch_sales_raw")
        engine.register("silver.sales_versions", known)
        return engine.query(load_sql("almacen.domains.sales", "known_versions.sql"), {"batch_ids": batch_ids})
    finally:
        engine.forget("batch_sales_raw")


def _by_source_table(slices: list[Slice]) -> dict[tuple[str, str], pa.Table]:
    """Bronze rows of all slices, grouped by (POS schema, source table)."""
    groups: dict[tuple[str, str], list[pa.Table]] = {}
    for s in slices:
        for name, rows in s.tables.items():
            groups.setdefault((s.branch.pos_schema, name), []).append(rows)
    return {k: concat(v) for k, v in groups.items()}


def _pseudonymise(sales: pa.Table, key: bytes) -> pa.Table:
    """Swap the raw customer identity for its keyed pseudonym before anything leaves bronze."""
    i = sales.schema.get_field_index("customer_id")
    return sales.set_column(i, "customer_key", pseudonymise(sales["customer_id"], key))


def _count_by_batch(*tables: pa.Table) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tables:
        if t.num_rows:
            for row in t.group_by("_batch_id").aggregate([("_batch_id", "count")]).to_pylist():
                counts[row["_batch_id"]] = counts.get(row["_batch_id"], 0) + row["_batch_id_count"]
    return counts


EXTRACTION = Extraction(commit=commit_pos, prepare=load_catalog)
"""the sales domain's part of the branch extraction: the product catalog loaded first (lines are checked
against it), then the POS rows conformed, judged and committed (`commit_pos`)"""


def extract(
    settings: Settings,
    hours: Iterable[datetime],
    branch_ids: Sequence[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[RunRecord]:
    """`almacen.ingest.extract.extract` of the branches' POS sales (see there)."""
    return core_extract(settings, hours, branch_ids, on_progress, extraction=EXTRACTION)


def extract_slices(
    settings: Settings, slices: Iterable[tuple[str, datetime]], on_progress: Callable[[int], None] | None = None
) -> list[RunRecord]:
    """`almacen.ingest.extract.extract_slices` of the branches' POS sales (see there)."""
    return core_extract_slices(settings, slices, on_progress, extraction=EXTRACTION)
