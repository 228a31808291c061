"""Monthly invoices from the exact usage: drafted, issued once and never changed, adjusted by notes."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from almacen.config import Settings
from almacen.domains.messaging.invoice import invoice_month_py
from almacen.domains.messaging.build import build_messaging
from almacen.domains.messaging.ledger import LedgerError, draft_month, issue_month, recalc
from almacen.domains.messaging.rates import load_clients, load_rate_card
from almacen.domains.messaging.reference import store_clients, store_rate_card
from almacen.domains.messaging import MESSAGING
from almacen.lake import Lake
from almacen.simulate.messaging import MessageMaker, build_world, write_reference
from almacen.sources.landing import LandingWriter
from tests.conftest import ingest_until_idle

SEPTEMBER, OCTOBER = date(2026, 9, 1), date(2026, 10, 1)
NOW = datetime(2026, 11, 5, tzinfo=timezone.utc)


@dataclass
class Billed:
    settings: Settings
    lake: Lake
    usage: pa.Table
    """the simulator's own ledger of usage per minute"""
    clients: Path
    rates: Path


def _small_allowances(folder: Path) -> tuple[Path, Path]:
    """The simulated reference with allowances and tier starts scaled down to a test's volumes."""
    platform = build_world(12, seed=3, start=date(2026, 8, 1))
    clients, rates = write_reference(platform, folder)
    clients.write_text(re.sub(r"free_messages = \d+", "free_messages = 15", clients.read_text()))
    rates.write_text(rates.read_text().replace("[10000, ", "[40, ").replace("[100000, ", "[120, "))
    return clients, rates


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Billed:
    """September and the first days of October simulated, streamed through the landing folder."""
    folder = tmp_path_factory.mktemp("billing")
    clients, rates = _small_allowances(folder / "reference")
    settings = Settings(
        demo=True,
        lake=str(folder / "lake"),
        messaging={"stream": {"landing": str(folder / "landing"), "trigger_seconds": 0.1}},
    )
    lake = Lake(settings.lake)
    store_clients(lake, clients)
    store_rate_card(lake, rates)
    maker = MessageMaker(
        build_world(12, seed=3, start=date(2026, 8, 1)),
        seed=5,
        start=datetime(2026, 9, 1, tzinfo=timezone.utc),
        per_second=1_900 / (33 * 86_400),
        run="bill",
    )
    events = maker.events(7_000) + maker.flush()
    LandingWriter(folder / "landing", "sim", 1_000).write([line for _, line in events])
    ingest_until_idle(settings, MESSAGING)
    return Billed(settings, lake, maker.ledger.usage_minute(), clients, rates)


@pytest.fixture
def billed(ingested: Billed, tmp_path: Path) -> Billed:
    """A copy of the ingested lake each test may change."""
    shutil.copytree(ingested.lake.root, tmp_path / "lake")
    settings = ingested.settings.model_copy(update={"lake": str(tmp_path / "lake")})
    return Billed(settings, Lake(settings.lake), ingested.usage, ingested.clients, ingested.rates)


def _expected(billed: Billed, rates: Path | None = None, clients: Path | None = None) -> tuple[pa.Table, pa.Table]:
    return invoice_month_py(
        billed.usage, load_rate_card(rates or billed.rates), load_clients(clients or billed.clients), SEPTEMBER
    )


def _money(rows: pa.Table) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {r["client_id"]: (r["subtotal"], r["discount"], r["total"]) for r in rows.to_pylist()}


def _lines(rows: pa.Table) -> list[tuple]:
    return sorted(
        (
            r["client_id"],
            r["category"],
            r["country"],
            r["tier"],
            r["quantity"],
            r["free_quantity"],
            r["unit_price"],
            r["amount"],
        )
        for r in rows.to_pylist()
    )


