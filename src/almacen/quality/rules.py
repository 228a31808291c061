"""Declarative row rules: each renders a SQL condition a good row meets, and the reason when it does not.

A rule is data (which columns, which bounds); `gate.split` evaluates all of a table's rules in one
DuckDB pass and names the first rule each row fails. A rule that looks values up in a table of the
caller's (the sales a batch accepted, the ids already loaded, the branches of the config) declares it
as an `Input` (name and schema): `split` takes the table for it by that name, registers it for the
pass and checks that none is missing, so no caller has to remember to register one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

JSON_STRING = "a JSON string"
JSON_INTEGER = "a JSON integer"
TIMESTAMP = "an ISO 8601 timestamp with Z or an offset"
"""the JSON types event fields are documented as: a `Typed` rule's reason names one"""


@dataclass(frozen=True)
class Input:
    """A table a rule reads besides the batch, given to `split` as `inputs={name: table}`.

    `schema` lists the columns the rule reads and their types; the table given may hold more columns.
    A column's type must be the one declared (strings and timestamps in any Arrow flavour), except that
    an integer column takes any integer type: key hashes are the engine's (DuckDB's `hash` is a 64-bit
    unsigned integer, Spark's a 32-bit one).
    """

    name: str
    schema: pa.Schema


@dataclass(frozen=True)
class Check:
    """One evaluable condition: `rule` names it, `passes` is SQL true for good rows, `reason` SQL text;
    `inputs` are the tables besides the batch that its SQL reads."""

    rule: str
    passes: str
    reason: str
    inputs: tuple[Input, ...] = ()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _only_when(when: str | None, passes: str) -> str:
    """A condition that holds trivially on rows where `when` (SQL) does not."""
    return passes if when is None else f"NOT coalesce({when}, false) OR ({passes})"


@dataclass(frozen=True)
class NotNull:
    """`columns` present; with `when` (SQL), only on the rows it holds for (e.g. one event type)."""

    columns: tuple[str, ...]
    when: str | None = None

    def checks(self) -> list[Check]:
        scope = f" (required when {self.when})" if self.when else ""
        return [
            Check(f"not_null:{c}", _only_when(self.when, f"{_q(c)} IS NOT NULL"), _lit(f"{c} is null{scope}"))
            for c in self.columns
        ]


@dataclass(frozen=True)
class Typed:
    """The source value is of the column's type: the parse step lists in `_untyped` the columns whose
    value was present but did not read as their type (and leaves them null); a null `_untyped` is an
    empty list (a row with nothing to list need not build one). `expected` names the type for the
    reason (`product_id is not a JSON integer`)."""

    columns: tuple[str, ...]
    expected: str | None = None

    def checks(self) -> list[Check]:
        return [
            Check(
                f"type:{c}",
                f"_untyped IS NULL OR NOT list_contains(_untyped, {_lit(c)})",
                _lit(
                    f"{c} is not {self.expected}"
                    if self.expected
                    else f"{c} could not be read as its declared type (see _raw)"
                ),
            )
            for c in self.columns
        ]


@dataclass(frozen=True)
class Allowed:
    """`column` in a vocabulary; with `when` (SQL), only on the rows it holds for."""

    column: str
    values: tuple[str, ...]
    when: str | None = None

    def checks(self) -> list[Check]:
        values = ", ".join(_lit(v) for v in self.values)
        return [
            Check(
                f"allowed:{self.column}",
                _only_when(self.when, f"{_q(self.column)} IN ({values})"),
                _lit(f"{self.column} = '")
                + f" || coalesce({_q(self.column)}::VARCHAR, 'null') || "
                + _lit(f"' is not one of {', '.join(self.values)}"),
            )
        ]


@dataclass(frozen=True)
class Range:
    """`column` within bounds; `above` is exclusive (quantity > 0), `at_least` inclusive (price >= 0)."""

    column: str
    above: float | None = None
    at_least: float | None = None

    def checks(self) -> list[Check]:
        col = _q(self.column)
        if self.above is not None:
            cond, text = f"{col} > {self.above}", f"> {self.above:g}"
        else:
            cond, text = f"{col} >= {self.at_least}", f">= {self.at_least:g}"
        return [
            Check(
                f"range:{self.column}",
                f"{col} IS NULL OR {cond}",
                _lit(f"{self.column} = ") + f" || {col}::VARCHAR || " + _lit(f" is not {text}"),
            )
        ]


