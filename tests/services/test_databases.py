"""The database services the suite relies on are real and usable."""

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.sources import connect


@pytest.mark.postgres
def test_a_fresh_postgres_database_round_trips_rows(fresh_postgres_db):
    engine = connect(fresh_postgres_db)
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE t (id INT PRIMARY KEY, total NUMERIC(14,2))"))
        con.execute(sa.text("INSERT INTO t VALUES (1, 10.50), (2, 0.25)"))
        assert str(con.execute(sa.text("SELECT sum(total) FROM t")).scalar_one()) == "10.75"
    engine.dispose()


@pytest.mark.mariadb
def test_a_fresh_mariadb_database_round_trips_rows(fresh_mariadb_db):
    engine = connect(fresh_mariadb_db)
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE t (id INT PRIMARY KEY, total DECIMAL(14,2))"))
        con.execute(sa.text("INSERT INTO t VALUES (1, 10.50), (2, 0.25)"))
        assert str(con.execute(sa.text("SELECT sum(total) FROM t")).scalar_one()) == "10.75"
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("password", "refusal"),
    [
        (None, "fe_sendauth: no password supplied"),
        ("not-the-password", 'password authentication failed for user "almacen"'),
    ],
)
def test_postgres_refuses_a_tcp_login_without_the_right_password(postgres_url, monkeypatch, password, refusal):
    """scripts/services runs PostgreSQL with scram-sha-256 for TCP: a password test against trust proves nothing."""
    import psycopg

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")
    url = make_url(postgres_url)
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, password=password, connect_timeout=10
        ).close()
    assert refusal in str(refused.value)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, password=url.password, connect_timeout=10
    ) as con:
        assert con.execute("SELECT current_user").fetchone() == ("almacen",)


@pytest.mark.postgres
def test_postgres_hashes_passwords_with_scram(postgres_url):
    engine = connect(postgres_url)
    with engine.connect() as con:
        assert con.execute(sa.text("SHOW password_encryption")).scalar_one() == "scram-sha-256"
        methods = con.execute(sa.text("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'"))
        assert sorted(m for (m,) in methods) == ["scram-sha-256"]
    engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize(("password", "sent"), [("", "NO"), ("not-the-password", "YES")])
def test_mariadb_refuses_a_tcp_login_without_the_right_password(mariadb_url, password, sent):
    import pymysql

    url = make_url(mariadb_url)
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=password,
            database=url.database,
            connect_timeout=10,
        ).close()
    assert refused.value.args[0] == 1045  # ER_ACCESS_DENIED_ERROR
    assert refused.value.args[1].startswith(f"Access denied for user '{url.username}'@")
    assert refused.value.args[1].endswith(f"(using password: {sent})")
    with (
        pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
            connect_timeout=10,
        ) as con,
        con.cursor() as cur,
    ):
        cur.execute("SELECT current_user()")
        assert cur.fetchone()[0].split("@")[0] == "almacen"
