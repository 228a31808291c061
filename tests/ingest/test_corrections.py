"""Back-office corrections: reconciliation finds every one the simulator's ledger holds, names the slice
to re-extract (the hour of the sale's cursor, not of the sale), and `--fix` repairs exactly that."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from almacen.cli import app
from almacen.config import load_config
from almacen.domains.sales import reconcile
from almacen.domains.sales.reconcile import fix
from almacen.domains.sales import build
from almacen.simulate import build_catalog, demo_config
from almacen.simulate.corrections import correct_amount, corrections, swap_product
from tests.ingest.conftest import Chain


def _loaded(chain) -> None:
    chain.simulate(until_hour=17)
    chain.extract(14, 15, 16)
    build(chain.settings)
    assert reconcile(chain.settings, chain.at(14), chain.at(17)).ok


def _differences(result) -> list[tuple]:
    return [(d["branch_id"], d["hour"], d["differs"], d["slices"]) for d in result.differences.to_pylist()]


def _gold_line(chain, branch: str, sale_id: int, line_no: int) -> dict:
    lines = chain.read("gold.fact_sales_lines")
    mask = pc.and_(
        pc.and_(pc.equal(lines["branch_id"], branch), pc.equal(lines["sale_id"], str(sale_id))),
        pc.equal(lines["line_no"], line_no),
    )
    [row] = lines.filter(mask).to_pylist()
    return row


def test_a_product_swapped_at_the_same_price_without_moving_the_cursor_fails_on_checksum_and_fix_repairs_it(
    chain, tmp_path
):
    _loaded(chain)
    swap = swap_product(chain.settings, "cordoba_centro", chain.at(14))
    assert corrections(chain.settings, "cordoba_centro") == [swap]
    assert (swap.kind, swap.line_no, swap.cursor_after) == ("product_swap", 1, swap.cursor_before)
    catalog = {p.sku: p for p in build_catalog()}
    old, new = catalog[swap.before], catalog[swap.after]
    assert new.price == old.price and new.category != old.category  # category revenue in gold is now wrong
    assert _gold_line(chain, "cordoba_centro", swap.sale_id, 1)["product_id"] == old.product_id

    result = reconcile(chain.settings, chain.at(14), chain.at(17))
    # counts and revenue still agree: only the checksum sees it, and the slice is the sale's cursor hour
    assert _differences(result) == [("cordoba_centro", chain.at(14), "checksum", [swap.cursor_hour])]

    cli = CliRunner().invoke(
        app, ["reconcile", "--hour", "2026-11-23T14", "--fix", "-c", str(tmp_path / "almacen.toml")]
    )
    assert cli.exit_code == 0, cli.output
    [line] = [x for x in cli.output.splitlines() if x.startswith("difference")]
    assert line.startswith("difference cordoba_centro 2026-11-23T14: checksum ")
    assert line.endswith(f"; re-extract branch:cordoba_centro:{swap.cursor_hour:%Y-%m-%dT%H}")
    assert _gold_line(chain, "cordoba_centro", swap.sale_id, 1)["product_id"] == new.product_id
    assert reconcile(chain.settings, chain.at(14), chain.at(17)).ok


def test_an_amount_corrected_with_the_cursor_moved_names_the_later_slice_and_fix_extracts_only_it(chain):
    _loaded(chain)
    moved_to = chain.at(16) + timedelta(minutes=30)
    correction = correct_amount(chain.settings, "palermo", chain.at(14), at=moved_to, discount=Decimal("100.00"))
    assert corrections(chain.settings, "palermo") == [correction]
    assert correction.cursor_before < chain.at(15) and correction.cursor_hour == chain.at(16)
    assert Decimal(correction.before) - Decimal(correction.after) == Decimal("100.00")

    result = reconcile(chain.settings, chain.at(14), chain.at(17))
    # the hour of sale differs; the slice to re-extract is the cursor's hour, extracted before the correction
    assert _differences(result) == [("palermo", chain.at(14), "approved revenue, checksum", [chain.at(16)])]
    [d] = result.differences.to_pylist()
    assert d["source_revenue"] - d["gold_revenue"] - d["quarantined_revenue"] == Decimal("-100.00")

    repaired = fix(chain.settings, result, chain.at(14), chain.at(17))
    assert [(r.branch_id, r.window_start, r.status) for r in repaired.runs] == [("palermo", chain.at(16), "ok")]
    assert repaired.after.ok
    assert _gold_line(chain, "palermo", correction.sale_id, 1)["amount"] == Decimal(correction.after)


def test_reconcile_without_fix_exits_1_and_changes_nothing(chain, tmp_path):
    _loaded(chain)
    swap = swap_product(chain.settings, "palermo", chain.at(15))
    runs_before = chain.read("_system.runs").num_rows
    cli = CliRunner().invoke(app, ["reconcile", "--hour", "2026-11-23T15", "-c", str(tmp_path / "almacen.toml")])
    assert cli.exit_code == 1
    assert [x for x in cli.output.splitlines() if x.startswith("difference")][0].endswith(
        f"; re-extract branch:palermo:{swap.cursor_hour:%Y-%m-%dT%H}"
    )
    assert chain.read("_system.runs").num_rows == runs_before
    assert _gold_line(chain, "palermo", swap.sale_id, 1)["product_id"] == int(swap.before)


@pytest.mark.spark
def test_spark_reconciles_corrections_exactly_as_duckdb(chain, spark_engine, spark_settings):
    """The same differences, measures, checksums and slices from reconcile.sql on both engines."""
    _loaded(chain)
    swap = swap_product(chain.settings, "cordoba_centro", chain.at(14))
    amount = correct_amount(chain.settings, "palermo", chain.at(15), at=chain.at(16) + timedelta(minutes=45))
    on_duckdb = reconcile(chain.settings, chain.at(14), chain.at(17))
    on_spark = reconcile(
        chain.settings.model_copy(update={"engine": "spark", "spark": spark_settings}), chain.at(14), chain.at(17)
    )
    assert _differences(on_duckdb) == [
        ("cordoba_centro", chain.at(14), "checksum", [swap.cursor_hour]),
        ("palermo", chain.at(15), "approved revenue, checksum", [amount.cursor_hour]),
    ]
    assert on_spark.rows.schema == on_duckdb.rows.schema
    assert (
        on_spark.rows.drop_columns(["checked_at"]).to_pylist()
        == on_duckdb.rows.drop_columns(["checked_at"]).to_pylist()
    )


def test_a_local_time_pos_is_read_on_its_own_clock_and_names_the_utc_slice(tmp_path):
    """cordoba_centro's POS writes Buenos Aires time (UTC-3): the control is asked for its local window and
    the slice named is the UTC hour of the corrected cursor."""
    cfg = demo_config(tmp_path, branches=2)
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace(
            'pos_schema = "tickets"', 'pos_schema = "tickets"\ntimezone = "America/Argentina/Buenos_Aires"'
        ),
        encoding="utf-8",
    )
    chain = Chain(load_config(cfg))
    _loaded(chain)
    correction = correct_amount(chain.settings, "cordoba_centro", chain.at(14), at=chain.at(16) + timedelta(minutes=20))
    written = chain.source(
        "cordoba_centro", "SELECT modificado_en FROM tickets WHERE ticket_nro = :n", n=correction.sale_id
    )
    assert str(written).startswith("2026-11-23 13:20:00")  # 16:20 UTC on the branch's clock
    result = reconcile(chain.settings, chain.at(14), chain.at(17))
    assert _differences(result) == [("cordoba_centro", chain.at(14), "approved revenue, checksum", [chain.at(16)])]
    repaired = fix(chain.settings, result, chain.at(14), chain.at(17))
    assert [(r.branch_id, r.window_start) for r in repaired.runs] == [("cordoba_centro", chain.at(16))]
    assert repaired.after.ok
