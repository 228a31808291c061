"""A chain whose branches run PostgreSQL, MariaDB and SQLite: the same hour, the same guarantees."""

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.domains.sales import reconcile
from almacen.domains.sales import extract
from almacen.domains.sales import build


def _engine(url: str) -> sa.Engine:
    drivers = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
    return sa.create_engine(
        make_url(url).set(drivername=drivers.get(make_url(url).drivername, make_url(url).drivername))
    )


def _rows(url: str, sql: str, **params) -> list[sa.Row]:
    """Ask a source database directly, with its own driver: the independent side of every assertion."""
    engine = _engine(url)
    with engine.connect() as con:
        rows = con.execute(sa.text(sql), params).all()
    engine.dispose()
    return rows


def _count(url: str, sql: str, **params) -> int:
    return _rows(url, sql, **params)[0][0]


def _of(table: pa.Table, branch: str) -> pa.Table:
    return table.filter(pc.equal(table["branch_id"], branch))


# The `tickets` POS codes, written out here rather than read from almacen's pos_schemas/tickets.toml.
CHANNEL = {"T": "tienda", "W": "web", "A": "app"}
PAYMENT = {"EF": "efectivo", "TD": "debito", "TC": "credito", "QR": "mercado_pago_qr", "TR": "transferencia"}
STATUS = {"APR": "aprobada", "REC": "rechazada", "PEN": "pendiente", "ANU": "anulada"}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc)  # the tickets POS writes naive UTC times


