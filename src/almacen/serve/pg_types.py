"""Arrow columns as PostgreSQL receives them from `almacen publish`: the column types, and batches in the
CSV form that pyarrow's writer and PostgreSQL's `COPY … (FORMAT csv)` agree on."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc


def pg_type(field: pa.Field) -> str:
    """The PostgreSQL type a column of this Arrow type is published as (lists and structs as jsonb)."""
    t = field.type
    if pa.types.is_dictionary(t):
        return pg_type(pa.field(field.name, t.value_type))
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    simple = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "smallint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_uint8, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_uint16, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_uint32, "bigint"),
        (pa.types.is_uint64, "numeric(20,0)"),
        (pa.types.is_float16, "real"),
        (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double precision"),
        (pa.types.is_string, "text"),
        (pa.types.is_large_string, "text"),
        (pa.types.is_string_view, "text"),
        (pa.types.is_date, "date"),
        (pa.types.is_time, "time"),
        (pa.types.is_null, "text"),
        (pa.types.is_nested, "jsonb"),
    ]
    for test, name in simple:
        if test(t):
            return name
    raise TypeError(f"column {field.name!r} has type {t}, which publish cannot copy to PostgreSQL")


def csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every column in a form pyarrow's CSV writer and PostgreSQL's CSV reader agree on."""
    columns = []
    for field, column in zip(batch.schema, batch.columns):
        if pa.types.is_dictionary(field.type):
            column = column.dictionary_decode()
        if pa.types.is_nested(field.type):
            column = pa.array(
                [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string()
            )
        elif pa.types.is_date64(field.type):
            column = pc.cast(column, pa.date32())
        elif pa.types.is_timestamp(field.type) and field.type.tz:
            # the same UTC instants without a zone: 30x faster to write, read as UTC by the session
            column = column.cast(pa.timestamp(field.type.unit))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
