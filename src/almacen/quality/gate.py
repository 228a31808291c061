"""The quality gate: split a batch into rows that pass every rule and rows for quarantine.

Rows in = rows passed + rows quarantined, always: each row gets the first rule it fails (or none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from almacen.engine import Engine
from almacen.quality.rules import Check, Rule


@dataclass(frozen=True)
class Split:
    passed: pa.Table
    quarantined: pa.Table
    """the failing rows with `_rule` and `_reason`"""

    @property
    def rows_in(self) -> int:
        return self.passed.num_rows + self.quarantined.num_rows


def split(engine: Engine, batch: pa.Table, rules: Sequence[Rule], *, name: str = "batch",
          now: datetime | None = None) -> Split:
    """Evaluate `rules` over `batch` (registered as `name`) and split it."""
    checks: list[Check] = [c for rule in rules for c in rule.checks()]
    batch = batch.append_column("_row", pa.array(range(batch.num_rows), pa.int64()))
    engine.register(name, batch)
    # Conditions are evaluated once per row; reasons only for the rows that failed.
    rule_case = " ".join(f"WHEN NOT coalesce({c.passes}, false) THEN '{c.rule}'" for c in checks)
    reason_case = " ".join(f"WHEN '{c.rule}' THEN {c.reason}" for c in checks)
    sql = (f"SELECT * EXCLUDE (_row), CASE _rule {reason_case} END AS _reason FROM "
           f"(SELECT *, CASE {rule_case} END AS _rule FROM {name}) ORDER BY _row") if checks else (
        f"SELECT * EXCLUDE (_row), NULL::VARCHAR AS _rule, NULL::VARCHAR AS _reason FROM {name}")
    params = {"now": now or datetime.now(timezone.utc)} if "$now" in sql else None
    judged = engine.query(sql, params)
    failed = pc.is_valid(judged["_rule"])
    passed = judged.filter(pc.invert(failed)).drop_columns(["_rule", "_reason"])
    quarantined = judged.filter(failed)
    assert passed.num_rows + quarantined.num_rows == batch.num_rows, "quality gate lost rows"
    return Split(passed, quarantined)