@pytest.mark.postgres
@pytest.mark.mariadb
def test_an_hour_from_postgres_mariadb_and_sqlite_branches_lands_whole_and_reconciles(
    mixed, fresh_postgres_db, fresh_mariadb_db
):
    mixed.simulate(until_hour=16, bad_rows=0.02)
    runs = mixed.extract(14, 15)
    assert sorted((r.branch_id, r.status) for r in runs) == sorted(
        [(b, "ok") for b in ("palermo", "cordoba_centro", "rosario") for _ in range(2)]
    )
    window = {"a": mixed.hour_text(14), "b": mixed.hour_text(16)}
    tickets = _count(
        fresh_mariadb_db, "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b", **window
    )
    assert tickets > 0
    assert mixed.read("bronze.pos_tickets").num_rows == tickets
    # one bronze table for both readers (ConnectorX on PostgreSQL, SQLAlchemy on SQLite): every sale's total, exact
    ventas = mixed.read("bronze.pos_ventas")
    assert pa.types.is_decimal(ventas.schema.field("total").type)
    rosario = f"sqlite:///{mixed.settings.branch('rosario').url.removeprefix('sqlite:///')}"
    for branch, url in (("palermo", fresh_postgres_db), ("rosario", rosario)):
        source = dict(
            _rows(url, "SELECT id_venta, total FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window)
        )
        mine = _of(ventas, branch)
        assert len(source) > 0
        assert dict(zip(mine["id_venta"].to_pylist(), mine["total"].to_pylist())) == source, branch
    build(mixed.settings)
    result = reconcile(mixed.settings, mixed.at(14), mixed.at(16))
    assert result.errors == {}
    assert result.ok
    assert sorted(set(result.rows["branch_id"].to_pylist())) == ["cordoba_centro", "palermo", "rosario"]


@pytest.mark.postgres
@pytest.mark.mariadb
def test_coded_tickets_rows_reach_silver_one_by_one_as_the_source_has_them_decoded(
    mixed, fresh_postgres_db, fresh_mariadb_db
):
    mixed.simulate(until_hour=16, bad_rows=0.02)
    mixed.extract(14, 15)
    window = {"a": mixed.hour_text(14), "b": mixed.hour_text(16)}
    source = {
        str(r.ticket_nro): r
        for r in _rows(
            fresh_mariadb_db,
            "SELECT ticket_nro, emitido_en, modificado_en, origen, forma_pago, situacion, doc_cliente, "
            "importe_total FROM tickets WHERE modificado_en >= :a AND modificado_en < :b",
            **window,
        )
    }
    quarantined = _of(mixed.read("quarantine.sales"), "cordoba_centro")["sale_id"].to_pylist()
    assert len(set(quarantined)) == len(quarantined) and set(quarantined) <= set(source)
    expected = {
        nro: {
            "sold_at": _utc(r.emitido_en),
            "updated_at": _utc(r.modificado_en),
            "channel": CHANNEL[r.origen],
            "payment_type": PAYMENT[r.forma_pago],
            "status": STATUS[r.situacion],
            "has_customer": r.doc_cliente is not None,
            "total": r.importe_total,
        }
        for nro, r in source.items()
        if nro not in quarantined
    }
    assert len(expected) >= 10
    silver = _of(mixed.read("silver.sales_versions"), "cordoba_centro").to_pylist()
    assert {
        s["sale_id"]: {
            "sold_at": s["sold_at"],
            "updated_at": s["updated_at"],
            "channel": s["channel"],
            "payment_type": s["payment_type"],
            "status": s["status"],
            "has_customer": s["customer_key"] is not None,
            "total": s["total"],
        }
        for s in silver
    } == expected
    assert len(silver) == len(expected)  # one version each: no ticket twice

    product_of = dict(_rows(fresh_postgres_db, "SELECT sku, id_articulo FROM articulos"))
    lines = {
        (str(r.ticket_nro), r.linea): {
            "sku": r.cod_articulo,
            "product_id": product_of[r.cod_articulo],
            "quantity": r.unidades,
            "unit_price": r.precio,
            "amount": r.subtotal,
        }
        for r in _rows(
            fresh_mariadb_db,
            "SELECT l.ticket_nro, l.linea, l.cod_articulo, l.unidades, l.precio, "
            "l.subtotal FROM ticket_lineas l JOIN tickets t USING (ticket_nro) "
            "WHERE t.modificado_en >= :a AND t.modificado_en < :b",
            **window,
        )
    }
    landed = _of(mixed.read("silver.sales_lines_versions"), "cordoba_centro").to_pylist()
    line_quarantine = mixed.read("quarantine.sales_lines")
    kept_out = (
        set()
        if line_quarantine is None
        else {(q["sale_id"], q["line_no"]) for q in _of(line_quarantine, "cordoba_centro").to_pylist()}
    )
    assert {
        (x["sale_id"], x["line_no"]): {k: x[k] for k in ("sku", "product_id", "quantity", "unit_price", "amount")}
        for x in landed
    } == {k: v for k, v in lines.items() if k not in kept_out}
    assert len(landed) > len(expected)  # more lines than tickets: the check is not vacuous


@pytest.mark.postgres
def test_an_unreachable_postgres_branch_is_named_and_the_others_complete(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    from almacen.config import Branch

    branches = [
        b if b.id != "palermo" else Branch(**{**b.model_dump(), "url": "postgresql://almacen@127.0.0.1:1/pos"})
        for b in mixed.settings.branches
    ]
    runs = {r.branch_id: r for r in extract(mixed.settings.model_copy(update={"branches": branches}), [mixed.at(14)])}
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error.startswith(
        "branch palermo: cannot connect to postgresql://127.0.0.1:1/pos: host unreachable"
    )
    assert runs["cordoba_centro"].status == runs["rosario"].status == "ok"


def _palermo_with(settings, **changes):
    from almacen.config import Branch

    branches = [b if b.id != "palermo" else Branch(**{**b.model_dump(), **changes}) for b in settings.branches]
    return settings.model_copy(update={"branches": branches})


@pytest.mark.postgres
def test_wrong_postgres_credentials_are_named(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    monkeypatch.setenv("ALMACEN_WRONG_PW", "not-the-password")
    runs = {
        r.branch_id: r for r in extract(_palermo_with(mixed.settings, password_env="ALMACEN_WRONG_PW"), [mixed.at(14)])
    }
    assert runs["palermo"].status == "failed"
    where = mixed.url("palermo").replace("almacen@", "")
    assert runs["palermo"].error.startswith(f"branch palermo: cannot connect to {where}: wrong credentials (")
    assert 'password authentication failed for user "almacen"' in runs["palermo"].error
    assert "not-the-password" not in runs["palermo"].error
    assert runs["cordoba_centro"].status == runs["rosario"].status == "ok"


@pytest.mark.postgres
def test_a_postgres_branch_without_its_password_env_is_refused(mixed):
    """The server asks for a password over TCP (scripts/services): the one from password_env is what gets in."""
    mixed.simulate(until_hour=15)
    runs = {r.branch_id: r for r in extract(_palermo_with(mixed.settings, password_env=None), [mixed.at(14)])}
    assert runs["palermo"].status == "failed"
    where = mixed.url("palermo").replace("almacen@", "")
    assert runs["palermo"].error.startswith(f"branch palermo: cannot connect to {where}: wrong credentials (")
    assert "no password supplied" in runs["palermo"].error
    assert runs["cordoba_centro"].status == runs["rosario"].status == "ok"
    assert mixed.lake.transaction_version("silver.sales_versions", "almacen-extract:palermo") is None


@pytest.mark.mariadb
def test_wrong_mariadb_credentials_are_named(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    from almacen.config import Branch

    monkeypatch.setenv("ALMACEN_WRONG_PW", "not-the-password")
    branches = [
        b if b.id != "cordoba_centro" else Branch(**{**b.model_dump(), "password_env": "ALMACEN_WRONG_PW"})
        for b in mixed.settings.branches
    ]
    runs = {r.branch_id: r for r in extract(mixed.settings.model_copy(update={"branches": branches}), [mixed.at(14)])}
    assert runs["cordoba_centro"].status == "failed"
    assert runs["cordoba_centro"].error.startswith("branch cordoba_centro: cannot connect to mysql://127.0.0.1:53306/")
    assert "wrong credentials" in runs["cordoba_centro"].error
    assert runs["palermo"].status == "ok"
