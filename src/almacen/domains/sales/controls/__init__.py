"""Control totals: what each point of sale reports it holds, written apart from its mapping.

Reconciliation must not read the source through the mapping it checks: the extraction's query template,
column map and code map would then be applied to both sides and any mistake in them would cancel out
(the `tickets` POS with `APR`/`REC` swapped in its mapping reconciled "OK"). So every POS schema has a
control, as a data engineer reconciles against a source's control report: two portable SQL queries over
the POS's raw tables, in the POS's own columns and codes, that PostgreSQL, MariaDB and SQLite run unchanged.

- `<schema>.sales.sql`: every sale issued in [:start, :end) of the POS's wall-clock time, with the columns
  `SALES_COLUMNS` (`approved` is 1 for an approved sale; `status`, `channel`, `payment_type` in almacen's
  vocabulary, codes without an almacen value left as the POS wrote them).
- `<schema>.lines.sql`: every line of those sales, with `LINES_COLUMNS` and the product as the POS names
  it: `sku` (compared with gold by SKU) or `product_id` (compared by id).

A POS schema defined in the config declares its control beside its tables (`[pos_schemas.<name>.control]`,
`sales` and `lines`); a built-in one finds its control here by name, and a config-defined schema that
overrides a built-in one (same name) without declaring a control keeps the built-in one: the POS is the
same product. A schema with neither is refused (`control_for`), never reconciled through its mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import to_utc
from almacen.config import PosControl
from almacen.errors import NotFound
from almacen.ingest.lineage import normalise
from almacen.sources import SourceError, query_source, render_window
from almacen.sql import load_sql

SALES_COLUMNS = ("sale_id", "sold_at", "updated_at", "approved", "status", "channel", "payment_type")
LINES_COLUMNS = ("sale_id", "line_no", "quantity", "unit_price", "amount")
PRODUCT_COLUMNS = ("sku", "product_id")
"""how a control may name a line's product; `sku` wins when it gives both"""
_PACKAGE = "almacen.domains.sales.controls"
_FOLDER = resources.files(_PACKAGE)


@dataclass(frozen=True)
class Control:
    """The two control queries of one POS schema (SQL with `:start` and `:end`)."""

    schema: str
    sales: str
    lines: str


@dataclass(frozen=True)
class ControlRows:
    """One branch's control rows for a window, timestamps in UTC."""

    sales: pa.Table
    """`SALES_COLUMNS`: `sold_at` and `updated_at` as `timestamp[us, UTC]`, the others as text"""
    lines: pa.Table
    """`LINES_COLUMNS` plus both `sku` and `product_id` (the one the control does not give is null), as text"""
    product_key: str
    """`sku` or `product_id`: how this control names products, so gold is compared in the same terms"""


def control_for(schema: str, declared: PosControl | None = None) -> Control:
    """The control of POS schema `schema`: the one its config declares (`[pos_schemas.<name>.control]`),
    else the built-in one of that name.

    Raises:
        NotFound: the schema has no control; the message names what to write.
    """
    if declared is not None:
        return Control(schema, declared.sales, declared.lines)
    files = {part: f"{schema}.{part}.sql" for part in ("sales", "lines")}
    missing = [name for name in files.values() if not _FOLDER.joinpath(name).is_file()]
    if missing:
        raise NotFound(
            f"POS schema {schema!r} has no control totals ({', '.join(missing)} missing from "
            "src/almacen/domains/sales/controls/, and no [pos_schemas.<name>.control] in the config): reconciliation compares gold with the source's own control "
            "report, never through the mapping that loaded it; write its control queries to reconcile it"
        )
    return Control(schema, load_sql(_PACKAGE, files["sales"]), load_sql(_PACKAGE, files["lines"]))


def read_control(url: str, control: Control, start: datetime, end: datetime, zone: ZoneInfo, where: str) -> ControlRows:
    """Run a control's queries for the UTC window [start, end) on a source that writes times in `zone`.

    The window is asked in the source's wall-clock time (`clock.local_window`, wider near a DST change:
    the caller keeps the sales whose UTC `sold_at` falls in [start, end)).

    Raises:
        SourceError: the source could not be read, or a control query lacks a column (named with the file).
    """
    tables = {}
    for part, sql in (("sales", control.sales), ("lines", control.lines)):
        text = render_window(sql, start, end, zone)
        rows = normalise(query_source(url, text, f"{where}: control {control.schema}.{part}.sql"))
        required = SALES_COLUMNS if part == "sales" else LINES_COLUMNS
        missing = [c for c in required if c not in rows.column_names]
        if part == "lines" and not any(c in rows.column_names for c in PRODUCT_COLUMNS):
            missing.append(" or ".join(PRODUCT_COLUMNS))
        if missing:
            raise SourceError(
                f"{where}: control {control.schema}.{part}.sql returned no column {missing[0]}; "
                f"it must return {', '.join(required)}"
            )
        tables[part] = rows
    sales, lines = tables["sales"], tables["lines"]
    product_key = next(c for c in PRODUCT_COLUMNS if c in lines.column_names)
    sales = pa.table(
        {
            c: _utc(sales[c], zone, where, c) if c in ("sold_at", "updated_at") else _text(sales[c])
            for c in SALES_COLUMNS
        }
    )
    lines = pa.table(
        {
            c: _text(lines[c]) if c in lines.column_names else pa.nulls(lines.num_rows, pa.string())
            for c in (*LINES_COLUMNS, *PRODUCT_COLUMNS)
        }
    )
    return ControlRows(sales, lines, product_key)


def _text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """A control value as text, so that every branch's rows share one schema whatever its driver typed
    (reconcile.sql converts them with TRY_CAST, as conform does the extracted rows)."""
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _utc(values: pa.ChunkedArray, zone: ZoneInfo, where: str, column: str) -> pa.ChunkedArray:
    """A control's timestamps (text when a driver gave no type) as UTC instants."""
    if pa.types.is_string(values.type):
        try:
            values = pc.cast(values, pa.timestamp("us"))
        except pa.ArrowInvalid as exc:
            raise SourceError(f"{where}: control column {column} holds values that are not timestamps: {exc}") from None
    return to_utc(values, zone)
