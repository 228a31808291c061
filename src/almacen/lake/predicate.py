"""Predicates for `Lake.replace` and Delta deletes, written one way: columns checked, values quoted.

delta-rs reads a predicate as SQL (DataFusion's dialect) against the table's schema, so a value is
written as a literal the column's type is read from: strings, dates and timestamps quoted (a quote
inside doubled), numbers and booleans bare. A timestamp is written in UTC with a `Z` (a naive one
is taken as UTC, as everywhere in almacen: `almacen.clock`), with microseconds when it has any.
`None` is refused: `column = NULL` matches nothing in SQL, which is never what a caller meant.

Each function returns a predicate string; `all_of` and `any_of` combine them, parenthesised:

    >>> all_of(isin("branch_id", ["palermo", "o'higgins"]), at_least("hour", datetime(2026, 10, 1, 14)))
    "(branch_id IN ('palermo', 'o''higgins')) AND (hour >= '2026-10-01T14:00:00Z')"

`isin` of no values is `NOTHING` (matches no row): replacing it with rows is refused by delta-rs,
replacing it with none changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal

EVERYTHING = "true"
"""the predicate every row matches (replace the whole table, keeping its history and positions)"""
NOTHING = "false"
"""the predicate no row matches"""
_COLUMN = re.compile(r"[a-z_][a-z0-9_]*")
Value = str | bool | int | Decimal | float | date | datetime
"""what a predicate compares a column with"""


def literal(value: Value) -> str:
    """`value` as a SQL literal of a Delta predicate.

    Raises:
        TypeError: `value` is None or of a type with no literal here; the message names it.
    """
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        t = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return "'" + t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond else "%Y-%m-%dT%H:%M:%SZ") + "'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    raise TypeError(
        f"no predicate literal for {value!r} ({type(value).__name__}): "
        "give a str, bool, int, Decimal, float, date or datetime"
    )


def column(name: str) -> str:
    """`name` checked to be a plain lower-case column name (the only kind almacen's tables have)."""
    if not _COLUMN.fullmatch(name):
        raise ValueError(f"predicate column {name!r} is not a lower-case name of letters, digits and _")
    return name


def equals(name: str, value: Value) -> str:
    """`name = value`."""
    return f"{column(name)} = {literal(value)}"


def isin(name: str, values: Iterable[Value]) -> str:
    """`name IN (values...)`, each value once in the order given; `NOTHING` when there are none."""
    listed = list(dict.fromkeys(literal(v) for v in values))
    return f"{column(name)} IN ({', '.join(listed)})" if listed else NOTHING


def at_least(name: str, value: Value) -> str:
    """`name >= value`."""
    return f"{column(name)} >= {literal(value)}"


def before(name: str, value: Value) -> str:
    """`name < value`."""
    return f"{column(name)} < {literal(value)}"


def between(name: str, low: Value, high: Value) -> str:
    """`low <= name <= high` (both ends included, as SQL's BETWEEN; written as two comparisons, which
    delta-rs uses to skip files and partitions)."""
    return f"{column(name)} >= {literal(low)} AND {column(name)} <= {literal(high)}"


def all_of(*predicates: str) -> str:
    """The rows every predicate matches (`EVERYTHING` when none is given)."""
    return " AND ".join(f"({p})" for p in predicates) if predicates else EVERYTHING


def any_of(*predicates: str) -> str:
    """The rows some predicate matches (`NOTHING` when none is given)."""
    return " OR ".join(f"({p})" for p in predicates) if predicates else NOTHING
