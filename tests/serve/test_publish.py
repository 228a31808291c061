"""`almacen publish`: gold marts in PostgreSQL, each generated role reading exactly what its scope allows.

Roles are cluster-wide in PostgreSQL while each test gets a fresh database, so every test names its
own users (`_name`); branch, client and group roles are shared and hold no login.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from psycopg import errors, sql
from typer.testing import CliRunner

import almacen
from almacen.cli import app
from almacen.terminal import cli_actor
from almacen.config import Settings, load_config
from almacen.domains import REGISTRY, access
from almacen.domains.messaging.build import build_messaging
from almacen.domains.messaging.ledger import draft_month, issue_month
from almacen.domains.messaging.reference import store_clients, store_rate_card
from almacen.domains.sales import extract
from almacen.domains.messaging import MESSAGING
from almacen.ingest.kinds import StreamKind
from almacen.lake import Access, Declaration, Lake, declared
from almacen.domains.sales import MODELS, SALES, build
from almacen.models import ModelError, discover, model_access
from almacen.security import AuditLog, Role, Users
from almacen.serve.publish import PublishError, publish, role_name
from almacen.simulate import demo_config, simulate_chain
from almacen.simulate.events import EventMaker
from almacen.simulate.messaging import MessageMaker, build_world, write_reference
from almacen.sources.landing import LandingWriter
from tests.conftest import ingest_until_idle

pytestmark = pytest.mark.postgres

DAY = date(2026, 11, 23)
BRANCHES = ("palermo", "cordoba_centro", "rosario")
SCOPED = (
    "dim_branch",
    "fact_sales",
    "fact_sales_lines",
    "kpi_daily",
    "sales_daily",
    "sales_hourly",
    "sales_status_daily",
    "sales_tickets_daily",
)


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
    rows = conn.execute(
        f"SELECT branch_id, count(*), sum(amount) FROM almacen.fact_sales_lines {where} GROUP BY 1"
    ).fetchall()
    return {b: (n, s) for b, n, s in rows}


def _groups(db: psycopg.Connection, role: str) -> set[str]:
    rows = db.execute(
        "SELECT g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid "
        "JOIN pg_roles m ON m.oid = am.member WHERE m.rolname = %s",
        [role],
    ).fetchall()
    return {g for (g,) in rows}


def test_every_gold_table_is_published_with_its_row_count(lake, db, fresh_postgres_db):
    done = publish(lake, fresh_postgres_db)
    names = sorted(p.name for p in Path(lake.root, "gold").iterdir())
    assert sorted(done.tables) == names
    for name in names:
        expected = lake.dataset(f"gold.{name}").count_rows()
        assert done.tables[name] == expected
        assert (
            db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("almacen", name))).fetchone()[0]
            == expected
        )


def test_columns_keep_their_types_and_tables_their_grain(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    types = dict(
        db.execute(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = 'almacen.fact_sales_lines'::regclass AND a.attname = c.column_name "
            "WHERE table_schema = 'almacen' AND table_name = 'fact_sales_lines'"
        ).fetchall()
    )
    assert types == {
        "branch_id": "text",
        "sale_id": "text",
        "line_no": "integer",
        "sold_at": "timestamp with time zone",
        "hour": "timestamp with time zone",
        "date": "date",
        "channel": "text",
        "payment_type": "text",
        "status": "text",
        "product_id": "bigint",
        "category": "text",
        "quantity": "numeric(12,3)",
        "unit_price": "numeric(18,2)",
        "amount": "numeric(18,2)",
    }
    key = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'almacen.fact_sales_lines'::regclass "
        "AND contype = 'p'"
    ).fetchone()[0]
    assert key == "PRIMARY KEY (branch_id, sale_id, line_no)"
    kpi = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'almacen' "
            "AND table_name = 'kpi_daily' AND column_name IN ('approval_rate', 'tickets')"
        ).fetchall()
    )
    assert kpi == {"approval_rate": "double precision", "tickets": "bigint"}


def test_values_arrive_exactly(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    first = (
        lake.read("gold.fact_sales_lines")
        .sort_by([("branch_id", "ascending"), ("sale_id", "ascending"), ("line_no", "ascending")])
        .slice(0, 1)
        .to_pylist()[0]
    )
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
        others = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE branch_id NOT IN ('palermo', 'rosario')").format(
                sql.Identifier("almacen", table)
            )
        ).fetchone()[0]
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
    assert (
        db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role_name("user", auditor)]).fetchone()[0] == 0
    )


def test_the_reader_role_alone_reads_the_public_dimensions_and_nothing_else(lake, login, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    conn = login("almacen_reader")
    assert (
        conn.execute("SELECT count(*) FROM almacen.dim_product").fetchone()[0]
        == lake.dataset("gold.dim_product").count_rows()
    )
    assert conn.execute("SELECT count(*) FROM almacen._freshness").fetchone()[0] == 1
    for table in ("dim_branch", "fact_sales_lines", "_publication", "_branch_roles", "_users"):
        with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for table {table}"):
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("almacen", table)))


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
    assert (second.tables, second.user_roles, second.branch_roles) == (
        first.tables,
        first.user_roles,
        first.branch_roles,
    )
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
    scopes = {**declared(), "gold.zz_broken": Declaration("gold.zz_broken", Access.BRANCH, "branch_id")}
    with pytest.raises(
        PublishError, match=r"copying gold\.zz_broken into almacen_staging\.zz_broken: .*nothing was published"
    ):
        publish(lake, fresh_postgres_db, access=scopes)
    assert _seen(db) == before
    names = {n for (n,) in db.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'almacen%'").fetchall()}
    assert names == {"almacen"}
    assert db.execute("SELECT to_regclass('almacen.zz_broken')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role_name("user", user)]).fetchone()[0] == 0


def test_an_unreachable_server_is_named_without_its_password(lake):
    with pytest.raises(PublishError) as failure:
        publish(lake, "postgresql://almacen:s3cret@127.0.0.1:1/almacen")
    assert str(failure.value).startswith(
        "publish: cannot connect to PostgreSQL at postgresql://almacen@127.0.0.1:1/almacen: "
    )
    assert "s3cret" not in str(failure.value)


def test_an_unknown_login_role_is_refused(lake, fresh_postgres_db):
    # password authentication (scripts/services) does not tell an unknown role from a wrong password
    url = fresh_postgres_db.replace("://almacen:almacen@", "://nobody_here:almacen@")
    with pytest.raises(PublishError, match='cannot connect .*password authentication failed for user "nobody_here"'):
        publish(lake, url)


def test_publishing_without_the_password_is_refused(lake, fresh_postgres_db, monkeypatch):
    monkeypatch.delenv("ALMACEN_PUBLISH_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")
    url = fresh_postgres_db.replace("://almacen:almacen@", "://almacen@")
    with pytest.raises(PublishError, match="cannot connect .*no password supplied"):
        publish(lake, url)
    monkeypatch.setenv("ALMACEN_PUBLISH_PASSWORD", "not-the-password")
    with pytest.raises(PublishError, match='cannot connect .*password authentication failed for user "almacen"'):
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
    config.write_text(f'lake = "{lake.root}"\ndemo = true\n')
    monkeypatch.setenv("ALMACEN_PUBLISH_PASSWORD", "almacen")
    url = fresh_postgres_db.replace("://almacen:almacen@", "://almacen@")
    result = CliRunner().invoke(app, ["publish", "--postgres", url, "--schema", "bi", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert f"bi.fact_sales_lines: {lake.dataset('gold.fact_sales_lines').count_rows():,} rows" in result.output
    entry = AuditLog(lake).entries(action="publish", limit=1).to_pylist()[0]
    assert entry["target"] == url
    assert entry["actor"] == cli_actor() and entry["actor"].startswith("cli:")
    details = json.loads(entry["details"])
    assert details["schema"] == "bi"
    assert details["tables"]["fact_sales"] == lake.dataset("gold.fact_sales").count_rows()
    assert details["access"]["fact_sales"] == "branch" and details["access"]["dim_product"] == "public"


def test_the_cli_says_in_one_line_what_could_not_be_reached(lake, tmp_path):
    config = tmp_path / "almacen.toml"
    config.write_text(f'lake = "{lake.root}"\ndemo = true\n')
    result = CliRunner().invoke(
        app, ["publish", "--postgres", "postgresql://bi:hunter2@127.0.0.1:1/x", "-c", str(config)]
    )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: publish: cannot connect to PostgreSQL at postgresql://bi@127.0.0.1:1/x: ")
    assert "hunter2" not in result.output


# ---------------------------------------------------------------------------------------------------
# Access scopes: every published table readable exactly as declared, by every generated role.

BRANCH_TABLES = {
    "dim_branch",
    "fact_sales",
    "fact_sales_lines",
    "kpi_daily",
    "sales_daily",
    "sales_hourly",
    "sales_status_daily",
    "sales_tickets_daily",
    "sales_minute",
    "sales_minute_late",
}
CLIENT_TABLES = {
    "usage_minute",
    "conversations",
    "conversations_daily",
    "conversations_monthly",
    "invoices",
    "invoice_lines",
}
ADMIN_TABLES = {"invoice_drafts", "invoice_draft_lines"}
PUBLIC_TABLES = {"dim_product", "dim_channel", "dim_date", "dim_payment_type"}
EXPECTED_SCOPES = {
    **{t: Access.BRANCH for t in BRANCH_TABLES},
    **{t: Access.CLIENT for t in CLIENT_TABLES},
    **{t: Access.ADMIN for t in ADMIN_TABLES},
    **{t: Access.PUBLIC for t in PUBLIC_TABLES},
}
"""this test's own statement of who may read each gold table: a changed declaration must change it too"""
BOOKKEEPING = {"_publication", "_branch_roles", "_client_roles", "_users", "_freshness"}
SEPTEMBER, OCTOBER = date(2026, 9, 1), date(2026, 10, 1)


