"""engine = "spark": branch windows read through Spark JDBC, partitioned by the cursor, land exactly as embedded.

The same simulated hours of a PostgreSQL and a MariaDB branch go into lake A with the embedded reader and
into lake B through Spark JDBC; every layer must hold the same rows (ingestion timestamps aside).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.config import Branch, load_config, resolve_url
from almacen.domains.sales import extract
from almacen.ingest.lineage import normalise
from almacen.sources import SourceError, read_window, safe_source
from almacen.sources.spark_jdbc import jdbc_frame, jdbc_options, read_window_spark

pytestmark = [pytest.mark.spark, pytest.mark.postgres, pytest.mark.mariadb]

TABLES = (
    "bronze.pos_ventas",
    "bronze.pos_ventas_items",
    "bronze.pos_tickets",
    "bronze.pos_ticket_lineas",
    "silver.sales_versions",
    "silver.sales_lines_versions",
    "quarantine.sales",
    "quarantine.sales_lines",
)
INGESTION_TIMES = {"_ingested_at", "_quarantined_at"}
HOURS = (13, 14, 15)


def _plain(url: str) -> str:
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


@pytest.fixture
def two_lakes(
    tmp_path: Path, fresh_postgres_db, fresh_mariadb_db, monkeypatch, make_chain, spark_engine, spark_settings
):
    """(embedded chain, Spark chain): the same PostgreSQL (palermo) and MariaDB (cordoba_centro) branches,
    one lake each; 16 hours simulated with bad rows."""
    monkeypatch.setenv("ALMACEN_TEST_PW", make_url(fresh_postgres_db).password)
    text = [
        f'lake = "{tmp_path / "lake_a"}"',
        "demo = true",
        "[catalog]",
        f'url = "{_plain(fresh_postgres_db)}"',
        'password_env = "ALMACEN_TEST_PW"',
    ]
    for bid, url, schema in (("palermo", fresh_postgres_db, "ventas"), ("cordoba_centro", fresh_mariadb_db, "tickets")):
        text += [
            "[[branches]]",
            f'id = "{bid}"',
            f'name = "{bid}"',
            'city = "c"',
            'province = "p"',
            f'url = "{_plain(url)}"',
            f'pos_schema = "{schema}"',
            'password_env = "ALMACEN_TEST_PW"',
        ]
    (tmp_path / "almacen.toml").write_text("\n".join(text) + "\n", encoding="utf-8")
    embedded = make_chain(load_config(tmp_path / "almacen.toml"))
    spark = make_chain(
        embedded.settings.model_copy(
            update={"lake": str(tmp_path / "lake_b"), "engine": "spark", "spark": spark_settings}
        )
    )
    summary = embedded.simulate(until_hour=16, bad_rows=0.08)
    assert all(sum(s.defects.values()) > 0 for s in summary.branches.values())  # bad rows are really there
    return embedded, spark


def _rows(table: pa.Table) -> list[dict]:
    """Every row but its ingestion timestamps, in a stable order (all columns, so keys and versions too)."""
    kept = table.drop_columns([c for c in table.column_names if c in INGESTION_TIMES])
    return sorted(kept.to_pylist(), key=repr)


def _run_counts(records) -> list[tuple]:
    """What each run did, from RunRecords or from rows of _system.runs."""
    keys = ("branch_id", "window_start", "status", "rows_read", "rows_written", "rows_quarantined")
    return sorted(tuple(r[k] if isinstance(r, dict) else getattr(r, k) for k in keys) for r in records)


def _source_count(url: str, sql: str, **params) -> int:
    u = make_url(url)
    drivers = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
    engine = sa.create_engine(u.set(drivername=drivers[u.drivername]))
    try:
        with engine.connect() as con:
            return con.execute(sa.text(sql), params).scalar_one()
    finally:
        engine.dispose()


def test_spark_jdbc_extraction_lands_the_same_rows_as_the_embedded_reader(
    two_lakes, fresh_postgres_db, fresh_mariadb_db
):
    embedded, spark = two_lakes
    runs_a, runs_b = embedded.extract(*HOURS), spark.extract(*HOURS)

    assert [r.status for r in runs_b] == ["ok"] * 6
    assert _run_counts(runs_a) == _run_counts(runs_b)
    assert _run_counts(embedded.read("_system.runs").to_pylist()) == _run_counts(spark.read("_system.runs").to_pylist())
    for table in TABLES:
        a, b = embedded.read(table), spark.read(table)
        assert a.schema == b.schema, table
        assert a.num_rows > 0, table
        assert _rows(a) == _rows(b), table
    # and both are the source, whole: bronze counts are the branch databases' own counts of the window
    window = {"a": embedded.hour_text(HOURS[0]), "b": embedded.hour_text(HOURS[-1] + 1)}
    assert spark.read("bronze.pos_ventas").num_rows == _source_count(
        fresh_postgres_db, "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window
    )
    assert spark.read("bronze.pos_tickets").num_rows == _source_count(
        fresh_mariadb_db, "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b", **window
    )
    runs = spark.read("_system.runs").to_pylist()
    assert all(r["rows_read"] == r["rows_written"] + r["rows_quarantined"] for r in runs)
    assert (
        sum(r["rows_quarantined"] for r in runs)
        == (spark.read("quarantine.sales").num_rows + spark.read("quarantine.sales_lines").num_rows)
        > 0
    )


def test_rerunning_an_hour_on_spark_replaces_its_slice(two_lakes):
    _, spark = two_lakes
    spark.extract(*HOURS)
    first = {t: _rows(spark.read(t)) for t in TABLES}
    spark.extract(14)
    spark.extract(*HOURS)
    assert {t: _rows(spark.read(t)) for t in TABLES} == first
    runs = spark.read("_system.runs").to_pylist()
    assert len(runs) == 6 + 2 + 6  # a run record per attempt; the data itself was replaced


def test_an_unreachable_branch_fails_alone_on_spark(two_lakes):
    _, spark = two_lakes
    settings = spark.settings
    branches = [
        b if b.id != "palermo" else Branch(**{**b.model_dump(), "url": "postgresql://almacen@127.0.0.1:1/pos"})
        for b in settings.branches
    ]
    runs = {r.branch_id: r for r in extract(settings.model_copy(update={"branches": branches}), [spark.at(14)])}
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error.startswith(
        "branch palermo: cannot connect to postgresql://127.0.0.1:1/pos: host unreachable"
    )
    assert runs["cordoba_centro"].status == "ok"
    assert runs["cordoba_centro"].rows_read > 0
    assert set(spark.read("bronze.pos_tickets")["branch_id"].to_pylist()) == {"cordoba_centro"}
    assert spark.lake.read("bronze.pos_ventas") is None


def test_a_missing_table_read_through_spark_names_the_branch_and_the_table(two_lakes, fresh_postgres_db):
    _, spark = two_lakes
    engine = sa.create_engine(make_url(fresh_postgres_db).set(drivername="postgresql+psycopg"))
    with engine.begin() as con:
        con.execute(sa.text("DROP TABLE ventas_items"))
    engine.dispose()
    runs = {r.branch_id: r for r in spark.extract(14)}
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error.startswith(
        f"branch palermo: table ventas_items: cannot read from {safe_source(fresh_postgres_db)} "
        "through Spark JDBC: missing table"
    )
    assert runs["cordoba_centro"].status == "ok"


@pytest.mark.parametrize("partitions", [2, 3])
def test_the_jdbc_read_is_split_into_numpartitions_by_the_cursor(two_lakes, spark_engine, partitions):
    embedded, _ = two_lakes
    branch = embedded.settings.branch("palermo")
    url = resolve_url(branch.url, branch.password_env, "test")
    name, table = "ventas", embedded.settings.schemas()["ventas"].tables["ventas"]
    start, end = embedded.at(13), embedded.at(16)
    frame = jdbc_frame(spark_engine.spark, url, name, table, start, end, partitions)
    assert frame.rdd.getNumPartitions() == partitions
    per_partition = frame.rdd.glom().map(len).collect()
    assert len(per_partition) == partitions
    assert sum(per_partition) == read_window(url, name, table, start, end, "test").num_rows
    assert all(n > 0 for n in per_partition)  # the stride really splits the window's rows


def test_reader_output_matches_read_window_column_for_column(two_lakes, spark_engine):
    embedded, _ = two_lakes
    for branch in embedded.settings.branches:
        url = resolve_url(branch.url, branch.password_env, "test")
        for name, table in embedded.settings.schemas()[branch.pos_schema].tables.items():
            args = (url, name, table, embedded.at(13), embedded.at(16), f"branch {branch.id}")
            a, b = read_window(*args), read_window_spark(spark_engine.spark, *args, 2)
            assert a.column_names == b.column_names
            assert normalise(a).schema == normalise(b).schema
            keys = [(k, "ascending") for k in table.key]
            assert normalise(a).sort_by(keys).equals(normalise(b).sort_by(keys)), (branch.id, name)


def test_a_cursor_missing_from_the_query_is_named_as_by_the_embedded_reader(two_lakes, spark_engine):
    embedded, _ = two_lakes
    branch = embedded.settings.branch("palermo")
    url = resolve_url(branch.url, branch.password_env, "test")
    table = (
        embedded.settings.schemas()["ventas"]
        .tables["ventas"]
        .model_copy(
            update={"query": "SELECT id_venta, total FROM ventas WHERE actualizado >= :start AND actualizado < :end"}
        )
    )
    args = (url, "ventas", table, embedded.at(13), embedded.at(16), "branch palermo")
    expected = "branch palermo: table ventas has no column actualizado (the configured cursor)"
    with pytest.raises(SourceError) as embedded_error:
        read_window(*args)
    with pytest.raises(SourceError) as spark_error:
        read_window_spark(spark_engine.spark, *args, 2)
    assert str(embedded_error.value) == str(spark_error.value) == expected


def test_jdbc_options_from_sqlalchemy_urls():
    assert jdbc_options("postgresql+psycopg://ana:s3cret@db.example:5433/pos") == {
        "url": "jdbc:postgresql://db.example:5433/pos",
        "driver": "org.postgresql.Driver",
        "user": "ana",
        "password": "s3cret",
    }
    assert jdbc_options("mysql+pymysql://ana:s3cret@10.0.0.7:3306/pos") == {
        "url": "jdbc:mysql://10.0.0.7:3306/pos?permitMysqlScheme",
        "driver": "org.mariadb.jdbc.Driver",
        "user": "ana",
        "password": "s3cret",
    }
    assert jdbc_options("mariadb://ana@10.0.0.7/pos") == {
        "url": "jdbc:mysql://10.0.0.7/pos?permitMysqlScheme",
        "driver": "org.mariadb.jdbc.Driver",
        "user": "ana",
    }
    with pytest.raises(SourceError, match=r"^mssql://h/pos: a mssql database is not read through Spark JDBC"):
        jdbc_options("mssql+pyodbc://u@h/pos")


def test_sqlite_branches_are_read_by_the_embedded_reader(chain, spark_engine):
    chain.simulate(until_hour=15)
    branch = chain.settings.branch("palermo")
    table = chain.settings.schemas()["ventas"].tables["ventas"]
    args = (branch.url, "ventas", table, chain.at(14), chain.at(15), "branch palermo")
    expected = read_window(*args)
    assert expected.num_rows > 0
    assert read_window_spark(spark_engine.spark, *args, 2).equals(expected)


def test_a_chain_with_a_sqlite_branch_extracts_on_spark(chain, spark_engine, spark_settings):
    chain.simulate(until_hour=15)
    spark = type(chain)(chain.settings.model_copy(update={"engine": "spark", "spark": spark_settings}))
    runs = spark.extract(14)
    assert sorted((r.branch_id, r.status) for r in runs) == [("cordoba_centro", "ok"), ("palermo", "ok")]
    assert spark.read("bronze.pos_ventas").num_rows == spark.source(
        "palermo",
        "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b",
        a=spark.hour_text(14),
        b=spark.hour_text(15),
    )
    assert timedelta(hours=1) == runs[0].window_end - runs[0].window_start
