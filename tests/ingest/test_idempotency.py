"""Re-running an hour replaces that (branch, hour) slice: never a duplicate."""


def _counts(chain) -> dict[str, int]:
    tables = (
        "bronze.pos_ventas",
        "bronze.pos_ventas_items",
        "bronze.pos_tickets",
        "bronze.pos_ticket_lineas",
        "silver.sales_versions",
        "silver.sales_lines_versions",
        "quarantine.sales",
        "quarantine.sales_lines",
    )
    return {t: chain.read(t).num_rows for t in tables}


def test_rerunning_an_hour_leaves_exactly_the_same_rows(chain):
    chain.simulate(until_hour=16, bad_rows=0.05)
    chain.extract(14, 15)
    first = _counts(chain)
    chain.extract(14)
    chain.extract(14, 15)
    assert _counts(chain) == first


def test_rerunning_after_the_source_changed_replaces_the_slice_with_the_new_rows(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    window = {"a": chain.hour_text(14), "b": chain.hour_text(15)}
    engine_url = chain.url("palermo")
    import sqlalchemy as sa

    engine = sa.create_engine(engine_url)
    with engine.begin() as con:
        victim = con.execute(
            sa.text("SELECT min(id_venta) FROM ventas WHERE actualizado >= :a AND actualizado < :b"), window
        ).scalar_one()
        con.execute(sa.text("DELETE FROM ventas_items WHERE id_venta = :v"), {"v": victim})
        con.execute(sa.text("DELETE FROM ventas WHERE id_venta = :v"), {"v": victim})
    engine.dispose()
    chain.extract(14)
    expected = chain.source(
        "palermo", "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window
    )
    bronze = chain.read("bronze.pos_ventas")
    assert bronze.num_rows == expected
    assert victim not in bronze["id_venta"].to_pylist()


def test_the_run_records_of_a_rerun_are_added_not_replaced(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    chain.extract(14)
    runs = chain.read("_system.runs")
    assert runs.num_rows == 4
    assert len(set(runs["run_id"].to_pylist())) == 4
