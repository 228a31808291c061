"""The engine contract: what an engine can do is a flag of its class, a consumer that needs what its
engine lacks is refused by name, and a statement an engine refuses raises the contract's QueryError,
with the engine's own message, on DuckDB and on Spark alike."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pytest

from almacen.engine import (
    CAPABILITIES,
    DuckDBEngine,
    Engine,
    MalformedInput,
    QueryError,
    Unsupported,
    require_capability,
)
from almacen.engine.spark import SparkEngine
from almacen.errors import AlmacenError
from almacen.lake import Lake

FLAGS = ("DIALECT", *CAPABILITIES)
STATE_TABLES = (
    "tables of its own between calls (CREATE TABLE, INSERT, UPDATE … RETURNING, DELETE, unsigned types) (STATE_TABLES)"
)
STRICT_JSON = (
    "the strict JSON readers of ingest/json_values.sql (temporary SQL macros, malformed JSON "
    "raised as MalformedInput) (STRICT_JSON)"
)


def _flags(engine_class: type) -> dict[str, object]:
    return {flag: getattr(engine_class, flag) for flag in FLAGS}


# -- capability flags -------------------------------------------------------------------------------


def test_the_contract_has_two_capabilities_and_declares_them_with_the_dialect():
    assert list(CAPABILITIES) == ["STATE_TABLES", "STRICT_JSON"]
    assert set(FLAGS) <= set(Engine.__annotations__)


def test_duckdb_keeps_tables_of_its_own_and_reads_json_strictly():
    assert _flags(DuckDBEngine) == {"DIALECT": "duckdb", "STATE_TABLES": True, "STRICT_JSON": True}


def test_spark_has_neither_capability():
    assert _flags(SparkEngine) == {"DIALECT": "spark", "STATE_TABLES": False, "STRICT_JSON": False}


# -- require_capability -----------------------------------------------------------------------------


def test_an_engine_with_the_capability_passes():
    with DuckDBEngine() as duck:
        for flag in CAPABILITIES:
            require_capability(duck, flag, "anything")


def test_an_unknown_capability_is_a_bug_of_the_caller():
    with DuckDBEngine() as duck, pytest.raises(KeyError) as refused:
        require_capability(duck, "WRITES_DELTA", "anything")
    assert refused.value.args == ("'WRITES_DELTA' is not an engine capability; known: STATE_TABLES, STRICT_JSON",)


@pytest.mark.spark
def test_the_messaging_usage_state_is_refused_on_spark_by_name(spark_engine, tmp_path: Path):
    from almacen.domains.messaging.usage import UsageMinutes

    with pytest.raises(Unsupported) as refused:
        UsageMinutes(Lake(str(tmp_path / "lake")), spark_engine, timedelta(minutes=5), timedelta(days=2))
    assert (
        str(refused.value)
        == f"the messaging stream's usage state (msg_state) needs an engine with {STATE_TABLES}; spark has none"
    )
    assert isinstance(refused.value, AlmacenError)


@pytest.mark.spark
def test_the_payload_parser_is_refused_on_spark_by_name(spark_engine):
    from almacen.ingest.payloads import parse_events

    raw = pa.table(
        {
            "_payload": pa.array([b'{"event_id": "e1"}'], pa.binary()),
            "_stream": ["s"],
            "_position": [0],
            "_batch_id": ["b"],
        }
    )
    with pytest.raises(Unsupported) as refused:
        parse_events(spark_engine, raw, resources.files("almacen.ingest") / "json_values.sql")
    assert (
        str(refused.value)
        == f"parsing event payloads (ingest/json_values.sql) needs an engine with {STRICT_JSON}; spark has none"
    )


@pytest.mark.spark
def test_spark_refuses_to_read_tables_of_its_own(spark_engine):
    with pytest.raises(Unsupported) as refused:
        spark_engine.read("SELECT 1 AS x")
    assert (
        str(refused.value)
        == f"reading the engine's own tables (Engine.read) needs an engine with {STATE_TABLES}; spark has none"
    )


# -- QueryError -------------------------------------------------------------------------------------

MISSING_COLUMN = {
    "duckdb": 'Binder Error: Referenced column "price" not found in FROM clause! Candidate bindings: "sku"',
    "spark": "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `price` "
    "cannot be resolved. Did you mean one of the following? [`sku`]. SQLSTATE: 42703",
}
NOT_CONVERTED = {
    "duckdb": "Conversion Error: Could not convert string 'x' to INT32 when casting from source column sku",
    "spark": '[CAST_INVALID_INPUT] The value \'x\' of the type "STRING" cannot be cast to "INT" because it is '
    "malformed. Correct the value as per the syntax, or change its target type. Use `try_cast` to tolerate "
    "malformed input and return NULL instead. SQLSTATE: 22018",
}
NOT_PARSED = {
    "duckdb": 'Parser Error: syntax error at or near "SELEC"',
    "spark": "Invalid expression / Unexpected token. Line 1, Col: 7. SELEC 1",  # sqlglot reads it for Spark
}


@pytest.mark.parametrize("run", ["query", "execute", "stream"])
def test_a_missing_column_raises_query_error_with_the_engines_message(engine: Engine, run: str):
    engine.register("silver.products", pa.table({"sku": ["SKU-1"]}))
    with pytest.raises(QueryError) as refused:
        getattr(engine, run)("-- the products' prices\nSELECT sku, price\nFROM silver.products")
    error = refused.value
    assert type(error) is QueryError and isinstance(error, AlmacenError)
    assert (error.engine, error.statement, error.reason) == (
        engine.DIALECT,
        "SELECT sku, price",
        MISSING_COLUMN[engine.DIALECT],
    )
    assert str(error) == f"{engine.DIALECT}: {MISSING_COLUMN[engine.DIALECT]} (statement: SELECT sku, price)"
    assert error.__cause__ is not None  # the engine's own exception, for the traceback


def test_a_value_that_does_not_convert_is_malformed_input(engine: Engine):
    engine.register("silver.products", pa.table({"sku": ["x"]}))
    with pytest.raises(MalformedInput) as refused:
        engine.query("SELECT CAST(sku AS INTEGER) AS n FROM silver.products")
    assert refused.value.reason == NOT_CONVERTED[engine.DIALECT]


def test_a_statement_the_engine_cannot_parse_raises_query_error(engine: Engine):
    with pytest.raises(QueryError) as refused:
        engine.query("SELEC 1")
    assert (type(refused.value), refused.value.reason) == (QueryError, NOT_PARSED[engine.DIALECT])


def test_a_parameter_without_a_value_is_the_statements_fault_not_the_datas(engine: Engine):
    with pytest.raises(QueryError) as refused:
        engine.query("SELECT $v AS v")
    assert type(refused.value) is QueryError
    assert (
        refused.value.reason
        == {
            "duckdb": "Invalid Input Error: Values were not provided for the following parameters: v",
            "spark": "SQL parameter $v has no value; given: []",
        }[engine.DIALECT]
    )


def test_malformed_json_is_malformed_input_on_duckdb():
    with DuckDBEngine() as duck:
        duck.register("raw_events", pa.table({"_text": ['{"event_id": "e1"', "{}"]}))
        with pytest.raises(MalformedInput) as refused:
            duck.query("SELECT json_extract(_text, '$.event_id') AS id FROM raw_events")
    assert refused.value.reason == (
        'Invalid Input Error: Malformed JSON at byte 17 of input: unexpected end of data. Input: "{"event_id": "e1""'
    )


def test_malformed_json_whose_quote_duckdb_cuts_inside_a_character_is_still_malformed_input():
    """DuckDB quotes the first bytes of the document it cannot read, here inside an ñ: its client cannot
    decode that message (UnicodeDecodeError), and the engine reads it with the cut character replaced."""
    with DuckDBEngine() as duck:
        duck.register("raw_events", pa.table({"_text": ['{"a": "x' + "ñ" * 30]}))
        with pytest.raises(MalformedInput) as refused:
            duck.query("SELECT json_extract(_text, '$.a') AS a FROM raw_events")
    assert refused.value.reason == (
        "Invalid Input Error: Malformed JSON at byte 68 of input: unexpected end of data. "
        'Input: "{"a": "x' + "ñ" * 19 + '\ufffd..."'
    )
    assert type(refused.value.__cause__) is UnicodeDecodeError


# -- read: the engine's own tables, from many threads -----------------------------------------------


def test_duckdb_reads_its_own_tables_from_many_threads_at_once():
    with DuckDBEngine() as duck:
        duck.execute("CREATE SCHEMA gold")
        duck.register("incoming", pa.table({"n": list(range(1000))}))
        duck.execute("CREATE TABLE gold.numbers AS SELECT * FROM incoming")
        duck.forget("incoming")
        with ThreadPoolExecutor(8) as pool:
            sums = list(
                pool.map(
                    lambda k: duck.read("SELECT sum(n) AS s FROM gold.numbers WHERE n % $k = 0", {"k": k})["s"][
                        0
                    ].as_py(),
                    range(1, 65),
                )
            )
    assert sums == [sum(n for n in range(1000) if n % k == 0) for k in range(1, 65)]


def test_read_does_not_see_what_register_made_queryable():
    with DuckDBEngine() as duck:
        duck.register("silver.products", pa.table({"sku": ["SKU-1"]}))
        with pytest.raises(QueryError) as refused:
            duck.read("SELECT sku FROM silver.products")
    assert refused.value.reason.startswith("Catalog Error: Table with name __silver__products does not exist!")
