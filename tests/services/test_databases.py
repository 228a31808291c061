"""The database services the suite relies on are real and usable."""

import pytest
import sqlalchemy as sa

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
