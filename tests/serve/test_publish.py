"""`almacen publish`: gold marts in PostgreSQL, each generated role seeing exactly its branches.

Roles are cluster-wide in PostgreSQL while each test gets a fresh database, so every test names its
own users (`_name`); branch roles are shared and hold no login.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg import errors, sql
from typer.testing import CliRunner

from almacen.cli import app
from almacen.config import load_config
from almacen.ingest import extract
from almacen.lake import Lake
from almacen.models import build
from almacen.security import AuditLog, Role, Users
from almacen.serve.publish import PublishError, publish, role_name
from almacen.simulate import demo_config, simulate_chain

pytestmark = pytest.mark.postgres

DAY = date(2026, 11, 23)
BRANCHES = ("palermo", "cordoba_centro", "rosario")
SCOPED = ("dim_branch", "fact_sales", "fact_sales_lines", "kpi_daily", "sales_daily", "sales_hourly",
          "sales_status_daily", "sales_tickets_daily")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A day of three branches, extracted and built: the config of its lake (copied per test)."""
    config = demo_config(tmp_path_factory.mktemp("publish"), branches=3)
    settings = load_config(config)
    simulate_chain(settings, DAY, scale=0.05)
    start = datetime.combine(DAY, datetime.min.time(), timezone.utc)
    extract(settings, [start + timedelta(hours=h) for h in range(24)])
    build(settings)
    return Path(settings.lake)


@pytest.fixture
def lake(built: Path, tmp_path: Path) -> Lake:
    """The built lake, copied: a test's users, audit entries and extra tables stay its own."""
    shutil.copytree(built, tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def db(fresh_postgres_db: str) -> Iterator[psycopg.Connection]:
    """An autocommit superuser connection to the test's fresh database."""
    with psycopg.connect(fresh_postgres_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def login(db: psycopg.Connection, fresh_postgres_db: str) -> Iterator:
    """`login(role)`: give a generated role LOGIN and a password (as an operator would) and connect as it."""
    opened: list[tuple[str, psycopg.Connection]] = []

    def connect(role: str) -> psycopg.Connection:
        password = uuid.uuid4().hex
        db.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn = psycopg.connect(fresh_postgres_db, user=role, password=password, autocommit=True)
        opened.append((role, conn))
        return conn

    yield connect
    for role, conn in opened:
        conn.close()
        db.execute(sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(sql.Identifier(role)))


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def _lake_totals(lake: Lake) -> dict[str, tuple[int, Decimal]]:
    """Lines and revenue (sum of amount) per branch in gold.fact_sales_lines."""
    lines = lake.read("gold.fact_sales_lines")
    out = {}
    for branch in BRANCHES:
        mine = lines.filter(pc.equal(lines["branch_id"], branch))
        out[branch] = (mine.num_rows, pc.sum(mine["amount"]).as_py())
    return out


def _seen(conn: psycopg.Connection, where: str = "") -> dict[str, tuple[int, Decimal]]:
    rows = conn.execute(f"SELECT branch_id, count(*), sum(amount) FROM almacen.fact_sales_lines {where} GROUP BY 1").fetchall()
    return {b: (n, s) for b, n, s in rows}


def _groups(db: psycopg.Connection, role: str) -> set[str]:
    rows = db.execute("SELECT g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid "
                      "JOIN pg_roles m ON m.oid = am.member WHERE m.rolname = %s", [role]).fetchall()
    return {g for (g,) in rows}


def test_every_gold_table_is_published_with_its_row_count(lake, db, fresh_postgres_db):
    done = publish(lake, fresh_postgres_db)
    names = sorted(p.name for p in Path(lake.root, "gold").iterdir())
    assert sorted(done.tables) == names
    for name in names:
        expected = lake.dataset(f"gold.{name}").count_rows()
        assert done.tables[name] == expected
        assert db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("almacen", name))).fetchone()[0] == expected


def test_columns_keep_their_types_and_tables_their_grain(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    types = dict(db.execute("SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
                            "JOIN pg_attribute a ON a.attrelid = 'almacen.fact_sales_lines'::regclass AND a.attname = c.column_name "
                            "WHERE table_schema = 'almacen' AND table_name = 'fact_sales_lines'").fetchall())
    assert types == {"branch_id": "text", "sale_id": "text", "line_no": "integer", "sold_at": "timestamp with time zone",
                     "hour": "timestamp with time zone", "date": "date", "channel": "text", "payment_type": "text",
                     "status": "text", "product_id": "bigint", "category": "text", "quantity": "numeric(12,3)",
                     "unit_price": "numeric(18,2)", "amount": "numeric(18,2)"}
    key = db.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'almacen.fact_sales_lines'::regclass "
                     "AND contype = 'p'").fetchone()[0]
    assert key == "PRIMARY KEY (branch_id, sale_id, line_no)"
    kpi = dict(db.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'almacen' "
                          "AND table_name = 'kpi_daily' AND column_name IN ('approval_rate', 'tickets')").fetchall())
    assert kpi == {"approval_rate": "double precision", "tickets": "bigint"}


