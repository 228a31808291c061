"""Run the silver and gold SQL models in dependency order, each into its Delta table.

A model is a `.sql` file under `<folder>/<layer>/` of a model folder a domain declares
(`Domain.models`, e.g. `domains/sales/models/gold/sales_daily.sql`); its file name is its table. Dependencies are
read from the SQL itself (sqlglot), so a model never declares them twice. A gold model also says who
may read it once published, in a header line of its leading comments: `-- access: branch` (rows cut
by branch_id), `client`, `admin` or `public` (almacen.lake.access). The scopes are declared when this
folders are declared (`declare_access`, which the registry's `access()` calls), beside the SQL they belong
to; a gold model without a valid header is refused by `discover()` (so by `build`), and by
`almacen publish`: a new model cannot forget its scope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from importlib.resources.abc import Traversable

import pyarrow as pa

from almacen.config import Settings
from almacen.engine import Engine, open_engine
from almacen.errors import AlmacenError, NotFound
from almacen.lake import Access, Lake, declare
from almacen.sql import load_sql_file

ACCESS_HEADER = re.compile(r"--\s*access:\s*(\S*)\s*")
"""`-- access: <scope>`, among the comment lines a gold model starts with"""
KEYS_HEADER = re.compile(r"--\s*keys:\s*(.*?)\s*")
"""`-- keys: <column>, <column>`: the columns that identify a row of a gold model (its grain)"""


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


class ModelError(AlmacenError, ValueError):
    """A model file the runner refuses (a gold model without its `-- access:` header); names the file."""


def _files(folders: Sequence[Traversable]) -> list[tuple[str, str, str]]:
    """(layer, table, SQL text) of every model file in `folders` (each with `silver/` and `gold/`)."""
    found = []
    for root, layer in ((root, layer) for root in folders for layer in ("silver", "gold")):
        if not (root / layer).is_dir():
            continue
        for f in sorted((root / layer).iterdir(), key=lambda f: f.name):
            if f.name.endswith(".sql"):
                # every Traversable hashes (Path, MultiplexedPath); mypy does not see object's __hash__ on a protocol
                found.append((layer, f"{layer}.{f.name.removesuffix('.sql')}", load_sql_file(f)))  # type: ignore[arg-type]
    return found


def model_access(table: str, text: str) -> Access:
    """The scope a gold model's `-- access: <scope>` header declares (among its leading comment lines).

    Raises:
        ModelError: no header, or one naming no known scope; the message names the file and the fix.
    """
    where = f"models/gold/{table.partition('.')[2]}.sql"
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        if match := ACCESS_HEADER.fullmatch(line):
            try:
                return Access(match.group(1))
            except ValueError:
                raise ModelError(
                    f"{where}: `-- access: {match.group(1)}` names no scope; use one of "
                    f"{', '.join(a.value for a in Access)}"
                ) from None
    raise ModelError(
        f"{where} has no access header: add a first line `-- access: <scope>` (one of "
        f"{', '.join(a.value for a in Access)}) saying who may read {table} once published"
    )


def model_keys(text: str) -> tuple[str, ...]:
    """The columns a gold model's `-- keys: a, b` header names (among its leading comment lines); none
    without one (the table is then published without a primary key)."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("--"):
            break
        if match := KEYS_HEADER.fullmatch(line):
            return tuple(k.strip() for k in match.group(1).split(",") if k.strip())
    return ()


def declare_access(folders: Sequence[Traversable]) -> list[str]:
    """Declare the access scope of every gold model in `folders` whose header names one (the declaration
    sits in the model's own file); the gold tables of `folders`, declared or not. A model without a
    header stays undeclared, and `discover()` refuses it."""
    gold = []
    for layer, table, text in _files(folders):
        if layer == "gold":
            gold.append(table)
            try:
                declare(table, model_access(table, text), keys=model_keys(text))
            except ModelError:
                pass
    return gold


def discover(folders: Sequence[Traversable]) -> dict[str, Model]:
    """Every model in `folders`, by table name.

    Raises:
        ModelError: a gold model without a valid `-- access:` header, or two models of one table.
    """
    models: dict[str, Model] = {}
    for layer, table, text in _files(folders):
        if table in models:
            raise ModelError(f"two model files define {table}: one table has one model")
        if layer == "gold":
            declare(table, model_access(table, text), keys=model_keys(text))
        models[table] = Model(table, text)
    return models


def order(models: dict[str, Model]) -> list[Model]:
    """Models sorted so each runs after the models it reads."""
    graph = {t: m.depends_on & models.keys() for t, m in models.items()}
    return [models[t] for t in TopologicalSorter(graph).static_order()]


def config_tables(settings: Settings) -> dict[str, pa.Table]:
    """What models read from the configuration, as tables."""
    return {
        "config.branches": pa.Table.from_pylist(
            [{"id": b.id, "name": b.name, "city": b.city, "province": b.province} for b in settings.branches],
            schema=pa.schema(
                [("id", pa.string()), ("name", pa.string()), ("city", pa.string()), ("province", pa.string())]
            ),
        )
    }


def build(
    settings: Settings,
    engine: Engine | None = None,
    on_model: Callable[[str, int], None] | None = None,
    *,
    folders: Sequence[Traversable],
) -> dict[str, int]:
    """Rebuild every silver and gold model of `folders` from the lake; returns row counts by table.

    Each model replaces its table in one commit (the previous version stays readable by time travel).
    The engine is the configured one (`engine = "spark"` runs the same SQL files on Spark) unless given.
    """
    lake = Lake(settings.lake)
    own = engine is None
    engine = engine or open_engine(settings)
    try:
        models = discover(folders)
        for name, table in config_tables(settings).items():
            engine.register(name, table)
        needed = set().union(*(m.depends_on for m in models.values())) - models.keys()
        for table in sorted(needed):
            if not table.startswith("config."):
                try:
                    engine.register_table(table, lake)
                except NotFound as exc:
                    raise NotFound(f"model input {exc}: run `almacen extract` first") from None
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
