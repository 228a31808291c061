"""The table catalog: one definition per lake table, declared by the domain that writes it.

A `Table` says where a table lives (`layer.name`), its columns, the columns that identify a row, how it
is partitioned, which columns hold personal data, and who may read it once published. A domain lists
its tables in its `Domain` (`almacen.domain`), and the rest reads the same entry: the writers take the
schema and partitioning from it, `almacen publish` and the server its access scope (`define` makes the
access declaration of `almacen.lake.access`), and erasure the personal columns — so a table is defined
once. A gold SQL model is defined by its file instead: its `-- access:` header is its declaration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pyarrow as pa

from almacen.lake.access import Access, AccessError, Declaration, declare


@dataclass(frozen=True)
class Table:
    """One lake table's definition.

    Raises (on construction) AccessError when a key, partition, personal or scoping column is not
    among the schema's columns, so a definition cannot name a column its table does not have.
    """

    name: str
    """`layer.name`, e.g. `gold.sales_minute`"""
    access: Access
    schema: pa.Schema | None = None
    """the columns and types the writers hold the table to (None: whatever its writer's SQL returns)"""
    keys: tuple[str, ...] = ()
    """the columns that identify a row (its grain)"""
    partition_by: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()
    """columns holding personal data (pseudonymised from silver on): what erasure must reach"""
    column: str | None = None
    """the scoping column of a `branch` or `client` table, when it is not `branch_id` / `client_id`"""
    description: str = ""

    def __post_init__(self) -> None:
        if self.schema is None:
            return
        names = set(self.schema.names)
        for what, columns in (
            ("key", self.keys),
            ("partition", self.partition_by),
            ("personal", self.personal),
            ("scoping", (self.column,) if self.column else ()),
        ):
            unknown = [c for c in columns if c not in names]
            if unknown:
                raise AccessError(
                    f"catalog: {self.name} names {what} column(s) {unknown} that its schema lacks "
                    f"(columns: {', '.join(self.schema.names)})"
                )

    @property
    def layer(self) -> str:
        return self.name.partition(".")[0]

    def declare(self) -> Declaration:
        """Record this table's access scope and keys (`almacen.lake.declare`); harmless when repeated."""
        return declare(self.name, self.access, self.column, self.keys)


_CATALOG: dict[str, Table] = {}


def define(table: Table) -> Table:
    """Add `table` to the catalog and declare its access scope. Defining the same table again with the
    same definition is harmless; a different definition of a defined name is an AccessError."""
    table.declare()
    earlier = _CATALOG.setdefault(table.name, table)
    if earlier != table:
        raise AccessError(
            f"catalog: {table.name} is defined twice with different definitions: keep one, beside "
            "the code that writes it"
        )
    return table


def defined() -> Mapping[str, Table]:
    """Every table defined so far, by name (read-only)."""
    return MappingProxyType(dict(_CATALOG))
