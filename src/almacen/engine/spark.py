"""Apache Spark through PySpark and delta-spark: the scale-out engine.

The models stay DuckDB SQL; `to_spark` transpiles them with sqlglot. Spark has no schemas for
temporary views, so `layer.name` becomes the view `layer__name`, and `* EXCLUDE (...)`, which Spark
does not know, is expanded to the named columns from the registered views' schemas.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.config import ConfigError, SparkSettings
from almacen.engine.base import MalformedInput, QueryError, require_capability
from almacen.errors import NotFound, Unavailable
from almacen.lake import Lake

SESSION_DEFAULTS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",  # the lake stores UTC; DuckDBEngine runs in UTC too
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.databricks.delta.properties.defaults.checkpointInterval": "10",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
}

LOCAL_ONLY = {"spark.driver.host", "spark.driver.bindAddress"}


def spark_session(cfg: SparkSettings):
    """The process's Spark session: the active one (Databricks, a notebook, a shared test session), or one
    started with the connector jars and loopback binding, or under spark-submit with the cluster's settings."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError('engine = "spark" needs PySpark: pip install "almacen[spark]"') from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("almacen")
    # Under spark-submit the cluster's master, jars and addresses win; on a laptop almacen sets them.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    defaults = {k: v for k, v in SESSION_DEFAULTS.items() if not (submitted and k in LOCAL_ONLY)}
    for key, value in {**defaults, **cfg.conf}.items():
        builder = builder.config(key, value)
    if not submitted:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.master(cfg.master)
        if "spark.sql.warehouse.dir" not in cfg.conf:
            # almacen addresses Delta tables by path; keep Spark's managed-table folder out of the project.
            warehouse = Path(tempfile.gettempdir()) / "almacen-spark-warehouse"
            builder = builder.config("spark.sql.warehouse.dir", str(warehouse))
        if cfg.jars:
            builder = builder.config("spark.jars", ",".join(connector_jars(cfg.jars)))
    try:
        return builder.getOrCreate()
    except RuntimeError as exc:  # PySparkRuntimeError: no Java, a master that does not answer
        raise Unavailable(f"spark: no session on master {cfg.master!r}: {exc}") from exc


def connector_jars(folder: str) -> list[str]:
    """The jars in `folder`; a clear error when the folder was never filled."""
    jars = sorted(glob.glob(str(Path(folder).resolve() / "*.jar")))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise ConfigError(
            f"Spark's connector jars are missing from {Path(folder).resolve()}: run scripts/spark/jars "
            '(or set spark.jars = "" when the cluster provides Delta, Kafka and JDBC jars)'
        )
    return jars


def view_name(name: str) -> str:
    """`silver.sales` -> `silver__sales`: the temporary view a lake table is registered as."""
    schema, _, table = name.rpartition(".")
    return f"{schema}__{table}" if schema else table


@contextmanager
def _translated(sql: str) -> Iterator[None]:
    """Raise Spark's errors of the statement `sql` as the contract's QueryError; others as they are."""
    try:
        yield
    except Exception as exc:
        error = _refused(exc, sql)
        if error is None:
            raise
        raise error from exc


def _refused(exc: Exception, sql: str) -> QueryError | None:
    """Spark's error (or the transpiler's) as the contract's; None for one that is not the statement's
    or its data's (a lost driver, a Py4J failure), which goes on as it is."""
    from pyspark.errors import (
        AnalysisException,
        ArithmeticException,
        DateTimeException,
        IllegalArgumentException,
        NumberFormatException,
    )
    from sqlglot.errors import ParseError

    kind: type[QueryError]
    if isinstance(exc, (NumberFormatException, DateTimeException)):  # [CAST_INVALID_INPUT] … it is malformed
        kind = MalformedInput
    elif isinstance(exc, (AnalysisException, ArithmeticException, IllegalArgumentException, ParseError)):
        kind = QueryError
    else:
        return None
    # getMessage: "[ERROR_CLASS] message SQLSTATE: …" without the plan or the JVM stack that str() holds
    return kind(SparkEngine.DIALECT, sql, exc.getMessage() if hasattr(exc, "getMessage") else str(exc))


