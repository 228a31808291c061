"""The quality gate: split a batch into rows that pass every rule and rows for quarantine.

Rows in = rows passed + rows quarantined, always: each row gets the first rule it fails (or none).

Rules that read a table besides the batch declare it (`rules.Input`); the gate takes the tables for
them by name, registers them for the pass, and refuses to judge without one (`InputError`, naming the
rule and the input): no caller registers a rule's table itself. `split` judges one batch; a `Gate`
judges batch after batch with the same rules (a stream), registering the inputs that do not change
between batches once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import utc_now
from almacen.engine import Engine
from almacen.lake import same_type
from almacen.quality.rules import Check, Input, Rule

Data: TypeAlias = pa.Table | pads.Dataset | pa.RecordBatchReader
"""what an input can be given as: what `Engine.register` takes"""


class InputError(TypeError):
    """The gate was not given a table one of its rules reads, was given one of the wrong shape, or one no
    rule reads: a mistake of the code calling it, named with the rule and the input."""


@dataclass(frozen=True)
class Split:
    passed: pa.Table
    quarantined: pa.Table
    """the failing rows with `_rule` and `_reason`"""

    @property
    def rows_in(self) -> int:
        return self.passed.num_rows + self.quarantined.num_rows


def inputs_of(rules: Sequence[Rule]) -> dict[str, tuple[Input, str]]:
    """The inputs `rules` read, by name, each with the first rule that reads it."""
    found: dict[str, tuple[Input, str]] = {}
    for check in (c for rule in rules for c in rule.checks()):
        for needed in check.inputs:
            found.setdefault(needed.name, (needed, check.rule))
    return found


def split(
    engine: Engine,
    batch: pa.Table,
    rules: Sequence[Rule],
    *,
    name: str = "batch",
    now: datetime | None = None,
    inputs: Mapping[str, Data] | None = None,
) -> Split:
    """Evaluate `rules` over `batch` (registered as `name`) and split it.

    Args:
        inputs: the table for each `Input` the rules read, by its name; registered for this pass only.

    Raises:
        InputError: an input a rule reads is not given (or lacks a column it reads), or one given is read
            by no rule.
    """
    gate = Gate(engine, rules, inputs, name=name)
    try:
        return gate.split(batch, now=now)
    finally:
        gate.close()


class Gate:
    """`rules` over batch after batch on one engine, with `standing` inputs registered once (until `close`).

    Each `split` takes the other inputs the rules read, for that batch; they stay registered until the
    next `split` replaces them (or `close`), which costs the engine no statement per batch to drop them.
    Inputs are registered under their names: two gates on one engine must not share an input name.
    """

    def __init__(
        self, engine: Engine, rules: Sequence[Rule], standing: Mapping[str, Data] | None = None, *, name: str = "batch"
    ) -> None:
        self.engine, self.name = engine, name
        self._needs = inputs_of(rules)
        standing = dict(standing or {})
        self._check(standing, complete=False)
        self._per_batch = sorted(set(self._needs) - set(standing))
        self._sql = _judging_sql([c for rule in rules for c in rule.checks()], name)
        self._registered: list[str] = []
        for key, data in standing.items():
            engine.register(key, data)
            self._registered.append(key)

    def split(self, batch: pa.Table, *, now: datetime | None = None, inputs: Mapping[str, Data] | None = None) -> Split:
        """Evaluate the rules over `batch` and split it; `inputs`: the tables of this batch the rules read
        that were not given as standing (InputError when one is missing or not read)."""
        inputs = dict(inputs or {})
        self._check(inputs, complete=True)
        for key, data in inputs.items():
            self.engine.register(key, data)
            if key not in self._registered:
                self._registered.append(key)
        batch = batch.append_column("_row", pa.array(range(batch.num_rows), pa.int64()))
        self.engine.register(self.name, batch)
        params = {"now": now or utc_now()} if "$now" in self._sql else None
        judged = self.engine.query(self._sql, params)
        failed = pc.is_valid(judged["_rule"])
        passed = judged.filter(pc.invert(failed)).drop_columns(["_rule", "_reason"])
        quarantined = judged.filter(failed)
        assert passed.num_rows + quarantined.num_rows == batch.num_rows, "quality gate lost rows"
        return Split(passed, quarantined)

    def close(self) -> None:
        """Forget the inputs registered (the batch stays registered as `name` until replaced, as before)."""
        for key in self._registered:
            self.engine.forget(key)
        self._registered.clear()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check(self, given: Mapping[str, Data], *, complete: bool) -> None:
        """Every given input is read by a rule and has the columns it reads; with `complete`, every input
        a rule reads per batch is given."""
        for key, data in given.items():
            if key not in self._needs:
                read = ", ".join(sorted(self._needs)) or "none"
                raise InputError(f"quality gate: input {key!r} is read by no rule (the rules read: {read})")
            needed, rule = self._needs[key]
            _check_schema(needed, rule, data.schema)
        if complete:
            missing = [k for k in self._per_batch if k not in given]
            if missing:
                needed, rule = self._needs[missing[0]]
                raise InputError(
                    f"quality rule {rule} reads the input {needed.name!r} ({_columns(needed.schema)}), "
                    f"which was not given: pass it as inputs={{{needed.name!r}: table}}"
                    + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else "")
                )


def _check_schema(needed: Input, rule: str, schema: pa.Schema) -> None:
    for field in needed.schema:
        if field.name not in schema.names:
            raise InputError(
                f"quality rule {rule}: input {needed.name!r} has no column {field.name} ({field.type}); "
                f"it has: {', '.join(schema.names) or 'no columns'}"
            )
        given = schema.field(field.name).type
        if not (same_type(given, field.type) or (pa.types.is_integer(given) and pa.types.is_integer(field.type))):
            raise InputError(
                f"quality rule {rule}: input {needed.name!r} column {field.name} is {given}, not {field.type}"
            )


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name} {f.type}" for f in schema)


def _judging_sql(checks: list[Check], name: str) -> str:
    """One pass over `name`: each row's first failing rule and, for the rows that failed, its reason.

    Conditions are evaluated once per row; reasons only for the rows that failed."""
    if not checks:
        return f"SELECT * EXCLUDE (_row), NULL::VARCHAR AS _rule, NULL::VARCHAR AS _reason FROM {name}"
    rule_case = " ".join(f"WHEN NOT coalesce({c.passes}, false) THEN '{c.rule}'" for c in checks)
    reason_case = " ".join(f"WHEN '{c.rule}' THEN {c.reason}" for c in checks)
    return (
        f"SELECT * EXCLUDE (_row), CASE _rule {reason_case} END AS _reason FROM "
        f"(SELECT *, CASE {rule_case} END AS _rule FROM {name}) ORDER BY _row"
    )
