"""The quality gate: every row passes or is quarantined with the first rule it fails."""

from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from almacen.domains.sales import sales_lines_rules
from almacen.engine import DuckDBEngine
from almacen.quality import (
    Allowed,
    Gate,
    Input,
    InputError,
    NotBefore,
    NotFuture,
    NotNull,
    NotSeen,
    Range,
    References,
    Unique,
    ValidText,
    split,
)

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)


def test_rows_in_equal_rows_passed_plus_quarantined_and_first_failing_rule_is_named():
    batch = pa.table(
        {
            "sale_id": ["1", "2", None, "4"],
            "status": ["aprobada", "cheque", "aprobada", "aprobada"],
            "quantity": [1, 2, 3, -1],
        }
    )
    with DuckDBEngine() as engine:
        result = split(
            engine, batch, [NotNull(("sale_id",)), Allowed("status", ("aprobada",)), Range("quantity", above=0)]
        )
    assert result.passed["sale_id"].to_pylist() == ["1"]
    assert result.quarantined.select(["sale_id", "_rule", "_reason"]).to_pylist() == [
        {"sale_id": "2", "_rule": "allowed:status", "_reason": "status = 'cheque' is not one of aprobada"},
        {"sale_id": None, "_rule": "not_null:sale_id", "_reason": "sale_id is null"},
        {"sale_id": "4", "_rule": "range:quantity", "_reason": "quantity = -1 is not > 0"},
    ]
    assert result.rows_in == batch.num_rows


def test_duplicate_keys_keep_the_first_row_and_quarantine_the_copies():
    batch = pa.table({"sale_id": ["7", "7", "8", "7"], "line_no": [1, 1, 1, 2]})
    with DuckDBEngine() as engine:
        result = split(engine, batch, [Unique(("sale_id", "line_no"))])
    assert result.passed.to_pylist() == [
        {"sale_id": "7", "line_no": 1},
        {"sale_id": "8", "line_no": 1},
        {"sale_id": "7", "line_no": 2},
    ]
    assert result.quarantined["_reason"].to_pylist() == ["duplicate key (sale_id, line_no) = (7, 1)"]


def test_future_timestamps_beyond_the_tolerance_are_quarantined():
    ts = pa.timestamp("us", tz="UTC")
    batch = pa.table(
        {
            "sold_at": pa.array(
                [datetime(2026, 11, 23, 15, 4, tzinfo=timezone.utc), datetime(2026, 11, 26, 10, tzinfo=timezone.utc)],
                ts,
            )
        }
    )
    with DuckDBEngine() as engine:
        result = split(engine, batch, [NotFuture("sold_at", 5)], now=NOW)
    assert result.passed.num_rows == 1
    assert result.quarantined["_reason"].to_pylist() == ["sold_at = 2026-11-26 10:00:00 is in the future"]


def test_a_cursor_that_goes_backwards_is_quarantined():
    ts = pa.timestamp("us", tz="UTC")
    batch = pa.table(
        {
            "updated_at": pa.array([datetime(2026, 11, 23, 13, 30, tzinfo=timezone.utc)] * 2, ts),
            "_known_updated_at": pa.array([datetime(2026, 11, 23, 14, 5, tzinfo=timezone.utc), None], ts),
        }
    )
    with DuckDBEngine() as engine:
        result = split(engine, batch, [NotBefore("updated_at", "_known_updated_at", "the loaded version")])
    assert result.quarantined["_reason"].to_pylist() == [
        "updated_at = 2026-11-23 13:30:00 went backwards: earlier than the loaded version (2026-11-23 14:05:00)"
    ]


def test_text_that_was_not_utf8_is_quarantined_naming_the_source_columns():
    batch = pa.table({"sale_id": ["1", "2"], "_bad_text": pa.array([[], ["cliente_nombre"]], pa.list_(pa.string()))})
    with DuckDBEngine() as engine:
        result = split(engine, batch, [ValidText()])
    assert result.quarantined.select(["sale_id", "_reason"]).to_pylist() == [
        {"sale_id": "2", "_reason": "cliente_nombre not valid UTF-8 text at the source (see _raw)"}
    ]