@dataclass(frozen=True)
class Reach:
    """What one PostgreSQL role may read, stated from its almacen meaning (not from the publisher's code):
    branches / clients None = no access, ALL = every row (null keys included), else those keys; `admin` the
    admin-only and bookkeeping tables. Every generated role reads the public dimensions (each group joins
    almacen_reader); a role with no group at all is the removed user's, tested apart."""

    branches: object = None
    clients: object = None
    admin: bool = False


ALL = "all"


@pytest.fixture(scope="module")
def everything(built: Path, tmp_path_factory) -> Path:
    """The built sales lake plus what the streams and billing write: the last hour of sale events (and a few
    too late) in gold.sales_minute(_late), and a messaging platform's September and early October streamed,
    built and billed (September issued, October drafted): every gold table the code base writes."""
    folder = tmp_path_factory.mktemp("everything")
    shutil.copytree(built, folder / "lake")
    base = load_config(built.parent / "almacen.toml")
    settings = base.model_copy(
        update={
            "lake": str(folder / "lake"),
            "stream": base.stream.model_copy(update={"landing": str(folder / "sales_events"), "trigger_seconds": 0.1}),
            "messaging": base.messaging.model_copy(
                update={
                    "stream": base.messaging.stream.model_copy(
                        update={"landing": str(folder / "message_events"), "trigger_seconds": 0.1}
                    )
                }
            ),
        }
    )
    now = datetime.now(timezone.utc).replace(second=30, microsecond=0)
    sales = EventMaker(list(BRANCHES), seed=13, run="scopes")
    _stream(
        settings,
        settings.stream.landing,
        [line for _, line in sales.lines(600, now - timedelta(minutes=50), now)],
        kind=SALES,
    )
    _stream(
        settings,
        settings.stream.landing,
        [line for _, line in sales.lines(20, now - timedelta(hours=3), now - timedelta(hours=2))],
        kind=SALES,
    )
    lake = Lake(settings.lake)
    platform = build_world(6, seed=3, start=date(2026, 8, 1))
    clients, rates = write_reference(platform, folder / "reference")
    store_clients(lake, clients)
    store_rate_card(lake, rates)
    maker = MessageMaker(
        platform, seed=5, start=datetime(2026, 9, 1, tzinfo=timezone.utc), per_second=800 / (33 * 86_400), run="scopes"
    )
    _stream(
        settings,
        settings.messaging.stream.landing,
        [line for _, line in maker.events(3_000) + maker.flush()],
        kind=MESSAGING,
    )
    build_messaging(settings)
    draft_month(settings, SEPTEMBER)
    issue_month(settings, SEPTEMBER)
    draft_month(settings, OCTOBER, force=True)
    return Path(settings.lake)


