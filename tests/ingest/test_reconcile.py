"""Reconciliation: per branch and hour, source = gold + quarantine exactly, and differences are listed."""

from decimal import Decimal

import pyarrow.compute as pc
import sqlalchemy as sa

from almacen.domains.sales import reconcile
from almacen.domains.sales import build

HEADERS = {
    "palermo": ("ventas", "fecha", "estado = 'aprobada'", "ventas_items", "importe", "id_venta"),
    "cordoba_centro": ("tickets", "emitido_en", "situacion = 'APR'", "ticket_lineas", "subtotal", "ticket_nro"),
}
"""per branch of the test chain: its POS's header table, sale time, approved test, lines, amount and key"""


def _sold(chain, branch: str, a: int, b: int, approved: bool = False) -> int:
    table, sold, ok, *_ = HEADERS[branch]
    return chain.source(
        branch,
        f"SELECT count(*) FROM {table} WHERE {sold} >= :a AND {sold} < :b" + (f" AND {ok}" if approved else ""),
        a=chain.hour_text(a),
        b=chain.hour_text(b),
    )


def _revenue(chain, branch: str, a: int, b: int) -> Decimal:
    table, sold, ok, lines, amount, key = HEADERS[branch]
    return Decimal(
        str(
            chain.source(
                branch,
                f"SELECT sum(l.{amount}) FROM {lines} l JOIN {table} t ON t.{key} = l.{key} "
                f"WHERE t.{sold} >= :a AND t.{sold} < :b AND t.{ok}",
                a=chain.hour_text(a),
                b=chain.hour_text(b),
            )
        )
    ).quantize(Decimal("0.01"))


def test_a_lived_day_reconciles_exactly_for_every_branch_and_hour(lived_day):
    chain = lived_day.chain
    result = reconcile(chain.settings, chain.at(0), chain.at(24))
    assert result.errors == {}
    assert result.ok
    assert sorted(set(result.rows["branch_id"].to_pylist())) == ["cordoba_centro", "palermo"]
    assert set(result.rows["differs"].to_pylist()) == {""}
    assert result.rows["slices"].to_pylist() == [[]] * result.rows.num_rows
    for branch in ("palermo", "cordoba_centro"):
        rows = result.rows.filter(pc.equal(result.rows["branch_id"], branch))
        assert pc.sum(rows["source_tickets"]).as_py() == _sold(chain, branch, 0, 24)
        assert pc.sum(rows["source_approved"]).as_py() == _sold(chain, branch, 0, 24, approved=True)
        assert pc.sum(rows["source_revenue"]).as_py() == _revenue(chain, branch, 0, 24)
        # headers the gate quarantined: the simulator's payment defects (a future sale time is outside the day)
        defects = lived_day.defects[branch]
        assert pc.sum(rows["quarantined_tickets"]).as_py() == defects.get("unknown_payment", 0) + defects.get(
            "null_payment", 0
        )


def test_a_change_at_the_source_that_bypassed_the_cursor_is_listed_as_a_difference(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    build(chain.settings)
    assert reconcile(chain.settings, chain.at(14), chain.at(15)).ok
    engine = sa.create_engine(chain.url("palermo"))
    with engine.begin() as con:
        sale = con.execute(
            sa.text("SELECT min(id_venta) FROM ventas WHERE estado = 'aprobada' AND fecha >= :a AND fecha < :b"),
            {"a": chain.hour_text(14), "b": chain.hour_text(15)},
        ).scalar_one()
        con.execute(
            sa.text("UPDATE ventas_items SET importe = importe + 100 WHERE id_venta = :s AND renglon = 1"), {"s": sale}
        )
    engine.dispose()
    result = reconcile(chain.settings, chain.at(14), chain.at(15))
    assert not result.ok
    diff = result.differences.to_pylist()
    assert [
        (
            d["branch_id"],
            d["hour"],
            d["source_revenue"] - d["gold_revenue"] - d["quarantined_revenue"],
            d["differs"],
            d["slices"],
        )
        for d in diff
    ] == [("palermo", chain.at(14), 100, "approved revenue, checksum", [chain.at(14)])]
    assert result.slices == [("palermo", chain.at(14))]


def test_the_reconciliation_is_recorded_in_the_lake(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    build(chain.settings)
    reconcile(chain.settings, chain.at(14), chain.at(15))
    second = reconcile(chain.settings, chain.at(14), chain.at(15))
    recorded = chain.read("_system.reconciliation").sort_by("branch_id")
    # the second run replaced the first one's rows for the same branches and hour
    assert recorded["branch_id"].to_pylist() == ["cordoba_centro", "palermo"]
    assert recorded["hour"].to_pylist() == [chain.at(14)] * 2
    assert recorded["checked_at"].to_pylist() == second.rows.sort_by("branch_id")["checked_at"].to_pylist()
    assert recorded["source_tickets"].to_pylist() == [
        _sold(chain, "cordoba_centro", 14, 15),
        _sold(chain, "palermo", 14, 15),
    ]
    assert recorded["ok"].to_pylist() == [True, True]
