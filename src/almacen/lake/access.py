"""Who may read a table outside almacen: the access scope every published table declares, once.

A table leaves the lake (today: `almacen publish` to PostgreSQL for BI tools) only with an explicit
decision of who may read its rows, declared beside the table's definition — a `-- access: <scope>`
header in a gold SQL model, or the catalog entry of a table a Python module writes
(`almacen.lake.catalog.Table`, whose `define` calls `declare` here). There is no default: a table nobody declared is refused by the publisher, so a
new table can never be published readable by everyone because its author forgot about it.

The scopes:

- `branch`: rows cut by `branch_id` — a branch's role sees its branch's rows, the all-branches group
  every row (sales facts, marts, KPIs, per-minute sales);
- `client`: rows cut by `client_id` — a client's role sees its own rows, the all-clients group every
  row (messaging usage, conversations, issued invoices);
- `admin`: readable only by almacen administrators (unissued invoice drafts);
- `public`: a dimension any reader may see whole (products, channels, dates, payment types).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from almacen.errors import AlmacenError
from almacen.lake.tables import LAYERS


class Access(StrEnum):
    """Who may read a table's rows once published."""

    BRANCH = "branch"
    """rows cut by the branch column: a branch's role reads its branch, the all-branches group all"""
    CLIENT = "client"
    """rows cut by the client column: a client's role reads its own, the all-clients group all"""
    ADMIN = "admin"
    """almacen administrators only"""
    PUBLIC = "public"
    """a dimension every reader sees whole"""


SCOPE_COLUMNS: Mapping[Access, str] = MappingProxyType({Access.BRANCH: "branch_id", Access.CLIENT: "client_id"})
"""the column a row-scoped table is cut by, unless its declaration names another"""
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class AccessError(AlmacenError, ValueError):
    """An access declaration that is malformed or contradicts an earlier one for the same table."""


@dataclass(frozen=True)
class Declaration:
    """One table's access decision: its scope and, for `branch` and `client`, the column rows are cut by;
    with the columns that identify a row (what `publish` makes its primary key), declared beside it."""

    table: str
    """`layer.name`, e.g. `gold.sales_daily`"""
    access: Access
    column: str | None = None
    """the scoping column (`branch_id`, `client_id`); None for `admin` and `public`"""
    keys: tuple[str, ...] = ()
    """the table's grain (none declared: published without a primary key)"""


_REGISTRY: dict[str, Declaration] = {}


def declare(table: str, access: Access | str, column: str | None = None, keys: tuple[str, ...] = ()) -> Declaration:
    """Record `table`'s access scope, beside its definition; returns the declaration.

    Declaring the same scope again is harmless (a module imported twice); a different scope for a
    table already declared is an AccessError, so two definitions can never disagree silently.

    Args:
        table: `layer.name`, e.g. `gold.invoices`.
        access: one of Access (or its value, as a SQL header spells it).
        column: the scoping column of a `branch` or `client` table (default `branch_id` / `client_id`).
        keys: the columns that identify a row (a catalog entry's `keys`, a gold model's `-- keys:` header).
    """
    layer, _, name = table.partition(".")
    if layer not in LAYERS or not _NAME.fullmatch(name):
        raise AccessError(f"access: {table!r} is not layer.name with a layer among {LAYERS}")
    try:
        scope = Access(access)
    except ValueError:
        raise AccessError(
            f"access: {table} declares {access!r}, which is not one of {', '.join(a.value for a in Access)}"
        ) from None
    if scope in SCOPE_COLUMNS:
        column = column or SCOPE_COLUMNS[scope]
        if not _NAME.fullmatch(column):
            raise AccessError(f"access: {table} names scoping column {column!r}, which is not a plain column name")
    elif column is not None:
        raise AccessError(f"access: {table} is {scope} and has no scoping column, but {column!r} was given")
    bad = [k for k in keys if not _NAME.fullmatch(k)]
    if bad:
        raise AccessError(f"access: {table} names key column(s) {bad}, which are not plain column names")
    found = Declaration(table, scope, column, tuple(keys))
    earlier = _REGISTRY.get(table)
    if earlier is None or (not earlier.keys and found.keys):
        if earlier is not None and (earlier.access, earlier.column) != (scope, column):
            raise AccessError(_contradiction(earlier, found))
        _REGISTRY[table] = found
        return found
    if (earlier.access, earlier.column) != (scope, column):
        raise AccessError(_contradiction(earlier, found))
    if found.keys and found.keys != earlier.keys:
        raise AccessError(
            f"access: {table} has keys {', '.join(earlier.keys)} already; declaring keys "
            f"{', '.join(found.keys)} too is a contradiction: keep one declaration beside its definition"
        )
    return earlier  # the same again (a module imported twice, a scope repeated without its keys): harmless


def access_of(table: str) -> Declaration | None:
    """The declaration of `table` (`gold.x`), or None when nobody declared it."""
    return _REGISTRY.get(table)


def declared() -> Mapping[str, Declaration]:
    """Every declaration made so far, by table (read-only). Only modules already imported have declared
    theirs: `almacen.domains.access()` imports every module that defines a table first."""
    return MappingProxyType(dict(_REGISTRY))


def _describe(d: Declaration) -> str:
    return f"{d.access} (by {d.column})" if d.column else str(d.access)


def _contradiction(earlier: Declaration, found: Declaration) -> str:
    return (
        f"access: {found.table} is declared {_describe(earlier)} already; declaring it {_describe(found)} "
        "too is a contradiction: keep one declaration beside the table's definition"
    )
