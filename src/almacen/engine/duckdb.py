"""DuckDB in-process: the embedded engine."""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from almacen.lake import Lake


class DuckDBEngine:
    """DuckDB over Arrow tables and Delta-backed datasets, one connection per engine."""

    DIALECT = "duckdb"

    def __init__(self, memory_limit: str | None = None, threads: int | None = None,
                 temp_directory: str | None = None) -> None:
        self._con = duckdb.connect(config={"temp_directory": temp_directory} if temp_directory else {})
        self._lock = threading.Lock()
        if memory_limit:
            self._run(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self._run(f"SET threads = {int(threads)}")
        self._run("SET TimeZone = 'UTC'")
        self._schemas: set[str] = set()

    def register(self, name: str, data: pa.Table | pads.Dataset | pa.RecordBatchReader) -> None:
        schema, _, table = name.rpartition(".")
        with self._lock:
            if schema and schema not in self._schemas:
                self._run(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._schemas.add(schema)
            source = f"__{schema}__{table}" if schema else f"__{table}"
            self._con.register(source, data)
            target = f'"{schema}"."{table}"' if schema else f'"{table}"'
            self._run(f'CREATE OR REPLACE VIEW {target} AS SELECT * FROM "{source}"')

    def register_table(self, name: str, lake: Lake, table: str | None = None) -> None:
        table = table or name
        data = lake.dataset(table)
        if data is None:
            raise LookupError(f"{table} is missing from the lake at {lake.path(table)}")
        self.register(name, data)

    def materialize(self, sql: str, params: dict[str, object] | None, lake: Lake, table: str) -> int:
        result = self.query(sql, params)
        lake.overwrite(table, result)
        self.register(table, result)
        return result.num_rows

    def forget(self, name: str) -> None:
        schema, _, table = name.rpartition(".")
        source = f"__{schema}__{table}" if schema else f"__{table}"
        target = f'"{schema}"."{table}"' if schema else f'"{table}"'
        with self._lock:
            self._run(f"DROP VIEW IF EXISTS {target}")
            self._con.unregister(source)

    def query(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        with self._lock:
            return self._con.sql(sql, params=params).to_arrow_table()

    def execute(self, sql: str, params: dict[str, object] | None = None) -> None:
        with self._lock:
            self._con.execute(sql, params).fetchall()

    def stream(self, sql: str, params: dict[str, object] | None = None) -> pa.RecordBatchReader:
        with self._lock:
            return self._con.sql(sql, params=params).to_arrow_reader()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, statement: str) -> None:
        self._con.execute(statement).complete()