def _stream(settings: Settings, landing: str, lines: list[str], kind: StreamKind) -> None:
    LandingWriter(Path(landing), "scopes", 1_000).write(lines)
    ingest_until_idle(settings, kind)


@pytest.fixture
def full_lake(everything: Path, tmp_path: Path) -> Lake:
    shutil.copytree(everything, tmp_path / "lake")
    return Lake(str(tmp_path / "lake"))


def _keys(lake: Lake, tables: set[str], column: str) -> set[str]:
    """Every non-null value of `column` in the lake's `tables`."""
    found: set[str] = set()
    for table in tables:
        found.update(v for v in lake.read(f"gold.{table}", [column])[column].to_pylist() if v is not None)
    return found


def _expected(lake: Lake, table: str, reach: Reach) -> dict[str | None, int] | None:
    """Rows `reach` may see of gold.`table`, as counts per scoping key (one None key for unscoped tables),
    computed from the lake with pyarrow; None where it may not read the table at all."""
    scope = EXPECTED_SCOPES[table]
    if scope is Access.PUBLIC:
        return {None: lake.dataset(f"gold.{table}").count_rows()}
    if scope is Access.ADMIN:
        return {None: lake.dataset(f"gold.{table}").count_rows()} if reach.admin else None
    column, allowed = ("branch_id", reach.branches) if scope is Access.BRANCH else ("client_id", reach.clients)
    if allowed is None:
        return None
    counts = lake.read(f"gold.{table}", [column]).group_by(column).aggregate([([], "count_all")]).to_pylist()
    return {r[column]: r["count_all"] for r in counts if allowed == ALL or r[column] in allowed}


