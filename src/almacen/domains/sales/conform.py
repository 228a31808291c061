"""Conform a POS table's bronze rows to almacen's columns, using the branch schema's mapping.

Values are converted with TRY_CAST so a bad value never fails the batch: the column names
that did not convert are listed in `_untyped` for the quality gate to quarantine.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from almacen.config import CONFORMED_COLUMNS, SourceTable
from almacen.engine import Engine
from almacen.ingest.lineage import LINEAGE

TYPES = {
    "sale_id": "VARCHAR",
    "sold_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
    "channel": "VARCHAR",
    "payment_type": "VARCHAR",
    "status": "VARCHAR",
    "customer_id": "VARCHAR",
    "total": "DECIMAL(18,2)",
    "line_no": "INTEGER",
    "product_id": "BIGINT",
    "sku": "VARCHAR",
    "quantity": "DECIMAL(12,3)",
    "unit_price": "DECIMAL(18,2)",
    "amount": "DECIMAL(18,2)",
}


def _lit(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _source_expr(table: SourceTable, column: str) -> str:
    expr = f"({table.columns[column]})"
    codes = table.values.get(column)
    if codes:
        whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in codes.items())
        expr = f"(CASE CAST({expr} AS VARCHAR) {whens} ELSE CAST({expr} AS VARCHAR) END)"
    return expr


def conform_sql(table: SourceTable, source: str, columns: list[str], text_columns: Sequence[str] = ()) -> str:
    """SELECT turning bronze rows of `source` into the role's conformed columns plus lineage.

    `_bad_text` lists the source text columns that held bytes that were not UTF-8 (read as U+FFFD);
    `_row_json` is the source row (`columns`) as a struct, named column by column so Spark can run it too."""
    mapped = [c for c in CONFORMED_COLUMNS[table.role] if c in table.columns]
    selects, untyped = [], []
    for col in CONFORMED_COLUMNS[table.role]:
        if col not in table.columns:
            continue
        expr = _source_expr(table, col)
        selects.append(f"TRY_CAST({expr} AS {TYPES[col]}) AS {col}")
        untyped.append(f"CASE WHEN {expr} IS NOT NULL AND TRY_CAST({expr} AS {TYPES[col]}) IS NULL THEN '{col}' END")
    lineage = ", ".join(f"b.{c}" for c in LINEAGE)
    row = ", ".join(f'"{c}" := b."{c}"' for c in columns)
    bad_text = [f"""CASE WHEN contains(b."{c}", chr(65533)) THEN '{c}' END""" for c in text_columns]
    inner = (
        f"SELECT {lineage}, {', '.join(selects)}, "
        f"list_filter([{', '.join(untyped)}], lambda x: x IS NOT NULL) AS _untyped, "
        f"list_filter([{', '.join(bad_text)}]::VARCHAR[], lambda x: x IS NOT NULL) AS _bad_text, "
        f"struct_pack({row}) AS _row_json FROM {source} b"
    )
    if table.role == "sales":
        anonymous = "" if "customer_id" in mapped else ", NULL::VARCHAR AS customer_id"
        return f"SELECT c.*{anonymous} FROM ({inner}) c"
    # A line names its product by id, by SKU, or both: resolve the id through the catalog.
    product = "c.product_id" if "product_id" in mapped else "p.product_id"
    sku = "c.sku" if "sku" in mapped else "NULL::VARCHAR"
    join = "" if "product_id" in mapped else "LEFT JOIN silver.products p ON p.sku = c.sku"
    drop = [c for c in ("product_id", "sku") if c in mapped]
    exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    return f"SELECT c.*{exclude}, {product}::BIGINT AS product_id, {sku} AS sku FROM ({inner}) c {join}"


def conform(engine: Engine, table: SourceTable, bronze: pa.Table, name: str) -> pa.Table:
    """Conformed rows of one bronze slice; `_raw` keeps the source row where a value did not convert."""
    engine.register(name, bronze)
    text = [f.name for f in bronze.schema if pa.types.is_string(f.type) and f.name not in LINEAGE]
    try:
        return engine.query(
            f"SELECT * EXCLUDE (_row_json), CASE WHEN array_length(_untyped) + array_length(_bad_text) > 0 THEN to_json(_row_json) END AS _raw "
            f"FROM ({conform_sql(table, name, bronze.schema.names, text)})"
        )
    finally:
        engine.forget(name)