def test_each_clients_invoice_equals_the_python_reference_over_the_simulators_ledger(billed: Billed):
    run = draft_month(billed.settings, SEPTEMBER, now=NOW)

    invoices, lines = _expected(billed)
    drafts, draft_lines = billed.lake.read("gold.invoice_drafts"), billed.lake.read("gold.invoice_draft_lines")
    assert run.documents == invoices.num_rows == 12
    assert _money(drafts) == _money(invoices)
    assert _lines(draft_lines) == _lines(lines)
    assert run.total == sum(invoices["total"].to_pylist()) > 0
    assert max(lines["tier"].to_pylist()) >= 2 and sum(lines["free_quantity"].to_pylist()) == 12 * 15
    assert set(drafts["status"].to_pylist()) == {"draft"} and not any(drafts["provisional"].to_pylist())


def test_every_line_quantity_is_the_count_of_delivered_templates_in_silver(billed: Billed):
    draft_month(billed.settings, SEPTEMBER, now=NOW)
    build_messaging(billed.settings)

    lines = billed.lake.read("gold.invoice_draft_lines")
    billed_units = lines.group_by(["client_id", "category", "country"]).aggregate([("quantity", "sum")])
    messages = billed.lake.read("silver.messages")
    sent_in_september = pc.and_(
        pc.greater_equal(messages["sent_at"], pa.scalar(datetime(2026, 9, 1, tzinfo=timezone.utc))),
        pc.less(messages["sent_at"], pa.scalar(datetime(2026, 10, 1, tzinfo=timezone.utc))),
    )
    delivered = messages.filter(
        pc.and_(sent_in_september, pc.is_in(messages["status"], pa.array(["delivered", "read"])))
    )
    counted = delivered.group_by(["client_id", "category", "country"]).aggregate([("message_id", "count")])
    assert sorted(billed_units.to_pylist(), key=str) == sorted(
        [
            {
                "client_id": r["client_id"],
                "category": r["category"],
                "country": r["country"],
                "quantity_sum": r["message_id_count"],
            }
            for r in counted.to_pylist()
        ],
        key=str,
    )


def test_a_month_not_complete_is_refused_unless_forced_and_then_marked_provisional(billed: Billed):
    with pytest.raises(LedgerError, match="2026-10 is not complete yet"):
        draft_month(billed.settings, OCTOBER, now=NOW)

    run = draft_month(billed.settings, OCTOBER, force=True, now=NOW)

    assert run.provisional and run.documents == 12
    with pytest.raises(LedgerError, match="provisional"):
        issue_month(billed.settings, OCTOBER, now=NOW)


def test_issuing_moves_the_drafts_into_the_ledger_and_a_later_run_leaves_them_alone(billed: Billed):
    draft_month(billed.settings, SEPTEMBER, now=NOW)

    issued = issue_month(billed.settings, SEPTEMBER, now=NOW)
    again = draft_month(billed.settings, SEPTEMBER, now=NOW)

    ledger = billed.lake.read("gold.invoices")
    assert issued.documents == ledger.num_rows == 12
    assert set(ledger["status"].to_pylist()) == {"issued"} and set(ledger["kind"].to_pylist()) == {"invoice"}
    assert again.documents == 0 and len(again.skipped) == 12
    assert billed.lake.read("gold.invoice_drafts").num_rows == 0


def _adjustment_lines(lines: pa.Table) -> dict[tuple, tuple[int, int, Decimal]]:
    return {
        (r["client_id"], r["category"], r["country"], r["tier"]): (r["quantity"], r["free_quantity"], r["amount"])
        for r in lines.to_pylist()
    }


def _differences(old: pa.Table, new: pa.Table) -> dict[tuple, tuple[int, int, Decimal]]:
    """New minus old per (client, category, country, tier), where anything moved: the expected note lines."""
    diff: dict[tuple, list] = {}
    for sign, rows in ((-1, old), (1, new)):
        for r in rows.to_pylist():
            d = diff.setdefault((r["client_id"], r["category"], r["country"], r["tier"]), [0, 0, Decimal("0.00")])
            d[0] += sign * r["quantity"]
            d[1] += sign * r["free_quantity"]
            d[2] += sign * r["amount"]
    return {k: tuple(v) for k, v in diff.items() if any(v)}