def _read(conn: psycopg.Connection, table: str) -> dict[str | None, int] | None:
    """What `conn` reads of almacen.`table` in the same shape; None on permission denied."""
    scope = EXPECTED_SCOPES.get(table)
    column = {Access.BRANCH: "branch_id", Access.CLIENT: "client_id"}.get(scope)
    query = (
        sql.SQL("SELECT {c}::text, count(*) FROM {t} GROUP BY 1")
        if column
        else sql.SQL("SELECT NULL, count(*) FROM {t}")
    )
    try:
        rows = conn.execute(
            query.format(c=sql.Identifier(column or "x"), t=sql.Identifier("almacen", table))
        ).fetchall()
    except errors.InsufficientPrivilege:
        return None
    return {k: n for k, n in rows if n}


def test_every_generated_role_reads_exactly_its_scope_of_every_published_table(full_lake, db, login, fresh_postgres_db):
    lake = full_lake
    users = Users(lake)
    names = {
        "admin": _name("adm"),
        "analyst": _name("ana"),
        "two": _name("mgr"),
        "one": _name("mgr"),
        "new": _name("mgr"),
    }
    users.add(names["admin"], "a long passphrase 1", Role.ADMIN, ())
    users.add(names["analyst"], "a long passphrase 2", Role.ANALYST, ())
    users.add(names["two"], "a long passphrase 3", Role.BRANCH_MANAGER, ("palermo", "rosario"))
    users.add(names["one"], "a long passphrase 4", Role.BRANCH_MANAGER, ("cordoba_centro",))
    users.add(names["new"], "a long passphrase 5", Role.BRANCH_MANAGER, ("mendoza",))  # a branch with no data yet
    users.add(_name("aud"), "a long passphrase 6", Role.AUDITOR, ())
    gold = sorted(p.name for p in Path(lake.root, "gold").iterdir())
    assert set(gold) == set(EXPECTED_SCOPES), "the fixture must hold every gold table the code base writes"
    assert [t for t in gold if lake.dataset(f"gold.{t}").count_rows() == 0] == []

    done = publish(lake, fresh_postgres_db, access=access())

    branches = _keys(lake, BRANCH_TABLES, "branch_id") | {"mendoza"}
    clients = _keys(lake, CLIENT_TABLES, "client_id")
    assert set(done.branch_roles) == branches == {*BRANCHES, "mendoza"}
    assert set(done.client_roles) == clients and len(clients) >= 2
    published = {
        n for (n,) in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'almacen'")
    }
    assert published == set(gold) | BOOKKEEPING
    primary = dict(
        db.execute(
            "SELECT r.relname, pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'almacen' AND c.contype = 'p'"
        ).fetchall()
    )
    assert {t: k for t, k in primary.items() if t in gold} == {
        t: f"PRIMARY KEY ({', '.join(d.keys)})" for t, d in ((t, access()[f"gold.{t}"]) for t in gold) if d.keys
    }  # each table's declared grain
    assert {"conversations_daily", "invoice_drafts", "fact_sales"} <= set(primary)

    reach = {
        done.user_roles[names["admin"]]: Reach(branches=ALL, clients=ALL, admin=True),
        done.user_roles[names["analyst"]]: Reach(branches=ALL),
        done.user_roles[names["two"]]: Reach(branches={"palermo", "rosario"}),
        done.user_roles[names["one"]]: Reach(branches={"cordoba_centro"}),
        done.user_roles[names["new"]]: Reach(branches={"mendoza"}),
        "almacen_reader": Reach(),
        "almacen_all_branches": Reach(branches=ALL),
        "almacen_all_clients": Reach(clients=ALL),
        "almacen_admin": Reach(admin=True),
        **{role_name("branch", b): Reach(branches={b}) for b in branches},
        **{role_name("client", c): Reach(clients={c}) for c in clients},
    }
    assert len(done.user_roles) == 5  # the auditor gets none
    publication = {t: (str(EXPECTED_SCOPES[t]), lake.dataset(f"gold.{t}").count_rows()) for t in gold}
    leaks = []
    for role, may in reach.items():
        conn = login(role)
        for table in gold:
            want, got = _expected(lake, table, may), _read(conn, table)
            if want is not None:
                want = {k: n for k, n in want.items() if n}
            if got != want:
                leaks.append(f"{role} reads {table}: {got} (may: {want})")
        rows = {t: None for t in BOOKKEEPING}
        for table in BOOKKEEPING:
            try:
                rows[table] = conn.execute(
                    sql.SQL("SELECT * FROM {}").format(sql.Identifier("almacen", table))
                ).fetchall()
            except errors.InsufficientPrivilege:
                pass
        want_book = {
            "_publication": {t: v for t, v in publication.items()} if may.admin else None,
            "_branch_roles": {b: role_name("branch", b) for b in branches} if may.admin else None,
            "_client_roles": {c: role_name("client", c) for c in clients} if may.admin else None,
            "_users": None,
            "_freshness": 1,
        }
        got_book = {
            "_publication": None
            if rows["_publication"] is None
            else {t: (a, n) for t, a, n, _ in rows["_publication"]},
            "_branch_roles": None if rows["_branch_roles"] is None else dict(rows["_branch_roles"]),
            "_client_roles": None if rows["_client_roles"] is None else dict(rows["_client_roles"]),
            "_users": rows["_users"],
            "_freshness": None if rows["_freshness"] is None else len(rows["_freshness"]),
        }
        leaks += [
            f"{role} reads {t}: {got_book[t]} (may: {want_book[t]})" for t in BOOKKEEPING if got_book[t] != want_book[t]
        ]
    assert leaks == [], "\n".join(leaks)
    # and the scopes cut something: a client role sees its own rows only, a branch role its branch's
    some_client = sorted(clients)[0]
    assert (
        0
        < _expected(lake, "invoices", reach[role_name("client", some_client)])[some_client]
        < lake.dataset("gold.invoices").count_rows()
    )