def test_values_arrive_exactly(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    first = lake.read("gold.fact_sales_lines").sort_by([("branch_id", "ascending"), ("sale_id", "ascending"),
                                                       ("line_no", "ascending")]).slice(0, 1).to_pylist()[0]
    row = db.execute("SELECT * FROM almacen.fact_sales_lines ORDER BY branch_id, sale_id, line_no LIMIT 1").fetchone()
    assert row == tuple(first.values())


def test_a_branch_manager_sees_exactly_its_branches(lake, login, fresh_postgres_db):
    user = _name("maria")
    Users(lake).add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("palermo", "rosario"))
    done = publish(lake, fresh_postgres_db)
    conn = login(done.user_roles[user])
    totals = _lake_totals(lake)
    assert _seen(conn) == {"palermo": totals["palermo"], "rosario": totals["rosario"]}
    for table in SCOPED:
        others = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE branch_id NOT IN ('palermo', 'rosario')")
                              .format(sql.Identifier("almacen", table))).fetchone()[0]
        assert others == 0, table


def test_an_analyst_and_an_admin_see_every_branch(lake, login, fresh_postgres_db):
    analyst, admin = _name("ana"), _name("root")
    Users(lake).add(analyst, "a long passphrase 1", Role.ANALYST, ())
    Users(lake).add(admin, "a long passphrase 2", Role.ADMIN, ())
    done = publish(lake, fresh_postgres_db)
    totals = _lake_totals(lake)
    assert _seen(login(done.user_roles[analyst])) == totals
    assert _seen(login(done.user_roles[admin])) == totals


def test_an_auditor_gets_no_role(lake, db, fresh_postgres_db):
    auditor = _name("aud")
    Users(lake).add(auditor, "a long passphrase 1", Role.AUDITOR, ())
    done = publish(lake, fresh_postgres_db)
    assert auditor not in done.user_roles
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role_name("user", auditor)]).fetchone()[0] == 0


def test_the_reader_role_alone_sees_dimensions_but_no_branch_rows(lake, login, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    conn = login("almacen_reader")
    assert conn.execute("SELECT count(*) FROM almacen.dim_product").fetchone()[0] == lake.dataset("gold.dim_product").count_rows()
    assert conn.execute("SELECT count(*) FROM almacen.dim_branch").fetchone()[0] == 0
    assert _seen(conn) == {}


def test_a_branch_manager_cannot_widen_its_view(lake, login, fresh_postgres_db):
    user = _name("pablo")
    Users(lake).add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("palermo",))
    conn = login(publish(lake, fresh_postgres_db).user_roles[user])
    assert _seen(conn, "WHERE branch_id = 'rosario' OR true") == {"palermo": _lake_totals(lake)["palermo"]}
    for group in (role_name("branch", "rosario"), "almacen_all_branches"):
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(group)))
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM almacen._users")
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute("INSERT INTO almacen._branch_roles VALUES ('rosario', %s)", [role_name("user", user)])


def test_the_policy_checks_roles_once_per_query(lake, login, fresh_postgres_db):
    user = _name("plan")
    Users(lake).add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("palermo",))
    conn = login(publish(lake, fresh_postgres_db).user_roles[user])
    plan = "\n".join(r for (r,) in conn.execute("EXPLAIN SELECT sum(amount) FROM almacen.fact_sales_lines").fetchall())
    assert "InitPlan" in plan and "hashed SubPlan" in plan


def test_republishing_after_a_managers_branches_change_moves_its_view(lake, login, db, fresh_postgres_db):
    user = _name("lucia")
    users = Users(lake)
    users.add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("palermo",))
    role = publish(lake, fresh_postgres_db).user_roles[user]
    users.set_role(user, Role.BRANCH_MANAGER, ("cordoba_centro",))
    publish(lake, fresh_postgres_db)
    assert _groups(db, role) == {role_name("branch", "cordoba_centro")}
    assert _seen(login(role)) == {"cordoba_centro": _lake_totals(lake)["cordoba_centro"]}


