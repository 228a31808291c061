"""A chain whose branches run PostgreSQL, MariaDB and SQLite: the same hour, the same guarantees."""

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.config import load_config
from almacen.domains.sales import reconcile
from almacen.ingest import extract
from almacen.models import build


def _plain(url: str) -> str:
    """The URL without its password: almacen takes passwords from the environment only."""
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


@pytest.fixture
def mixed(tmp_path, fresh_postgres_db, fresh_mariadb_db, monkeypatch, make_chain):
    monkeypatch.setenv("ALMACEN_TEST_PW", make_url(fresh_postgres_db).password)
    branches = [("palermo", fresh_postgres_db, "ventas"), ("cordoba_centro", fresh_mariadb_db, "tickets"),
                ("rosario", f"sqlite:///{tmp_path / 'rosario.sqlite'}", "ventas")]
    text = [f'lake = "{tmp_path / "lake"}"', "demo = true", "[catalog]", f'url = "{_plain(fresh_postgres_db)}"',
            'password_env = "ALMACEN_TEST_PW"']
    for bid, url, schema in branches:
        text += ["[[branches]]", f'id = "{bid}"', f'name = "{bid}"', 'city = "c"', 'province = "p"',
                 f'url = "{_plain(url)}"', f'pos_schema = "{schema}"']
        if not url.startswith("sqlite"):
            text.append('password_env = "ALMACEN_TEST_PW"')
    path = tmp_path / "almacen.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return make_chain(load_config(path))


def _count(url: str, sql: str, **params) -> int:
    engine = sa.create_engine(make_url(url).set(drivername={"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
                                                .get(make_url(url).drivername, make_url(url).drivername)))
    with engine.connect() as con:
        n = con.execute(sa.text(sql), params).scalar_one()
    engine.dispose()
    return n


@pytest.mark.postgres
@pytest.mark.mariadb
def test_an_hour_from_postgres_mariadb_and_sqlite_branches_lands_whole_and_reconciles(mixed, fresh_postgres_db,
                                                                                     fresh_mariadb_db):
    mixed.simulate(until_hour=16, bad_rows=0.02)
    runs = mixed.extract(14, 15)
    assert sorted((r.branch_id, r.status) for r in runs) == sorted(
        [(b, "ok") for b in ("palermo", "cordoba_centro", "rosario") for _ in range(2)])
    window = {"a": mixed.hour_text(14), "b": mixed.hour_text(16)}
    assert mixed.read("bronze.pos_tickets").num_rows == _count(
        fresh_mariadb_db, "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b", **window)
    ventas = mixed.read("bronze.pos_ventas")
    assert ventas.num_rows == _count(
        fresh_postgres_db, "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window) + _count(
        f"sqlite:///{mixed.settings.branch('rosario').url.removeprefix('sqlite:///')}",
        "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b", **window)
    assert ventas.schema.field("total").type == ventas.schema.field("total").type  # one bronze table for both readers
    build(mixed.settings)
    result = reconcile(mixed.settings, mixed.at(14), mixed.at(16))
    assert result.errors == {}
    assert result.ok
    assert sorted(set(result.rows["branch_id"].to_pylist())) == ["cordoba_centro", "palermo", "rosario"]


@pytest.mark.postgres
def test_an_unreachable_postgres_branch_is_named_and_the_others_complete(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    from almacen.config import Branch

    branches = [b if b.id != "palermo" else Branch(**{**b.model_dump(), "url": "postgresql://almacen@127.0.0.1:1/pos"})
                for b in mixed.settings.branches]
    runs = {r.branch_id: r for r in extract(mixed.settings.model_copy(update={"branches": branches}), [mixed.at(14)])}
    assert runs["palermo"].status == "failed"
    assert runs["palermo"].error.startswith(
        "branch palermo: cannot connect to postgresql://127.0.0.1:1/pos: host unreachable")
    assert runs["cordoba_centro"].status == runs["rosario"].status == "ok"


@pytest.mark.postgres
def test_wrong_postgres_credentials_are_named(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    monkeypatch.setenv("ALMACEN_TEST_PW", "not-the-password")
    from almacen.config import Branch

    # trust auth on loopback would accept any password: ask for a role that does not exist instead
    branches = [b if b.id != "palermo" else Branch(**{**b.model_dump(), "url": b.url.replace("almacen@", "intruso@")})
                for b in mixed.settings.branches]
    runs = {r.branch_id: r for r in extract(mixed.settings.model_copy(update={"branches": branches}), [mixed.at(14)])}
    assert runs["palermo"].status == "failed"
    assert "wrong credentials" in runs["palermo"].error


@pytest.mark.mariadb
def test_wrong_mariadb_credentials_are_named(mixed, monkeypatch):
    mixed.simulate(until_hour=15)
    from almacen.config import Branch

    monkeypatch.setenv("ALMACEN_WRONG_PW", "not-the-password")
    branches = [b if b.id != "cordoba_centro" else Branch(**{**b.model_dump(), "password_env": "ALMACEN_WRONG_PW"})
                for b in mixed.settings.branches]
    runs = {r.branch_id: r for r in extract(mixed.settings.model_copy(update={"branches": branches}), [mixed.at(14)])}
    assert runs["cordoba_centro"].status == "failed"
    assert runs["cordoba_centro"].error.startswith("branch cordoba_centro: cannot connect to mysql://127.0.0.1:53306/")
    assert "wrong credentials" in runs["cordoba_centro"].error
    assert runs["palermo"].status == "ok"
