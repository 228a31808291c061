"""Bad input: each problem gets a message naming branch, table and column; the other branches go on."""

import pyarrow.compute as pc
import sqlalchemy as sa


def _exec(chain, branch_id: str, *statements: str, **params) -> None:
    engine = sa.create_engine(chain.url(branch_id))
    with engine.begin() as con:
        for statement in statements:
            con.execute(sa.text(statement), params)
    engine.dispose()


def _first_sale(chain, hour: int) -> int:
    return chain.source(
        "palermo",
        "SELECT min(id_venta) FROM ventas WHERE actualizado >= :a AND actualizado < :b",
        a=chain.hour_text(hour),
        b=chain.hour_text(hour + 1),
    )


def _by_branch(records):
    return {r.branch_id: r for r in records}


def test_a_missing_table_fails_that_branch_only_and_writes_nothing_of_it(chain):
    chain.simulate(until_hour=15)
    _exec(chain, "palermo", "DROP TABLE ventas_items")
    runs = _by_branch(chain.extract(14))
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error.startswith(
        "branch palermo: table ventas_items: cannot read from sqlite:palermo.sqlite: missing table (no such table: ventas_items"
    )
    assert runs["cordoba_centro"].status == "ok"
    assert chain.lake.read("bronze.pos_ventas") is None
    assert chain.read("bronze.pos_tickets").num_rows > 0


def test_a_missing_cursor_column_is_named(chain):
    chain.simulate(until_hour=15)
    _exec(chain, "palermo", "ALTER TABLE ventas RENAME COLUMN actualizado TO modificado")
    runs = _by_branch(chain.extract(14))
    assert runs["palermo"].error.startswith(
        "branch palermo: table ventas: cannot read from sqlite:palermo.sqlite: missing column (no such column: actualizado"
    )


def test_a_value_of_the_wrong_type_refuses_the_slice_naming_table_and_column(chain):
    chain.simulate(until_hour=15)
    chain.extract(13)
    sale = _first_sale(chain, 14)
    _exec(chain, "palermo", "UPDATE ventas_items SET cantidad = 'dos' WHERE id_venta = :s", s=sale)
    runs = _by_branch(chain.extract(14))
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error == (
        "branch palermo: table ventas_items changed column type at the source: cantidad (int64 -> string); "
        "slice not loaded (declare the new type in the bronze table or fix the source)"
    )
    assert runs["cordoba_centro"].status == "ok"


def test_a_null_in_a_required_column_is_quarantined(chain):
    chain.simulate(until_hour=15)
    sale = _first_sale(chain, 14)
    _exec(chain, "palermo", "UPDATE ventas SET medio_pago = NULL WHERE id_venta = :s", s=sale)
    chain.extract(14)
    q = chain.read("quarantine.sales")
    assert q.select(["sale_id", "_rule", "_reason"]).to_pylist() == [
        {"sale_id": str(sale), "_rule": "not_null:payment_type", "_reason": "payment_type is null"}
    ]


def test_text_that_is_not_utf8_is_quarantined_naming_the_column(chain):
    chain.simulate(until_hour=15)
    sale = _first_sale(chain, 14)
    _exec(chain, "palermo", "UPDATE ventas SET cliente_nombre = CAST(X'4EF1657A' AS TEXT) WHERE id_venta = :s", s=sale)
    runs = _by_branch(chain.extract(14))
    assert runs["palermo"].status == "ok"
    q = chain.read("quarantine.sales")
    assert q.select(["sale_id", "_rule", "_reason"]).to_pylist() == [
        {
            "sale_id": str(sale),
            "_rule": "utf8",
            "_reason": "cliente_nombre not valid UTF-8 text at the source (see _raw)",
        }
    ]


def test_a_cursor_that_goes_backwards_is_quarantined_not_applied(chain):
    chain.simulate(until_hour=15)
    chain.extract(14)
    sale = _first_sale(chain, 14)
    status = chain.source("palermo", "SELECT estado FROM ventas WHERE id_venta = :s", s=sale)
    assert status != "anulada"
    _exec(
        chain,
        "palermo",
        "UPDATE ventas SET estado = 'anulada', actualizado = :t WHERE id_venta = :s",
        s=sale,
        t=chain.hour_text(13),
    )
    chain.extract(13)
    q = chain.read("quarantine.sales")
    assert q.filter(pc.equal(q["sale_id"], str(sale)))["_rule"].to_pylist() == ["not_before:updated_at"]
    versions = chain.read("silver.sales_versions")
    assert versions.filter(pc.equal(versions["sale_id"], str(sale)))["status"].to_pylist() == [status]  # as first read


def test_a_missing_pseudonym_key_stops_extraction_before_reading(chain, monkeypatch):
    import pytest

    from almacen.config import ConfigError

    monkeypatch.delenv("ALMACEN_PSEUDONYM_KEY", raising=False)
    settings = chain.settings.model_copy(update={"demo": False})
    from almacen.domains.sales import extract

    with pytest.raises(ConfigError, match="ALMACEN_PSEUDONYM_KEY is not set"):
        extract(settings, [chain.at(14)])
    assert chain.lake.read("_system.runs") is None


def test_a_query_template_that_returns_rows_outside_the_window_fails_instead_of_dropping_them(chain):
    from almacen.config import PosSchema

    chain.simulate(until_hour=15)
    ventas = chain.settings.schemas()["ventas"]
    wrong = ventas.tables["ventas"].model_copy(update={"query": "SELECT * FROM ventas WHERE :start <= :end"})
    schema = PosSchema(tables={**ventas.tables, "ventas": wrong})
    settings = chain.settings.model_copy(update={"pos_schemas": {"ventas": schema}})
    from almacen.domains.sales import extract

    runs = {r.branch_id: r for r in extract(settings, [chain.at(14)])}
    assert runs["palermo"].status == "failed"
    assert "rows whose actualizado is outside the hours asked for; check its query template" in runs["palermo"].error
