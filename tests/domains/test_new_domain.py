"""A domain added without a line of the core changed: `tests/domains/returns` (one table, one stream kind,
one model, one command) joins a registry and runs end to end through the core's own machinery."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from almacen import models
from almacen.config import Settings
from almacen.domain import Registry
from almacen.domains import DOMAINS
from almacen.ingest.step import Totals
from almacen.lake import Access, Lake, access_of
from almacen.sources.landing import LandingWriter
from tests.domains.returns import DOMAIN as RETURNS_DOMAIN
from tests.domains.returns.stream import RETURNS
from tests.conftest import ingest_until_idle

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
REGISTRY = Registry((*DOMAINS, RETURNS_DOMAIN))
"""the one line a new domain adds to `almacen/domains/__init__.py`"""


def _event(n: int, minute: int, branch: str = "palermo", reason: str = "damaged", amount: str = "100.50") -> str:
    return json.dumps(
        {
            "event_id": f"r{n}",
            "event_time": (T0 + timedelta(minutes=minute, seconds=n % 60)).isoformat().replace("+00:00", "Z"),
            "branch_id": branch,
            "reason": reason,
            "amount": amount,
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        demo=True, lake=str(tmp_path / "lake"), stream={"landing": str(tmp_path / "landing"), "trigger_seconds": 0.1}
    )


def _ingest(settings: Settings) -> Totals:
    return ingest_until_idle(settings, REGISTRY.stream("returns"))


def _write(settings: Settings, lines: list[str], writer: str) -> None:
    LandingWriter(Path(settings.stream.landing) / "returns", writer, file_events=4).write(lines)


def test_the_registry_holds_the_new_domain_beside_the_shipped_ones():
    assert REGISTRY.stream("returns") is RETURNS
    assert [d.name for d in REGISTRY] == ["sales", "messaging", "returns"]
    declared = REGISTRY.access()
    assert (declared["gold.returns_minute"].access, declared["gold.returns_daily"].access) == (
        Access.BRANCH,
        Access.BRANCH,
    )
    assert REGISTRY.tables()["gold.returns_minute"].keys == ("minute", "branch_id", "reason")
    assert (declared["gold.returns_minute"].keys, declared["gold.returns_daily"].keys) == (
        ("minute", "branch_id", "reason"),
        ("day", "branch_id", "reason"),
    )  # what publish makes primary keys


def test_its_events_stream_into_bronze_quarantine_and_gold_exactly_once(settings: Settings):
    good = [
        _event(1, 0),
        _event(2, 0, reason="wrong_size", amount="20.00"),
        _event(3, 1, branch="rosario"),
        _event(4, 1, branch="rosario", amount="9.99"),
    ]
    bad = [
        _event(1, 0),  # a duplicate of r1
        _event(5, 2, branch="atlantis"),  # an unknown branch
        _event(6, 2, reason="boredom"),  # a reason outside the vocabulary
        _event(7, 2, amount="-3.00"),  # a negative amount
        "{not json",
    ]
    _write(settings, good[:2] + bad[:1], "a")
    first = _ingest(settings)
    _write(settings, good[2:] + bad[1:], "b")
    second = _ingest(settings)
    again = _ingest(settings)  # nothing new: nothing added

    assert [(t.read, t.written, t.quarantined) for t in (first, second, again)] == [(3, 2, 1), (6, 2, 4), (0, 0, 0)]
    lake = Lake(settings.lake)
    assert sorted(lake.read("bronze.return_events")["event_id"].to_pylist()) == ["r1", "r2", "r3", "r4"]
    assert sorted(lake.read("quarantine.return_events")["_rule"].to_pylist()) == [
        "allowed:reason",
        "parsed",
        "range:amount",
        "references:branch_id",
        "unique:event_id",
    ]
    minutes = (
        lake.read("gold.returns_minute")
        .sort_by([("minute", "ascending"), ("branch_id", "ascending"), ("reason", "ascending")])
        .to_pylist()
    )
    assert [(m["minute"], m["branch_id"], m["reason"], m["returns"], m["amount"]) for m in minutes] == [
        (T0, "palermo", "damaged", 1, Decimal("100.50")),
        (T0, "palermo", "wrong_size", 1, Decimal("20.00")),
        (T0 + timedelta(minutes=1), "rosario", "damaged", 2, Decimal("110.49")),
    ]


def test_its_model_builds_from_its_bronze_and_its_command_reads_its_gold(settings: Settings, tmp_path: Path):
    _write(settings, [_event(1, 0), _event(2, 5, amount="1.50"), _event(3, 9, branch="rosario")], "a")
    _ingest(settings)

    built = models.build(settings, folders=RETURNS_DOMAIN.models)

    assert built == {"gold.returns_daily": 2}
    daily = Lake(settings.lake).read("gold.returns_daily").sort_by("branch_id").to_pylist()
    assert [(d["branch_id"], d["returns"], d["amount"]) for d in daily] == [
        ("palermo", 2, Decimal("102.00")),
        ("rosario", 1, Decimal("100.50")),
    ]
    assert access_of("gold.returns_daily").access is Access.BRANCH

    app = typer.Typer()
    REGISTRY.install_cli(app)
    config = tmp_path / "almacen.toml"
    config.write_text(f'demo = true\nlake = "{settings.lake}"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["returns", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == ["palermo: 2 returns, ARS 102.00", "rosario: 1 returns, ARS 100.50"]


def test_the_shipped_registry_finds_each_domains_reconciliation():
    from almacen.domains import REGISTRY as SHIPPED
    from almacen.domains.sales import reconcile

    assert dict(SHIPPED.reconcilers()) == {"sales": reconcile}


def test_the_shipped_tables_that_hold_personal_data_say_which_columns():
    from almacen.domains import REGISTRY as SHIPPED

    personal = {name: t.personal for name, t in SHIPPED.tables().items() if t.personal}
    assert personal == {
        "bronze.message_events": ("recipient_key",),
        "quarantine.message_events": ("_raw",),  # the refused payload as it came, phone number included
        "silver.messages": ("recipient_key",),
        "gold.conversations": ("recipient_key",),
    }