@dataclass(frozen=True)
class References:
    """`columns` exist together in `table`'s `ref_columns`; `shown` is the SQL the reason quotes.

    `table` is an `Input` given to `split` (a table of the caller's), or a lake table by its `layer.name`
    that the engine holds registered, as the models read them (`silver.products`, which the extraction
    registers from the catalog)."""

    columns: tuple[str, ...]
    table: Input | str
    ref_columns: tuple[str, ...]
    shown: str | None = None
    missing: str | None = None
    """what the reason says after the value (default: `not found in <table>`)"""

    def __post_init__(self) -> None:
        if isinstance(self.table, str) and "." not in self.table:
            raise ValueError(
                f"References({', '.join(self.columns)}): {self.table!r} is no lake table (layer.name); "
                "a table of the caller's is declared as an Input and given to split"
            )

    def checks(self) -> list[Check]:
        cols = ", ".join(_q(c) for c in self.columns)
        refs = ", ".join(_q(c) for c in self.ref_columns)
        shown = self.shown or _q(self.columns[-1])
        table = self.table.name if isinstance(self.table, Input) else self.table
        return [
            Check(
                f"references:{','.join(self.columns)}",
                f"({cols}) IN (SELECT ({refs}) FROM {table})",
                _lit(f"{self.columns[-1]} = ")
                + f" || coalesce(({shown})::VARCHAR, 'null') || "
                + _lit(" " + (self.missing or f"not found in {table}")),
                (self.table,) if isinstance(self.table, Input) else (),
            )
        ]


@dataclass(frozen=True)
class Unique:
    """One row per key in the batch: the first stays, later copies are quarantined."""

    columns: tuple[str, ...]

    def checks(self) -> list[Check]:
        key = ", ".join(_q(c) for c in self.columns)
        shown = " || ', ' || ".join(f"coalesce({_q(c)}::VARCHAR, 'null')" for c in self.columns)
        return [
            Check(
                f"unique:{','.join(self.columns)}",
                f"row_number() OVER (PARTITION BY {key} ORDER BY _row) = 1",
                _lit(f"duplicate key ({', '.join(self.columns)}) = (") + f" || {shown} || ')'",
            )
        ]


@dataclass(frozen=True)
class NotFuture:
    """A timestamp no later than now plus a tolerance for clock skew; `$now` is bound at evaluation."""

    column: str
    tolerance_minutes: int = 5

    def checks(self) -> list[Check]:
        col = _q(self.column)
        return [
            Check(
                f"not_future:{self.column}",
                f"{col} IS NULL OR {col} <= $now + INTERVAL {int(self.tolerance_minutes)} MINUTE",
                _lit(f"{self.column} = ") + f" || strftime({col}, '%Y-%m-%d %H:%M:%S') || " + _lit(" is in the future"),
            )
        ]


@dataclass(frozen=True)
class ValidText:
    """Text that arrived as valid UTF-8: readers replace undecodable bytes by U+FFFD, and the conform
    step lists the source columns where that happened in `_bad_text`."""

    def checks(self) -> list[Check]:
        return [
            Check(
                "utf8",
                "array_length(_bad_text) = 0",
                "array_to_string(_bad_text, ', ') || ' not valid UTF-8 text at the source (see _raw)'",
            )
        ]


@dataclass(frozen=True)
class NotBefore:
    """`column` is not earlier than `bound` (e.g. a cursor that must never go backwards); null bound passes."""

    column: str
    bound: str
    what: str = "the value already loaded"

    def checks(self) -> list[Check]:
        col, bound = _q(self.column), _q(self.bound)
        return [
            Check(
                f"not_before:{self.column}",
                f"{bound} IS NULL OR {col} >= {bound}",
                _lit(f"{self.column} = ")
                + f" || strftime({col}, '%Y-%m-%d %H:%M:%S') || "
                + _lit(f" went backwards: earlier than {self.what} (")
                + f" || strftime({bound}, '%Y-%m-%d %H:%M:%S') || ')'",
            )
        ]


@dataclass(frozen=True)
class Parsed:
    """The raw record could be read at all (text, then structure); `_parse_error` says why not."""

    def checks(self) -> list[Check]:
        return [Check("parsed", "_parse_error IS NULL", "_parse_error")]


@dataclass(frozen=True)
class NotSeen:
    """`column` is not among the keys already loaded: the input `table` holds their `hash(column)` (the
    engine's hash) as `h`; the caller need only give the hashes of this batch's keys it finds loaded.

    64-bit hashes keep the set small; two different keys sharing a hash would quarantine the later
    one as a duplicate (never drop it), odds about 1 in 10^8 per million keys held."""

    column: str
    table: str = "seen_in_batch"

    @property
    def input(self) -> Input:
        """The table of hashes of the keys already loaded, as `split` takes it."""
        return Input(self.table, pa.schema([("h", pa.uint64())]))

    def checks(self) -> list[Check]:
        col = _q(self.column)
        return [
            Check(
                f"not_seen:{self.column}",
                f"hash({col}) NOT IN (SELECT h FROM {self.table})",
                _lit(f"{self.column} = ") + f" || {col} || " + _lit(" was already loaded (a duplicate)"),
                (self.input,),
            )
        ]


Rule = NotBefore | NotNull | NotSeen | Parsed | Typed | Allowed | Range | References | Unique | NotFuture | ValidText
