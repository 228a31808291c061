"""One model definition, two engines: silver and gold built by DuckDB and by Spark are the same, row by row."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from almacen.config import load_config
from almacen.domains.sales import reconcile
from almacen.engine import DuckDBEngine
from almacen.domains.sales import extract
from almacen.lake import Lake
from almacen.domains.sales import MODELS, build
from almacen.models import discover
from almacen.simulate import demo_config, simulate_chain

pytestmark = pytest.mark.spark
DAY, HOURS = date(2026, 11, 23), 30


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, spark_engine):
    """A day of two branches lived hour by hour (simulate an hour, extract it: sales that settle later
    arrive again), with bad rows, built by each engine from a copy of the same bronze and silver versions."""
    root = tmp_path_factory.mktemp("parity")
    settings = load_config(demo_config(root / "chain", branches=2))
    start = datetime.combine(DAY, datetime.min.time(), timezone.utc)
    for h in range(HOURS):
        simulate_chain(settings, DAY, until=start + timedelta(hours=h + 1), scale=0.1, bad_rows=0.02)
        extract(settings, [start + timedelta(hours=h)])
    copy = root / "spark-lake"
    shutil.copytree(settings.lake, copy)
    with DuckDBEngine() as duck:
        duckdb_counts = build(settings, duck)
    spark_counts = build(settings.model_copy(update={"lake": str(copy)}), spark_engine)
    return Lake(settings.lake), Lake(str(copy)), duckdb_counts, spark_counts, settings


def _sorted(table: pa.Table) -> pa.Table:
    keys = [(c, "ascending") for c in table.column_names if not pa.types.is_nested(table.schema.field(c).type)]
    return table.sort_by(keys)


def test_both_engines_build_every_model_with_the_same_row_counts(lakes):
    _, _, duckdb_counts, spark_counts, _ = lakes
    assert set(duckdb_counts) == set(discover((MODELS,)))
    assert spark_counts == duckdb_counts


def test_the_inputs_hold_late_updates_and_quarantined_rows(lakes):
    duck_lake, _, counts, _, _ = lakes
    assert duck_lake.read("silver.sales_versions").num_rows > counts["silver.sales"]
    assert duck_lake.read("quarantine.sales").num_rows + duck_lake.read("quarantine.sales_lines").num_rows > 0


@pytest.mark.parametrize("table", sorted(discover((MODELS,))))
def test_every_model_has_the_same_rows_and_types_on_both_engines(lakes, table):
    duck_lake, spark_lake, _, _, _ = lakes
    duck, spark = _sorted(duck_lake.read(table)), _sorted(spark_lake.read(table))
    assert spark.schema.names == duck.schema.names
    for name in duck.schema.names:
        assert spark.schema.field(name).type == duck.schema.field(name).type, f"{table}.{name}"
    assert spark.to_pylist() == duck.to_pylist()


def test_spark_wrote_its_tables_through_delta_spark(lakes, spark_engine):
    _, spark_lake, _, _, _ = lakes
    history = spark_engine.spark.sql(f"DESCRIBE HISTORY delta.`{spark_lake.path('gold.kpi_daily')}`").collect()
    assert "Apache-Spark" in history[0]["engineInfo"]


def test_reconciliation_on_spark_finds_the_same_hours_balanced(lakes, spark_settings):
    _, spark_lake, _, _, settings = lakes
    start = datetime.combine(DAY, datetime.min.time(), timezone.utc)
    on_duckdb = reconcile(settings, start, start + timedelta(hours=HOURS))
    on_spark = reconcile(
        settings.model_copy(update={"lake": spark_lake.root, "engine": "spark", "spark": spark_settings}),
        start,
        start + timedelta(hours=HOURS),
    )
    assert on_duckdb.ok and on_spark.ok
    facts = Lake(settings.lake).read("gold.fact_sales")
    assert on_duckdb.rows.num_rows == len(set(zip(facts["branch_id"].to_pylist(), facts["hour"].to_pylist())))
    assert (
        on_spark.rows.drop_columns(["checked_at"]).to_pylist()
        == on_duckdb.rows.drop_columns(["checked_at"]).to_pylist()
    )