def test_lines_need_a_known_product_and_an_accepted_sale():
    lines = pa.table(
        {
            "_batch_id": ["b"] * 3,
            "sale_id": ["1", "1", "2"],
            "line_no": [1, 2, 1],
            "product_id": pa.array([10, 99, 10], pa.int64()),
            "sku": [None, None, None],
            "quantity": [Decimal("1.000")] * 3,
            "unit_price": [Decimal("5.00")] * 3,
            "amount": [Decimal("5.00")] * 3,
            "_untyped": pa.array([[], [], []], pa.list_(pa.string())),
            "_bad_text": pa.array([[], [], []], pa.list_(pa.string())),
        }
    )
    with DuckDBEngine() as engine:
        engine.register("silver.products", pa.table({"product_id": pa.array([10], pa.int64())}))
        result = split(
            engine,
            lines,
            sales_lines_rules(),
            inputs={"accepted_sales": pa.table({"_batch_id": ["b"], "sale_id": ["1"]})},
        )
    assert result.passed.select(["sale_id", "line_no"]).to_pylist() == [{"sale_id": "1", "line_no": 1}]
    assert result.quarantined["_reason"].to_pylist() == [
        "product_id = 99 is not in the product catalog",
        "sale_id = 2 has no accepted header in this batch (the sale itself was quarantined or is missing)",
    ]


REF = Input("ref", pa.schema([("a", pa.string()), ("b", pa.int64())]))


def test_references_compare_multi_column_keys():
    batch = pa.table({"a": ["x", "x"], "b": [1, 2]})
    with DuckDBEngine() as engine:
        result = split(
            engine, batch, [References(("a", "b"), REF, ("a", "b"))], inputs={"ref": pa.table({"a": ["x"], "b": [2]})}
        )
        assert engine.query("SELECT count(*) AS n FROM duckdb_views() WHERE view_name = 'ref'")["n"][0].as_py() == 0
    assert result.passed.to_pylist() == [{"a": "x", "b": 2}]


def test_a_rule_whose_input_is_not_given_fails_naming_the_rule_and_the_input():
    batch = pa.table({"a": ["x"], "b": [1]})
    with DuckDBEngine() as engine, pytest.raises(InputError) as error:
        split(engine, batch, [NotNull(("a",)), References(("a", "b"), REF, ("a", "b"))])
    assert str(error.value) == (
        "quality rule references:a,b reads the input 'ref' (a string, b int64), which was "
        "not given: pass it as inputs={'ref': table}"
    )


def test_an_input_without_a_column_its_rule_reads_or_read_by_no_rule_is_refused():
    batch = pa.table({"a": ["x"], "b": [1]})
    rules = [References(("a", "b"), REF, ("a", "b"))]
    with DuckDBEngine() as engine:
        with pytest.raises(InputError) as missing_column:
            split(engine, batch, rules, inputs={"ref": pa.table({"a": ["x"]})})
        with pytest.raises(InputError) as wrong_type:
            split(engine, batch, rules, inputs={"ref": pa.table({"a": ["x"], "b": ["2"]})})
        with pytest.raises(InputError) as unread:
            split(
                engine, batch, rules, inputs={"ref": pa.table({"a": ["x"], "b": [2]}), "reff": pa.table({"a": ["x"]})}
            )
    assert str(missing_column.value) == "quality rule references:a,b: input 'ref' has no column b (int64); it has: a"
    assert str(wrong_type.value) == "quality rule references:a,b: input 'ref' column b is string, not int64"
    assert str(unread.value) == "quality gate: input 'reff' is read by no rule (the rules read: ref)"


def test_a_gate_keeps_its_standing_inputs_and_takes_the_others_batch_by_batch():
    rules = [References(("a",), Input("known", pa.schema([("a", pa.string())])), ("a",)), NotSeen("a")]
    known = pa.table({"a": ["x", "y", "z"]})
    with DuckDBEngine() as engine:
        hashes = engine.query("SELECT hash('y') AS h")  # DuckDB's hash: a 64-bit unsigned integer
        with Gate(engine, rules, {"known": known}, name="batch_events") as gate:
            first = gate.split(pa.table({"a": ["x", "y", "w"]}), inputs={"seen_in_batch": hashes})
            second = gate.split(pa.table({"a": ["y", "z"]}), inputs={"seen_in_batch": hashes.slice(0, 0)})
            with pytest.raises(InputError, match="quality rule not_seen:a reads the input 'seen_in_batch'"):
                gate.split(pa.table({"a": ["x"]}))
    assert first.passed.to_pylist() == [{"a": "x"}]
    assert [(r["a"], r["_rule"]) for r in first.quarantined.to_pylist()] == [("y", "not_seen:a"), ("w", "references:a")]
    assert second.passed.to_pylist() == [{"a": "y"}, {"a": "z"}]


def test_a_table_of_the_callers_is_an_input_not_a_name_to_remember():
    with pytest.raises(ValueError, match="'accepted' is no lake table"):
        References(("a",), "accepted", ("a",))