def test_client_tables_are_cut_once_per_query_too(full_lake, login, fresh_postgres_db):
    done = publish(full_lake, fresh_postgres_db, access=access())
    conn = login(next(iter(done.client_roles.values())))
    plan = "\n".join(r for (r,) in conn.execute("EXPLAIN SELECT sum(billable) FROM almacen.usage_minute").fetchall())
    assert "InitPlan" in plan and "hashed SubPlan" in plan


def test_a_gold_table_without_an_access_scope_is_refused_and_nothing_is_published(lake, db, fresh_postgres_db):
    publish(lake, fresh_postgres_db)
    before = _seen(db)
    user = _name("new")
    Users(lake).add(user, "a long passphrase 1", Role.ANALYST, ())
    lake.overwrite("gold.aa_new_mart", pa.table({"client_id": ["c00001"], "revenue": pa.array([Decimal("1.00")])}))
    with pytest.raises(PublishError) as failure:
        publish(lake, fresh_postgres_db)
    message = str(failure.value)
    assert message.startswith(
        "publish: gold.aa_new_mart has no access scope: declare who may read it beside its definition"
    )
    assert "-- access: branch|client|admin|public" in message and "define(Table(" in message
    assert message.endswith("nothing was published")
    assert _seen(db) == before
    assert db.execute("SELECT to_regclass('almacen.aa_new_mart')").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role_name("user", user)]).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'almacen%'").fetchone()[0] == 1