class SparkEngine:
    """Spark SQL over temporary views of Arrow tables and Delta tables; results come back as Arrow.

    No tables of its own (`STATE_TABLES`: its tables are the lake's) and no SQL macros (`STRICT_JSON`).
    """

    DIALECT = "spark"
    STATE_TABLES = False
    STRICT_JSON = False

    def __init__(self, cfg: SparkSettings | None = None, session=None) -> None:
        self.spark = session or spark_session(cfg or SparkSettings())
        self._views: set[str] = set()

    def register(self, name: str, data: pa.Table | pads.Dataset | pa.RecordBatchReader) -> None:
        if isinstance(data, pads.Dataset):
            data = data.to_table()
        elif isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        self._view(
            name,
            self.spark.createDataFrame(data)
            if data.num_rows
            else self.spark.createDataFrame([], _spark_schema(self.spark, data.schema)),
        )

    def register_frame(self, name: str, df) -> None:
        """Make a Spark DataFrame queryable as `name` without collecting it."""
        self._view(name, df)

    def register_table(self, name: str, lake: Lake, table: str | None = None) -> None:
        table = table or name
        if not lake.exists(table):
            raise NotFound(f"{table} is missing from the lake at {lake.path(table)}")
        self._view(name, self.spark.read.format("delta").load(lake.path(table)))

    def forget(self, name: str) -> None:
        self.spark.catalog.dropTempView(view_name(name))
        self._views.discard(view_name(name))

    def dataframe(self, sql: str, params: Mapping[str, object] | None = None):
        """The Spark DataFrame of a DuckDB-dialect SELECT, for writing where the data lies."""
        with _translated(sql):
            return self.spark.sql(to_spark(sql, self._schemas(), params))

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        with _translated(sql):
            return self.dataframe(sql, params).toArrow()

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        with _translated(sql):
            self.dataframe(sql, params).collect()

    def read(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """Refused: Spark keeps no tables of its own to read (`STATE_TABLES`)."""
        require_capability(self, "STATE_TABLES", "reading the engine's own tables (Engine.read)")
        raise AssertionError("unreachable: SparkEngine.STATE_TABLES is False")

    def stream(self, sql: str, params: Mapping[str, object] | None = None) -> pa.RecordBatchReader:
        return self.query(sql, params).to_reader()

    def materialize(self, sql: str, params: Mapping[str, object] | None, lake: Lake, table: str) -> int:
        """Write a SELECT's rows over the whole Delta table `table` with delta-spark; returns the row count."""
        path = lake.path(table)
        with _translated(sql):
            self.dataframe(sql, params).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
                path
            )
        self._view(table, self.spark.read.format("delta").load(path))
        return _rows_written(self.spark, path)

    def close(self) -> None:
        for view in list(self._views):
            self.spark.catalog.dropTempView(view)
        self._views.clear()  # the session is the process's: other engines may share it

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _view(self, name: str, df) -> None:
        df.createOrReplaceTempView(view_name(name))
        self._views.add(view_name(name))

    def _schemas(self) -> dict[str, dict[str, str]]:
        return {v: {f.name: f.dataType.simpleString() for f in self.spark.table(v).schema.fields} for v in self._views}


