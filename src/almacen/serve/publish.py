"""`almacen publish`: the gold marts copied into a PostgreSQL schema with roles and row-level security.

BI tools (Tableau, Power BI, Metabase, Superset) then connect with ordinary PostgreSQL credentials
and a branch manager's role sees only its branches' rows. Guarantees:

- All or nothing: one transaction builds a fresh staging schema (tables streamed in with
  `COPY … FROM STDIN`, keys, indexes, policies, grants), replaces the published schema with it and
  commits. Any failure rolls back: the previously published schema stays exactly as it was, and no
  staging schema or role change remains.
- Roles: `almacen_reader` (USAGE + SELECT), `almacen_all_branches`, `almacen_branch_<id>` per branch
  and `almacen_user_<username>` per almacen user who may see sales, NOLOGIN, member of its groups;
  users gone (or no longer seeing sales) since the last publish lose their groups. Publish never sets
  a password or LOGIN: the operator does (docs/bi.md).
- The password comes from the URL, `ALMACEN_PUBLISH_PASSWORD` or `PGPASSWORD`, and is never printed,
  logged or audited.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from almacen.lake import Lake

READER = "almacen_reader"
ALL_BRANCHES = "almacen_all_branches"
BRANCH_PREFIX = "almacen_branch_"
USER_PREFIX = "almacen_user_"
SALES_ROLES = {"admin": None, "analyst": None, "branch_manager": "own"}
"""almacen roles that see sales: None = every branch, "own" = the branches assigned (auditors: none)"""

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "dim_branch": ("branch_id",), "dim_product": ("product_id",), "dim_channel": ("channel",),
    "dim_payment_type": ("payment_type",), "dim_date": ("date",),
    "fact_sales": ("branch_id", "sale_id"), "fact_sales_lines": ("branch_id", "sale_id", "line_no"),
    "sales_daily": ("date", "branch_id", "category", "payment_type", "channel"),
    "sales_hourly": ("hour", "branch_id", "category", "payment_type", "channel"),
    "sales_status_daily": ("date", "branch_id", "status"),
    "sales_tickets_daily": ("date", "branch_id", "channel", "payment_type", "status"), "kpi_daily": ("date", "branch_id"),
    "sales_minute": ("minute", "branch_id", "channel", "payment_type", "status"),
    "sales_minute_late": ("minute", "branch_id"),
    "usage_minute": ("minute", "client_id", "category", "country"), "conversations": ("conversation_id",),
    "invoices": ("invoice_id",), "invoice_lines": ("invoice_id", "line_no"),
}
"""the grains of DATA-MODEL.md; a table publishes with its key only when it has every column of it"""
INDEXED = ("date", "branch_id")
BATCH_ROWS = 100_000
_SQL = resources.files("almacen.serve")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")


class PublishError(RuntimeError):
    """Publishing failed; the message names the step and the server, and nothing was published."""


@dataclass(frozen=True)
class Publication:
    """What one publish put in place: tables with their row counts, and the role of each branch and user."""

    target: str
    schema: str
    tables: dict[str, int]
    branch_roles: dict[str, str]
    user_roles: dict[str, str]
    seconds: float


def role_name(kind: str, key: str) -> str:
    """`almacen_<kind>_<key>`, a plain lower-case identifier; a key that is not one already (or too long
    for PostgreSQL's 63 bytes) is folded and suffixed with a short hash of itself, so names never collide."""
    folded = re.sub(r"[^a-z0-9_]", "_", key.lower())
    name = f"almacen_{kind}_{folded}"
    if folded != key or len(name) > 63:
        name = f"{name[:54]}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return name


def safe_url(url: str) -> str:
    """The URL without its password (also in `?password=`), for messages and the audit log."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def gold_tables(lake: Lake) -> list[str]:
    """The gold tables present in the lake, by name (`fact_sales`, …), sorted."""
    root = lake.path("gold.x").rsplit("/", 1)[0]
    if "://" in lake.root:
        from pyarrow import fs as pafs

        filesystem, base = pafs.FileSystem.from_uri(root)
        names = [i.base_name for i in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
                 if i.type == pafs.FileType.Directory]
    else:
        names = [p.name for p in Path(root).iterdir() if p.is_dir()] if Path(root).is_dir() else []
    return sorted(n for n in names if not n.startswith(("_", ".")) and lake.exists(f"gold.{n}"))


def pg_type(field: pa.Field) -> str:
    """The PostgreSQL type a column of this Arrow type is published as (lists and structs as jsonb)."""
    t = field.type
    if pa.types.is_dictionary(t):
        return pg_type(pa.field(field.name, t.value_type))
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    simple = [(pa.types.is_boolean, "boolean"), (pa.types.is_int8, "smallint"), (pa.types.is_int16, "smallint"),
              (pa.types.is_uint8, "smallint"), (pa.types.is_int32, "integer"), (pa.types.is_uint16, "integer"),
              (pa.types.is_int64, "bigint"), (pa.types.is_uint32, "bigint"), (pa.types.is_uint64, "numeric(20,0)"),
              (pa.types.is_float16, "real"), (pa.types.is_float32, "real"), (pa.types.is_float64, "double precision"),
              (pa.types.is_string, "text"), (pa.types.is_large_string, "text"), (pa.types.is_string_view, "text"),
              (pa.types.is_date, "date"), (pa.types.is_time, "time"), (pa.types.is_null, "text"),
              (pa.types.is_nested, "jsonb")]
    for test, name in simple:
        if test(t):
            return name
    raise PublishError(f"column {field.name!r} has type {t}, which publish cannot copy to PostgreSQL")


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every column in a form pyarrow's CSV writer and PostgreSQL's CSV reader agree on."""
    columns = []
    for field, column in zip(batch.schema, batch.columns):
        if pa.types.is_dictionary(field.type):
            column = column.dictionary_decode()
        if pa.types.is_nested(field.type):
            column = pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
        elif pa.types.is_date64(field.type):
            column = pc.cast(column, pa.date32())
        elif pa.types.is_timestamp(field.type) and field.type.tz:
            # the same UTC instants without a zone: 30x faster to write, read as UTC by the session
            column = column.cast(pa.timestamp(field.type.unit))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _statements(name: str, **identifiers: sql.Composable) -> list[sql.Composed]:
    """The statements of `publish_<name>.sql`, with {placeholders} filled by quoted identifiers or literals."""
    text = _SQL.joinpath(f"publish_{name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [sql.SQL(s.strip()).format(**identifiers) for s in body.split(";\n") if s.strip().rstrip(";")]


def _query(name: str) -> str:
    return _SQL.joinpath(f"publish_{name}.sql").read_text(encoding="utf-8")


class _Publisher:
    """One publish transaction, step by step; `step` says where a failure happened."""

    def __init__(self, conn: psycopg.Connection, lake: Lake, schema: str) -> None:
        self.conn, self.lake, self.schema, self.staging = conn, lake, schema, f"{schema}_staging"
        self.step = "starting"
        self.branches: set[str] = set()

    def run(self, stmts: Iterable[sql.Composable]) -> None:
        with self.conn.cursor() as cur:
            for stmt in stmts:
                cur.execute(stmt)

    def stage(self) -> None:
        self.step = f"creating the staging schema {self.staging}"
        self.run([sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal("almacen publish " + self.schema)),
                  sql.SQL("SET LOCAL lock_timeout = '60s'"), sql.SQL("SET LOCAL TimeZone = 'UTC'")])
        self.run(_statements("stage", staging=sql.Identifier(self.staging)))

    def copy_table(self, name: str) -> int:
        """Create `staging.name` from the gold table's Arrow schema and stream its rows in with COPY (CSV)."""
        self.step = f"copying gold.{name} into {self.staging}.{name}"
        data = self.lake.dataset(f"gold.{name}")
        schema = data.schema
        target = sql.Identifier(self.staging, name)
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f))) for f in schema)
        self.run([sql.SQL("CREATE TABLE {} ({})").format(target, columns)])
        copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, schema.names)))
        rows, has_branch = 0, "branch_id" in schema.names
        options = pacsv.WriteOptions(include_header=False)
        with self.conn.cursor() as cur, cur.copy(copy) as pipe:
            for batch in data.to_batches(batch_size=BATCH_ROWS):
                if batch.num_rows == 0:
                    continue
                buffer = io.BytesIO()
                pacsv.write_csv(_csv_ready(batch), buffer, write_options=options)
                pipe.write(buffer.getbuffer())
                rows += batch.num_rows
                if has_branch:
                    self.branches.update(b for b in pc.unique(batch.column("branch_id")).to_pylist() if b is not None)
        self.step = f"adding keys and indexes to {self.staging}.{name}"
        key = PRIMARY_KEYS.get(name, ())
        if key and set(key) <= set(schema.names):
            self.run([sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(target, sql.SQL(", ").join(map(sql.Identifier, key)))])
        for column in INDEXED:
            if column in schema.names and key[:1] != (column,):
                self.run([sql.SQL("CREATE INDEX ON {} ({})").format(target, sql.Identifier(column))])
        self.run([sql.SQL("ANALYZE {}").format(target)])
        return rows

    def ensure_roles(self, roles: Sequence[str]) -> None:
        """Create the NOLOGIN roles that do not exist yet (roles are cluster-wide and kept between publishes)."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(roles)])
            existing = {r for (r,) in cur.fetchall()}
            for role in roles:
                if role not in existing:
                    self.step = f"creating role {role}"
                    try:
                        with self.conn.transaction():  # a savepoint: another database's publish may create it first
                            cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                        pass

    def memberships(self, members: Sequence[str]) -> dict[str, set[str]]:
        """The almacen groups each role is a direct member of now."""
        with self.conn.cursor() as cur:
            cur.execute(_query("memberships"), {"members": list(members), "all_branches": ALL_BRANCHES,
                                                "branch_prefix": BRANCH_PREFIX})
            found: dict[str, set[str]] = {m: set() for m in members}
            for member, group in cur.fetchall():
                found[member].add(group)
            return found

    def previous_user_roles(self) -> list[str]:
        """The user roles the currently published schema gave groups to (none on a first publish)."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", [sql.Identifier(self.schema, "_users").as_string(self.conn)])
            if cur.fetchone()[0] is None:
                return []
            cur.execute(sql.SQL("SELECT role_name FROM {}").format(sql.Identifier(self.schema, "_users")))
            return [r for (r,) in cur.fetchall()]

    def grant_roles(self, users: Sequence[Any]) -> dict[str, str]:
        """Branch and user roles, their groups, and the mapping tables; returns username -> role."""
        self.step = "granting roles"
        wanted: dict[str, set[str]] = {}
        rows = []
        for user in users:
            if str(user.role) not in SALES_ROLES:
                continue
            scope = SALES_ROLES[str(user.role)]
            role = role_name("user", user.username)
            wanted[role] = {ALL_BRANCHES} if scope is None else {role_name("branch", b) for b in user.branches}
            if scope == "own":
                self.branches.update(user.branches)
            rows.append((user.username, role, str(user.role), sorted(user.branches)))
        branch_roles = {b: role_name("branch", b) for b in sorted(self.branches)}
        groups = [ALL_BRANCHES, *branch_roles.values()]
        self.ensure_roles([READER, *groups, *wanted])
        self.run([sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER), sql.Identifier(g)) for g in groups])
        gone = [r for r in self.previous_user_roles() if r not in wanted]
        current = self.memberships([*wanted, *gone])
        for role, groups_now in current.items():
            target = wanted.get(role, set())
            stmts = [sql.SQL("GRANT {} TO {}").format(sql.Identifier(g), sql.Identifier(role)) for g in sorted(target - groups_now)]
            stmts += [sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(g), sql.Identifier(role)) for g in sorted(groups_now - target)]
            self.step = f"granting {role} its groups"
            self.run(stmts)
        with self.conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(self.staging, "_branch_roles")),
                            list(branch_roles.items()))
            cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(sql.Identifier(self.staging, "_users")), rows)
        return {username: role for username, role, _, _ in rows}

    def secure(self, tables: dict[str, int]) -> None:
        """Row-level security on every table with branch_id, then SELECT for the reader role."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND column_name = 'branch_id' AND NOT starts_with(table_name, '_')", [self.staging])
            scoped = sorted(r for (r,) in cur.fetchall())
            cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, now())").format(sql.Identifier(self.staging, "_publication")),
                            list(tables.items()))
        for name in scoped:
            self.step = f"enabling row-level security on {self.staging}.{name}"
            self.run(_statements("policy", table=sql.Identifier(self.staging, name), all_branches=sql.Literal(ALL_BRANCHES),
                                 branch_roles=sql.Identifier(self.staging, "_branch_roles")))
        self.step = f"granting {READER} read access"
        self.run(_statements("grants", staging=sql.Identifier(self.staging), reader=sql.Identifier(READER)))

    def swap(self) -> None:
        self.step = f"replacing schema {self.schema} with {self.staging}"
        self.run(_statements("swap", schema=sql.Identifier(self.schema), staging=sql.Identifier(self.staging)))


def connect(url: str) -> psycopg.Connection:
    """A connection to the publish target; the password from the URL, `ALMACEN_PUBLISH_PASSWORD` or `PGPASSWORD`."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise PublishError(f"publish: {safe_url(url)} is not a postgresql:// URL")
    conninfo = urlunsplit(("postgresql", *parts[1:]))
    extra: dict[str, Any] = {"connect_timeout": 10, "application_name": "almacen publish"}
    if not parts.password and os.environ.get("ALMACEN_PUBLISH_PASSWORD"):
        extra["password"] = os.environ["ALMACEN_PUBLISH_PASSWORD"]
    try:
        return psycopg.connect(conninfo, **extra)
    except psycopg.Error as exc:
        raise PublishError(f"publish: cannot connect to PostgreSQL at {safe_url(url)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def publish(lake: Lake, url: str, *, schema: str = "almacen", users: Sequence[Any] | None = None,
            actor: str = "system") -> Publication:
    """Publish every gold table of `lake` into `schema` at `url`, all or nothing, and audit it.

    Args:
        lake: the lake whose gold tables are copied.
        url: `postgresql://user@host:port/db`; the publishing role needs CREATE on the database and CREATEROLE.
        schema: the published schema, replaced whole on each publish.
        users: the almacen users to give roles (default: `Users(lake).list()`).
        actor: who published, for the audit log.

    Raises:
        PublishError: nothing to publish, PostgreSQL unreachable or refusing a step; nothing changed there.
    """
    started = time.perf_counter()
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise PublishError(f"publish: schema {schema!r} must be a lower-case identifier of at most 48 characters")
    tables = gold_tables(lake)
    if not tables:
        raise PublishError(f"publish: no gold tables in {lake.path('gold.x').rsplit('/', 1)[0]}: run `almacen build` first")
    if users is None:
        from almacen.security import Users

        users = Users(lake).list()
    target = safe_url(url)
    with connect(url) as conn:
        publisher = _Publisher(conn, lake, schema)
        try:
            with conn.transaction():
                publisher.stage()
                counts = {name: publisher.copy_table(name) for name in tables}
                user_roles = publisher.grant_roles(users)
                publisher.secure(counts)
                publisher.swap()
        except psycopg.Error as exc:
            raise PublishError(f"publish to {target}: {publisher.step}: {_first_line(exc)}; nothing was published") from None
    branch_roles = {b: role_name("branch", b) for b in sorted(publisher.branches)}
    from almacen.security import AuditLog

    AuditLog(lake).record(actor, "publish", target=target, details={"schema": schema, "tables": counts})
    return Publication(target, schema, counts, branch_roles, user_roles, round(time.perf_counter() - started, 3))
