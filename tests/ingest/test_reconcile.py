"""Reconciliation: per branch and hour, source = gold + quarantine exactly, and differences are listed."""

from datetime import timedelta

import pyarrow.compute as pc
import sqlalchemy as sa

from almacen.domains.sales import reconcile
from almacen.models import build


def test_a_lived_day_reconciles_exactly_for_every_branch_and_hour(lived_day):
    chain = lived_day.chain
    result = reconcile(chain.settings, chain.at(0), chain.at(24))
    assert result.errors == {}
    assert result.ok
    for branch in ("palermo", "cordoba_centro"):
        rows = result.rows.filter(pc.equal(result.rows["branch_id"], branch))
        table, column = ("ventas", "fecha") if branch == "palermo" else ("tickets", "emitido_en")
        sold = chain.source(branch, f"SELECT count(*) FROM {table} WHERE {column} >= :a AND {column} < :b",
                            a=chain.hour_text(0), b=chain.hour_text(24))
        assert pc.sum(rows["source_tickets"]).as_py() == sold
        assert pc.sum(rows["quarantined_tickets"]).as_py() > 0


def test_a_change_at_the_source_that_bypassed_the_cursor_is_listed_as_a_difference(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    build(chain.settings)
    assert reconcile(chain.settings, chain.at(14), chain.at(15)).ok
    engine = sa.create_engine(chain.url("palermo"))
    with engine.begin() as con:
        sale = con.execute(sa.text("SELECT min(id_venta) FROM ventas WHERE estado = 'aprobada' AND fecha >= :a AND fecha < :b"),
                           {"a": chain.hour_text(14), "b": chain.hour_text(15)}).scalar_one()
        con.execute(sa.text("UPDATE ventas_items SET importe = importe + 100 WHERE id_venta = :s AND renglon = 1"), {"s": sale})
    engine.dispose()
    result = reconcile(chain.settings, chain.at(14), chain.at(15))
    assert not result.ok
    diff = result.differences.to_pylist()
    assert [(d["branch_id"], d["hour"], d["source_revenue"] - d["gold_revenue"] - d["quarantined_revenue"]) for d in diff] == [
        ("palermo", chain.at(14), 100)]


def test_the_reconciliation_is_recorded_in_the_lake(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    build(chain.settings)
    reconcile(chain.settings, chain.at(14), chain.at(15))
    reconcile(chain.settings, chain.at(14), chain.at(15))
    recorded = chain.read("_system.reconciliation")
    assert sorted(recorded["branch_id"].to_pylist()) == ["cordoba_centro", "palermo"]
    assert recorded["hour"].to_pylist() == [chain.at(14)] * 2
    assert chain.at(14) + timedelta(hours=1) == chain.at(15)
