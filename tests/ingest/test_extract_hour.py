"""Extracting one hour: exactly the source rows of that cut, tagged with their lineage."""

from datetime import datetime, timezone

import pyarrow.compute as pc


def test_an_hour_lands_in_bronze_with_exactly_the_rows_whose_cursor_falls_in_it(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    window = {"a": chain.hour_text(14), "b": chain.hour_text(15)}
    ventas = chain.source(
        "palermo", "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window
    )
    items = chain.source(
        "palermo",
        "SELECT count(*) FROM ventas_items i JOIN ventas v USING (id_venta) "
        "WHERE v.actualizado >= :a AND v.actualizado < :b",
        **window,
    )
    tickets = chain.source(
        "cordoba_centro", "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b", **window
    )
    assert ventas > 0 and tickets > 0
    assert chain.read("bronze.pos_ventas").num_rows == ventas
    assert chain.read("bronze.pos_ventas_items").num_rows == items
    assert chain.read("bronze.pos_tickets").num_rows == tickets


def test_every_bronze_row_carries_branch_cutoff_batch_and_a_source_without_credentials(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    bronze = chain.read("bronze.pos_ventas")
    assert set(bronze["branch_id"].to_pylist()) == {"palermo"}
    assert set(bronze["_batch_id"].to_pylist()) == {"branch:palermo:2026-11-23T14"}
    assert set(bronze["_cutoff"].to_pylist()) == {datetime(2026, 11, 23, 15, tzinfo=timezone.utc)}
    assert set(bronze["_source"].to_pylist()) == {"sqlite:palermo.sqlite"}
    assert pc.all(pc.is_valid(bronze["_ingested_at"])).as_py()


def test_each_branch_hour_gets_a_run_record_whose_counts_add_up(chain):
    chain.simulate(until_hour=15, bad_rows=0.05)
    records = chain.extract(13, 14)
    runs = chain.read("_system.runs").to_pylist()
    assert sorted((r["branch_id"], r["window_start"].hour, r["status"]) for r in runs) == [
        ("cordoba_centro", 13, "ok"),
        ("cordoba_centro", 14, "ok"),
        ("palermo", 13, "ok"),
        ("palermo", 14, "ok"),
    ]
    for r in runs:
        assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"]
    assert sum(r.rows_read for r in records) == sum(
        t.num_rows
        for t in (
            chain.read("bronze.pos_ventas"),
            chain.read("bronze.pos_ventas_items"),
            chain.read("bronze.pos_tickets"),
            chain.read("bronze.pos_ticket_lineas"),
        )
    )


def test_customers_are_pseudonymised_from_silver_on(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    versions = chain.read("silver.sales_versions")
    assert "customer_id" not in versions.column_names
    dnis = set(chain.read("bronze.pos_ventas")["cliente_dni"].drop_null().to_pylist())
    keys = set(versions["customer_key"].drop_null().to_pylist())
    assert dnis and keys and not dnis & keys
    assert all(len(k) == 32 for k in keys)


def test_tickets_codes_and_skus_are_conformed_to_almacen_values(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    sales = chain.read("silver.sales_versions").filter(
        pc.equal(chain.read("silver.sales_versions")["branch_id"], "cordoba_centro")
    )
    assert sales.num_rows > 0
    assert set(sales["channel"].to_pylist()) <= {"tienda", "web", "app"}
    assert set(sales["status"].to_pylist()) <= {"aprobada", "rechazada", "pendiente", "anulada"}
    assert "aprobada" in sales["status"].to_pylist()
    lines = chain.read("silver.sales_lines_versions")
    lines = lines.filter(pc.equal(lines["branch_id"], "cordoba_centro"))
    assert lines.num_rows > 0 and pc.all(pc.is_valid(lines["product_id"])).as_py()


def test_each_branch_high_water_mark_commits_with_the_data_as_a_delta_transaction(chain):
    chain.simulate(until_hour=16)
    chain.extract(15)
    chain.extract(13)  # a catch-up of an older hour never moves the mark back
    hours_since_epoch = int(chain.at(16).timestamp()) // 3600
    assert chain.lake.transaction_version("silver.sales_versions", "almacen-extract:palermo") == hours_since_epoch
    assert (
        chain.lake.transaction_version("silver.sales_versions", "almacen-extract:cordoba_centro") == hours_since_epoch
    )
