"""The simulated chain: deterministic, incremental, realistic enough to test the pipeline on."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from almacen.config import load_config
from almacen.simulate import build_catalog, demo_config, plan_day, simulate_chain
from almacen.simulate.customers import build_customers

DAY = date(2026, 11, 23)


def _rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as con:
        rows = [tuple(r) for r in con.execute(sa.text(sql))]
    engine.dispose()
    return rows


def _settings(folder):
    return load_config(demo_config(folder, branches=2))


def test_the_same_seed_writes_the_same_rows(tmp_path):
    a, b = _settings(tmp_path / "a"), _settings(tmp_path / "b")
    simulate_chain(a, DAY, scale=0.05)
    simulate_chain(b, DAY, scale=0.05)
    for branch, table in (("palermo", "ventas"), ("cordoba_centro", "ticket_lineas")):
        query = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert _rows(a.branch(branch).url, query) == _rows(b.branch(branch).url, query)


def test_a_day_applied_hour_by_hour_equals_the_day_applied_at_once(tmp_path):
    hourly, whole = _settings(tmp_path / "h"), _settings(tmp_path / "w")
    for hour in range(1, 25):
        simulate_chain(hourly, DAY, until=datetime(2026, 11, 23, hour) if hour < 24 else None, scale=0.05)
    simulate_chain(whole, DAY, scale=0.05)
    query = "SELECT id_venta, actualizado, estado, total FROM ventas ORDER BY id_venta"
    assert _rows(hourly.branch("palermo").url, query) == _rows(whole.branch("palermo").url, query)


def test_simulating_again_up_to_the_same_time_changes_nothing(tmp_path):
    settings = _settings(tmp_path)
    first = simulate_chain(settings, DAY, until=datetime(2026, 11, 23, 15), scale=0.05)
    again = simulate_chain(settings, DAY, until=datetime(2026, 11, 23, 15), scale=0.05)
    assert first.branches["palermo"].sales > 0
    assert again.branches["palermo"].sales == again.branches["palermo"].updates == 0


def test_pending_sales_settle_hours_later_with_a_later_updated_at(tmp_path):
    settings = _settings(tmp_path)
    simulate_chain(settings, DAY, until=datetime(2026, 11, 24, 8), scale=0.2)
    rows = _rows(
        settings.branch("palermo").url, "SELECT fecha, actualizado, estado FROM ventas WHERE actualizado > fecha"
    )
    assert rows and all(estado in ("aprobada", "rechazada", "anulada") for _, _, estado in rows)
    assert all(
        (datetime.fromisoformat(str(u)) - datetime.fromisoformat(str(f))).total_seconds() >= 3600 for f, u, _ in rows
    )


def test_header_totals_are_the_sum_of_their_lines(tmp_path):
    settings = _settings(tmp_path)
    simulate_chain(settings, DAY, scale=0.05)
    mismatched = _rows(
        settings.branch("cordoba_centro").url,
        "SELECT t.ticket_nro FROM tickets t JOIN ticket_lineas l USING (ticket_nro) "
        "GROUP BY t.ticket_nro, t.importe_total HAVING abs(t.importe_total - sum(l.subtotal)) > 0.001",
    )
    assert mismatched == []


def test_bad_rows_of_each_kind_appear_only_when_asked_for():
    products, customers = list(build_catalog()), list(build_customers())
    clean = plan_day("palermo", DAY, products, customers, bad_rows=0.0)
    spoiled = plan_day("palermo", DAY, products, customers, bad_rows=0.01)
    assert [s.defect for s in clean if s.defect] == []
    kinds = {s.defect for s in spoiled if s.defect}
    assert kinds == {"negative_quantity", "unknown_product", "unknown_payment", "future_sold_at", "duplicate_line"}


def test_the_catalog_has_two_thousand_skus_with_ars_prices_in_categories():
    catalog = build_catalog()
    assert len(catalog) == 2000
    assert len({p.sku for p in catalog}) == 2000
    assert {"Almacén", "Bebidas", "Lácteos", "Electro"} <= {p.category for p in catalog}
    assert all(p.price > Decimal("0") and p.price == p.price.quantize(Decimal("0.01")) for p in catalog)


def test_stores_sell_in_opening_hours_and_saturday_outsells_sunday():
    products, customers = list(build_catalog()), list(build_customers())
    saturday = plan_day("palermo", date(2026, 11, 21), products, customers, bad_rows=0)
    sunday = plan_day("palermo", date(2026, 11, 22), products, customers, bad_rows=0)
    assert len(saturday) > len(sunday)
    store_hours_utc = {(h + 3) % 24 for h in range(9, 21)}
    assert any(s.channel == "tienda" for s in saturday)
    assert all(s.sold_at.hour in store_hours_utc for s in saturday if s.channel == "tienda")


def _zoned(folder, zone: str):
    """The two-branch demo chain with both POS on the clock of `zone`."""
    settings = _settings(folder)
    return settings.model_copy(
        update={"branches": [b.model_copy(update={"timezone": zone}) for b in settings.branches]}
    )


def test_a_branch_with_a_timezone_writes_its_pos_times_on_that_clock(tmp_path):
    utc, local = _settings(tmp_path / "u"), _zoned(tmp_path / "l", "America/Argentina/Buenos_Aires")
    for settings in (utc, local):
        simulate_chain(settings, DAY, until=datetime(2026, 11, 23, 8), scale=0.05)
    query = "SELECT id_venta, fecha, actualizado FROM ventas ORDER BY id_venta"
    as_utc, as_local = (
        [
            (i, datetime.fromisoformat(str(f)), datetime.fromisoformat(str(u)))
            for i, f, u in _rows(s.branch("palermo").url, query)
        ]
        for s in (utc, local)
    )
    assert len(as_utc) == len(as_local) == 12
    assert as_local == [(i, f - timedelta(hours=3), u - timedelta(hours=3)) for i, f, u in as_utc]
    assert as_local[0][2] == datetime(2026, 11, 22, 21, 23, 52)  # 00:23:52 UTC on the 23rd


def test_the_repeated_hour_is_written_twice_on_a_clock_that_falls_back(tmp_path):
    day = date(2026, 11, 1)  # New York: 06:00 UTC is 02:00 EDT -> 01:00 EST
    utc, local = _settings(tmp_path / "u"), _zoned(tmp_path / "l", "America/New_York")
    for settings in (utc, local):
        simulate_chain(settings, day, until=datetime(2026, 11, 1, 8), scale=1.0)
    query = "SELECT id_venta, actualizado FROM ventas ORDER BY id_venta"
    pairs = list(zip(_rows(utc.branch("palermo").url, query), _rows(local.branch("palermo").url, query)))
    by_hour = {}
    for (_, u), (_, w) in pairs:
        u, w = datetime.fromisoformat(str(u)), datetime.fromisoformat(str(w))
        by_hour.setdefault(u.hour, set()).add(w.hour)
    assert by_hour[4] == {0} and by_hour[7] == {2}
    assert by_hour[5] == by_hour[6] == {1}  # EDT 01:xx, then EST 01:xx again
