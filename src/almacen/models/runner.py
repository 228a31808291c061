"""Run the silver and gold SQL models in dependency order, each into its Delta table.

A model is a `.sql` file under `models/<layer>/`; its file name is its table. Dependencies are
read from the SQL itself (sqlglot), so a model never declares them twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from graphlib import TopologicalSorter
from importlib import resources

import pyarrow as pa

from almacen.config import Settings
from almacen.engine import Engine, open_engine
from almacen.lake import Lake


@dataclass(frozen=True)
class Model:
    table: str
    sql: str

    @property
    def depends_on(self) -> set[str]:
        import sqlglot  # only the model runner needs a SQL parser
        from sqlglot import exp

        tree = sqlglot.parse_one(self.sql, read="duckdb")
        return {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db}


def discover() -> dict[str, Model]:
    """Every model shipped with almacen, by table name."""
    root = resources.files("almacen.models")
    models = {}
    for layer in ("silver", "gold"):
        for f in (root / layer).iterdir():
            if f.name.endswith(".sql"):
                table = f"{layer}.{f.name.removesuffix('.sql')}"
                models[table] = Model(table, f.read_text(encoding="utf-8"))
    return models


def order(models: dict[str, Model]) -> list[Model]:
    """Models sorted so each runs after the models it reads."""
    graph = {t: m.depends_on & models.keys() for t, m in models.items()}
    return [models[t] for t in TopologicalSorter(graph).static_order()]


def config_tables(settings: Settings) -> dict[str, pa.Table]:
    """What models read from the configuration, as tables."""
    return {"config.branches": pa.Table.from_pylist(
        [{"id": b.id, "name": b.name, "city": b.city, "province": b.province} for b in settings.branches],
        schema=pa.schema([("id", pa.string()), ("name", pa.string()), ("city", pa.string()), ("province", pa.string())]))}


def build(settings: Settings, engine: Engine | None = None,
          on_model: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Rebuild every silver and gold model from the lake; returns row counts by table.

    Each model replaces its table in one commit (the previous version stays readable by time travel).
    The engine is the configured one (`engine = "spark"` runs the same SQL files on Spark) unless given.
    """
    lake = Lake(settings.lake)
    own = engine is None
    engine = engine or open_engine(settings)
    try:
        models = discover()
        for name, table in config_tables(settings).items():
            engine.register(name, table)
        needed = set().union(*(m.depends_on for m in models.values())) - models.keys()
        for table in sorted(needed):
            if not table.startswith("config."):
                try:
                    engine.register_table(table, lake)
                except LookupError as exc:
                    raise LookupError(f"model input {exc}: run `almacen extract` first") from None
        params = {"timezone": settings.timezone}
        counts = {}
        for model in order(models):
            used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", model.sql)}
            counts[model.table] = engine.materialize(model.sql, used or None, lake, model.table)
            if on_model:
                on_model(model.table, counts[model.table])
        return counts
    finally:
        if own:
            engine.close()