def test_a_removed_user_loses_its_groups(lake, login, db, fresh_postgres_db):
    user = _name("ex")
    Users(lake).add(user, "a long passphrase 1", Role.ANALYST, ())
    role = publish(lake, fresh_postgres_db).user_roles[user]
    Users(lake).remove(user)
    publish(lake, fresh_postgres_db)
    assert _groups(db, role) == set()
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema almacen"):
        _seen(login(role))


def test_publishing_twice_gives_the_same_schema(lake, db, fresh_postgres_db):
    user = _name("twice")
    Users(lake).add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("rosario",))
    first = publish(lake, fresh_postgres_db)
    groups = _groups(db, first.user_roles[user])
    second = publish(lake, fresh_postgres_db)
    assert (second.tables, second.user_roles, second.branch_roles) == (first.tables, first.user_roles, first.branch_roles)
    assert _groups(db, first.user_roles[user]) == groups == {role_name("branch", "rosario")}
    schemas = db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'almacen%' ORDER BY 1").fetchall()
    assert schemas == [("almacen",)]


def test_a_failure_midway_keeps_the_published_schema_as_it_was(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    before = _seen(db)
    user = _name("late")
    Users(lake).add(user, "a long passphrase 1", Role.ANALYST, ())
    # a gold table PostgreSQL refuses (text holding a NUL byte), copied after every real one
    lake.overwrite("gold.zz_broken", pa.table({"branch_id": ["palermo"], "note": ["bad\x00byte"]}))
    with pytest.raises(PublishError, match=r"copying gold\.zz_broken into almacen_staging\.zz_broken: .*nothing was published"):
        publish(lake, fresh_postgres_db)
    assert _seen(db) == before
    names = {n for (n,) in db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'almacen%'").fetchall()}
    assert names == {"almacen"}
    assert db.execute("SELECT to_regclass('almacen.zz_broken')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role_name("user", user)]).fetchone()[0] == 0


def test_an_unreachable_server_is_named_without_its_password(lake):
    with pytest.raises(PublishError) as failure:
        publish(lake, "postgresql://almacen:s3cret@127.0.0.1:1/almacen")
    assert str(failure.value).startswith("publish: cannot connect to PostgreSQL at postgresql://almacen@127.0.0.1:1/almacen: ")
    assert "s3cret" not in str(failure.value)


def test_an_unknown_login_role_is_refused(lake, fresh_postgres_db):
    url = fresh_postgres_db.replace("://almacen:almacen@", "://nobody_here@")
    with pytest.raises(PublishError, match='cannot connect .*role "nobody_here" does not exist'):
        publish(lake, url)


def test_a_lake_without_gold_publishes_nothing(tmp_path, db, fresh_postgres_db):
    with pytest.raises(PublishError, match=f"no gold tables in {tmp_path}/empty/gold: run `almacen build` first"):
        publish(Lake(str(tmp_path / "empty")), fresh_postgres_db)
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'almacen%'").fetchone()[0] == 0


def test_role_names_are_plain_identifiers_whatever_the_username():
    assert role_name("user", "maria") == "almacen_user_maria"
    odd = role_name("user", 'María "x"; DROP ROLE almacen --')
    assert odd.startswith("almacen_user_mar_a__x___drop_role_almacen") and len(odd) <= 63
    assert odd.replace("_", "").isalnum() and odd != role_name("user", 'maría "x"; drop role almacen --')


def test_the_cli_publishes_with_the_password_from_the_environment_and_audits_it(lake, monkeypatch, fresh_postgres_db):
    config = Path(lake.root).parent / "almacen.toml"
    config.write_text(f'lake = "{lake.root}"\n')
    monkeypatch.setenv("ALMACEN_PUBLISH_PASSWORD", "almacen")
    url = fresh_postgres_db.replace("://almacen:almacen@", "://almacen@")
    result = CliRunner().invoke(app, ["publish", "--postgres", url, "--schema", "bi", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert f"bi.fact_sales_lines: {lake.dataset('gold.fact_sales_lines').count_rows():,} rows" in result.output
    entry = AuditLog(lake).entries(action="publish", limit=1).to_pylist()[0]
    assert entry["target"] == url
    details = json.loads(entry["details"])
    assert details["schema"] == "bi"
    assert details["tables"]["fact_sales"] == lake.dataset("gold.fact_sales").count_rows()


def test_the_cli_says_in_one_line_what_could_not_be_reached(lake, tmp_path):
    config = tmp_path / "almacen.toml"
    config.write_text(f'lake = "{lake.root}"\n')
    result = CliRunner().invoke(app, ["publish", "--postgres", "postgresql://bi:hunter2@127.0.0.1:1/x", "-c", str(config)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: publish: cannot connect to PostgreSQL at postgresql://bi@127.0.0.1:1/x: ")
    assert "hunter2" not in result.output