def _changed_prices(billed: Billed, folder: Path) -> Path:
    """The same rate card with marketing dearer and utility cheaper in every period."""
    text = billed.rates.read_text()
    blocks = text.split("[[period.price]]")
    for i, block in enumerate(blocks):
        if 'category = "marketing"' in block:
            blocks[i] = re.sub(r'"0\.(\d+)"', lambda m: f'"{Decimal("0." + m.group(1)) + Decimal("0.0100")}"', block)
        elif 'category = "utility"' in block:
            blocks[i] = re.sub(
                r'"0\.(\d+)"', lambda m: f'"{(Decimal("0." + m.group(1)) / 2).quantize(Decimal("0.000001"))}"', block
            )
    path = folder / "rates-v2.toml"
    path.write_text("[[period.price]]".join(blocks))
    return path


def test_a_retroactive_price_change_issues_exactly_the_differences_as_notes_referencing_the_invoice(
    billed: Billed, tmp_path: Path
):
    draft_month(billed.settings, SEPTEMBER, now=NOW)
    issue_month(billed.settings, SEPTEMBER, now=NOW)
    before = billed.lake.read("gold.invoices").sort_by("invoice_id")
    new_rates = _changed_prices(billed, tmp_path)
    version, _ = store_rate_card(billed.lake, new_rates)

    runs = recalc(billed.settings, SEPTEMBER, now=NOW)

    old, old_lines = _expected(billed)
    new, new_lines = _expected(billed, rates=new_rates)
    ledger = billed.lake.read("gold.invoices").sort_by("invoice_id")
    notes = ledger.filter(pc.is_valid(ledger["references"]))
    expected_totals = {c: _money(new)[c][2] - o[2] for c, o in _money(old).items()}
    assert runs[0].documents == notes.num_rows == sum(1 for d in expected_totals.values() if d)
    assert notes.num_rows > 0  # the loop below checks something
    for note in notes.to_pylist():
        assert note["references"] == f"INV-2026-09-{note['client_id']}"
        assert note["invoice_id"] == f"INV-2026-09-{note['client_id']}-A1"
        assert note["total"] == expected_totals[note["client_id"]]
        assert note["kind"] == ("credit" if note["total"] < 0 else "debit")
        assert note["rate_card_version"] == version
    note_lines = billed.lake.read("gold.invoice_lines").filter(
        pc.is_in(billed.lake.read("gold.invoice_lines")["invoice_id"], notes["invoice_id"])
    )
    assert _adjustment_lines(note_lines) == _differences(old_lines, new_lines)
    assert ledger.filter(pc.is_null(ledger["references"])).equals(before)  # the invoices themselves never change
    assert recalc(billed.settings, SEPTEMBER, now=NOW)[0].documents == 0  # nothing moved since: nothing issued


def test_a_larger_discount_from_the_past_credits_each_client_the_difference(billed: Billed, tmp_path: Path):
    draft_month(billed.settings, SEPTEMBER, now=NOW)
    issue_month(billed.settings, SEPTEMBER, now=NOW)
    clients = tmp_path / "clients-v2.toml"
    clients.write_text(re.sub(r'discount_pct = "[\d.]+"', 'discount_pct = "20.00"', billed.clients.read_text()))
    store_clients(billed.lake, clients)

    recalc(billed.settings, SEPTEMBER, now=NOW)

    old, _ = _expected(billed)
    new, _ = _expected(billed, clients=clients)
    notes = billed.lake.read("gold.invoices").filter(pc.equal(billed.lake.read("gold.invoices")["kind"], "credit"))
    expected = {c: _money(new)[c][2] - o[2] for c, o in _money(old).items() if _money(new)[c][2] != o[2]}
    assert expected and {r["client_id"]: r["total"] for r in notes.to_pylist()} == expected
    assert all(total < 0 for total in expected.values())