def to_spark(
    sql: str, schemas: dict[str, dict[str, str]] | None = None, params: Mapping[str, object] | None = None
) -> str:
    """DuckDB SQL as Spark SQL: views for `layer.name`, EXCLUDE expanded, `$params` bound as literals.

    Spark's own parameter markers are lost by Delta's SQL parser (UNBOUND_SQL_PARAMETER), so values
    are bound here as typed literals that sqlglot quotes; they never come from a user's text.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify_columns import qualify_columns
    from sqlglot.optimizer.qualify_tables import qualify_tables

    tree = sqlglot.parse_one(sql, read="duckdb")
    for t in tree.find_all(exp.Table):
        if t.args.get("db"):
            t.set("this", exp.to_identifier(f"{t.db}__{t.name}"))
            t.set("db", None)
    bound = params or {}
    for marker in list(tree.find_all(exp.Placeholder)):
        if marker.name not in bound:
            raise QueryError(
                SparkEngine.DIALECT, sql, f"SQL parameter ${marker.name} has no value; given: {sorted(bound)}"
            )
        marker.replace(exp.convert(bound[marker.name]))
    tree = tree.transform(_spark_functions).transform(_spark_functions)  # twice: a replaced node's arguments too
    if any(s.args.get("except_") or s.args.get("except") for s in tree.find_all(exp.Star)):
        schema: dict[str, object] = dict(schemas or {})  # sqlglot's parameter is invariant in the column mapping
        tree = qualify_columns(qualify_tables(tree, dialect="spark"), schema=schema, dialect="spark", expand_stars=True)
    return tree.sql(dialect="spark")


def _spark_functions(node):
    """DuckDB functions that sqlglot leaves to Spark as-is or maps wrongly, written in Spark's terms.

    isodow: sqlglot emits `DAYOFWEEK(d) % 7 + 1`, but Spark's DAYOFWEEK counts from Sunday = 1.
    yearweek: Spark has none; ISO year × 100 + ISO week, as DuckDB defines it.
    json_valid(x) / json_type(x) = 'OBJECT': Spark has no validity test, but JSON_OBJECT_KEYS is null
    unless x is a JSON object, which is all the stream asks. from_json with a DuckDB structure
    ('{"f": "VARCHAR"}') gets a Spark DDL schema. epoch_us -> UNIX_MICROS, make_timestamptz(us) -> TIMESTAMP_MICROS.
    """
    import json

    from sqlglot import exp

    def is_object(x):
        return exp.Not(
            this=exp.Is(this=exp.Anonymous(this="JSON_OBJECT_KEYS", expressions=[x.copy()]), expression=exp.Null())
        )

    if isinstance(node, exp.Anonymous) and node.name.lower() in ("json_valid", "epoch_us", "make_timestamptz"):
        name, args = node.name.lower(), node.expressions
        if name == "json_valid":
            return exp.Paren(this=is_object(args[0]))
        if name == "epoch_us":
            return exp.Anonymous(this="UNIX_MICROS", expressions=args)
        if len(args) == 1:
            return exp.Anonymous(this="TIMESTAMP_MICROS", expressions=args)
    if isinstance(node, exp.JSONType):
        return exp.Case(ifs=[exp.If(this=is_object(node.this), true=exp.Literal.string("OBJECT"))])
    if (
        isinstance(node, exp.FromJson)
        and isinstance(node.expression, exp.Literal)
        and node.expression.this.lstrip().startswith("{")
    ):
        fields = json.loads(node.expression.this)
        ddl = ", ".join(f"`{k}` {exp.DataType.build(t, dialect='duckdb').sql('spark')}" for k, t in fields.items())
        return exp.FromJson(this=node.this, expression=exp.Literal.string(ddl))

    if isinstance(node, exp.DayOfWeekIso):
        return exp.Paren(
            this=exp.Add(this=exp.Anonymous(this="WEEKDAY", expressions=[node.this]), expression=exp.Literal.number(1))
        )
    if isinstance(node, exp.Anonymous) and node.name.lower() == "yearweek":
        day = node.expressions[0]
        return exp.Paren(
            this=exp.Add(
                this=exp.Mul(
                    this=exp.Extract(this=exp.var("YEAROFWEEK"), expression=day.copy()),
                    expression=exp.Literal.number(100),
                ),
                expression=exp.Anonymous(this="WEEKOFYEAR", expressions=[day.copy()]),
            )
        )
    return node


def _spark_schema(spark, schema: pa.Schema):
    """The Spark schema of an Arrow schema, for an empty view (Spark cannot infer it from no rows)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _rows_written(spark, path: str) -> int:
    """Rows the table's last commit wrote, from its Delta history (no second pass over the data)."""
    metrics = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]["operationMetrics"]
    return int(metrics.get("numOutputRows", 0))