def test_the_cli_refuses_an_undeclared_table_in_one_line(lake, fresh_postgres_db):
    lake.overwrite("gold.aa_new_mart", pa.table({"x": [1]}))
    config = Path(lake.root).parent / "almacen.toml"
    config.write_text(f'lake = "{lake.root}"\ndemo = true\n')
    result = CliRunner().invoke(app, ["publish", "--postgres", fresh_postgres_db, "-c", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith("error: publish: gold.aa_new_mart has no access scope")
    assert len(result.output.strip().splitlines()) == 1


def test_a_scoped_table_without_its_scoping_column_is_refused(lake, db, fresh_postgres_db):
    lake.overwrite("gold.aa_by_branch", pa.table({"branch": ["palermo"]}))
    scopes = {**declared(), "gold.aa_by_branch": Declaration("gold.aa_by_branch", Access.BRANCH, "branch_id")}
    with pytest.raises(
        PublishError,
        match=r"gold\.aa_by_branch is declared branch-scoped by branch_id but has no "
        r"branch_id column; nothing was published",
    ):
        publish(lake, fresh_postgres_db, access=scopes)
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'almacen%'").fetchone()[0] == 0


def test_every_gold_table_the_code_base_can_write_declares_its_scope():
    src = Path(almacen.__file__).parent
    registry = access()
    # the SQL models of every domain: each carries its header, and it is what was declared
    models = sorted(
        (
            f
            for folder in REGISTRY.model_folders()
            if (folder / "gold").is_dir()
            for f in (folder / "gold").iterdir()
            if f.name.endswith(".sql")
        ),
        key=lambda f: f.name,
    )
    assert len(models) >= 5, "the gold models moved: follow them"
    for sql_file in models:
        table = f"gold.{sql_file.name.removesuffix('.sql')}"
        assert registry[table].access == model_access(table, sql_file.read_text(encoding="utf-8")), table
    # every gold table the Python code names (string literals "gold.<name>")
    named = set()
    for module in src.rglob("*.py"):
        named.update(re.findall(r"""["']gold\.([a-z][a-z0-9_]*)["']""", module.read_text(encoding="utf-8")))
    named.discard("x")  # publish.py's `lake.path("gold.x")`: the gold folder, not a table
    assert named, "the scan found no table names"
    undeclared = sorted(n for n in named | {f.name.removesuffix(".sql") for f in models} if f"gold.{n}" not in registry)
    assert undeclared == []
    # and each declaration is the one this test states independently
    gold = {t.removeprefix("gold."): d for t, d in registry.items() if t.startswith("gold.")}
    assert {t: d.access for t, d in gold.items()} == EXPECTED_SCOPES
    assert all(
        d.column == {Access.BRANCH: "branch_id", Access.CLIENT: "client_id"}.get(d.access) for d in gold.values()
    )


def test_a_gold_model_without_an_access_header_is_refused_by_the_runner(monkeypatch):
    with pytest.raises(
        ModelError,
        match=r"models/gold/zz_new\.sql has no access header: add a first line "
        r"`-- access: <scope>` \(one of branch, client, admin, public\)",
    ):
        model_access("gold.zz_new", "-- A new mart.\nSELECT 1 AS x")
    with pytest.raises(ModelError, match=r"`-- access: everyone` names no scope"):
        model_access("gold.zz_new", "-- access: everyone\nSELECT 1 AS x")
    assert model_access("gold.zz_new", "\n-- A new mart.\n-- access: admin\nSELECT 1 AS x") is Access.ADMIN
    with pytest.raises(ModelError, match="has no access header"):  # a header is among the leading comments
        model_access("gold.zz_new", "SELECT 1 AS x\n-- access: public")
    from almacen.models import runner

    files = runner._files((MODELS,))
    monkeypatch.setattr(
        runner, "_files", lambda folders: [*files, ("gold", "gold.zz_new", "-- A new mart.\nSELECT 1 AS x")]
    )
    with pytest.raises(ModelError, match=r"models/gold/zz_new\.sql has no access header"):
        discover((MODELS,))


def test_a_redeclaration_with_another_scope_is_refused():
    from almacen.lake import AccessError, declare

    assert declare("gold.fact_sales", "branch") == declared()["gold.fact_sales"]  # the same again: harmless
    with pytest.raises(
        AccessError,
        match=r"gold\.fact_sales is declared branch \(by branch_id\) already; declaring it "
        r"public too is a contradiction",
    ):
        declare("gold.fact_sales", Access.PUBLIC)
    with pytest.raises(AccessError, match="not one of branch, client, admin, public"):
        declare("gold.zz_other", "everyone")
    assert "gold.zz_other" not in declared()


def test_a_removed_user_loses_access_in_every_schema_it_was_published_to(lake, login, db, fresh_postgres_db):
    user = _name("gone")
    Users(lake).add(user, "a long passphrase 1", Role.ANALYST, ())
    role = publish(lake, fresh_postgres_db, schema="bi").user_roles[user]
    conn = login(role)
    assert (
        conn.execute("SELECT count(*) FROM bi.fact_sales_lines").fetchone()[0]
        == lake.dataset("gold.fact_sales_lines").count_rows()
    )
    Users(lake).remove(user)

    publish(lake, fresh_postgres_db, schema="almacen")  # another schema, published for the first time

    assert _groups(db, role) == set()
    assert db.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [role]).fetchone()[0] is False
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema bi"):
        conn.execute("SELECT count(*) FROM bi.fact_sales_lines")
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema almacen"):
        conn.execute("SELECT count(*) FROM almacen.fact_sales_lines")


def test_a_scoped_table_without_rows_yet_is_published_readable_by_its_all_group_only(lake, login, fresh_postgres_db):
    admin, analyst = _name("adm"), _name("ana")
    Users(lake).add(admin, "a long passphrase 1", Role.ADMIN, ())
    Users(lake).add(analyst, "a long passphrase 2", Role.ANALYST, ())
    lake.overwrite(
        "gold.aa_client_mart", pa.table({"client_id": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
    )
    scopes = {**declared(), "gold.aa_client_mart": Declaration("gold.aa_client_mart", Access.CLIENT, "client_id")}
    done = publish(lake, fresh_postgres_db, access=scopes)
    assert done.client_roles == {} and done.access["aa_client_mart"] == "client"
    assert login(done.user_roles[admin]).execute("SELECT count(*) FROM almacen.aa_client_mart").fetchone()[0] == 0
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for table aa_client_mart"):
        login(done.user_roles[analyst]).execute("SELECT count(*) FROM almacen.aa_client_mart")


def test_default_privileges_of_the_publishing_role_grant_nothing(lake, db, login, fresh_postgres_db):
    # an operator's blanket default (for every table the publishing role creates in this database)
    db.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC")
    user = _name("pub")
    Users(lake).add(user, "a long passphrase 1", Role.BRANCH_MANAGER, ("palermo",))
    conn = login(publish(lake, fresh_postgres_db).user_roles[user])
    for table in ("_users", "_publication", "_branch_roles"):
        with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for table {table}"):
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("almacen", table)))
    assert _seen(conn) == {"palermo": _lake_totals(lake)["palermo"]}


def test_a_demo_lake_is_not_published_outside_demo_mode(lake, tmp_path, fresh_postgres_db):
    """The lake was pseudonymised with demo mode's public key (so marked): BI users must not get it."""
    config = tmp_path / "almacen.toml"
    config.write_text(f'lake = "{lake.root}"\n')
    result = CliRunner().invoke(app, ["publish", "--postgres", fresh_postgres_db, "-c", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: publish: {lake.root} is a demo lake")
    with psycopg.connect(fresh_postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'almacen'").fetchone()[0] == 0
