"""`almacen publish`: the gold marts copied into a PostgreSQL schema with roles and row-level security.

BI tools (Tableau, Power BI, Metabase, Superset) then connect with ordinary PostgreSQL credentials
and each role reads exactly what its almacen scope allows. Guarantees:

- Every table is published under the access scope declared beside its definition
  (almacen.lake.access): `branch` (forced row-level security on branch_id), `client` (the same on
  client_id), `admin` (the admin group only) or `public` (every reader). A gold table without a
  declaration stops the publish before anything is sent: there is no default grant. SELECT is
  granted table by table to the groups of its scope, never on all tables of the schema.
- All or nothing: one transaction builds a fresh staging schema (tables streamed in with
  `COPY … FROM STDIN`, keys, indexes, policies, grants), replaces the published schema with it and
  commits. Any failure rolls back: the previously published schema stays exactly as it was, and no
  staging schema or role change remains.
- Roles, NOLOGIN, cluster-wide and kept between publishes: `almacen_reader` (USAGE on the schema,
  the public dimensions), the groups `almacen_all_branches`, `almacen_branch_<id>`,
  `almacen_all_clients`, `almacen_client_<id>` and `almacen_admin` (each a member of the reader), and
  `almacen_user_<username>` per almacen user, member of the groups of its almacen role (USER_GROUPS).
  A user gone (or now an auditor) since any earlier publish to any schema of the database loses its
  groups and its LOGIN. Publish never sets a password or LOGIN: the operator does (docs/bi.md).
- The bookkeeping tables: `_publication` (row counts and scope per table), `_branch_roles` and
  `_client_roles` are for the admin group only, `_users` for the publisher only, `_freshness` (when)
  for every reader.
- The password comes from the URL, `ALMACEN_PUBLISH_PASSWORD` or `PGPASSWORD`, and is never printed,
  logged or audited.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from almacen.errors import AlmacenError
from almacen.lake import Access, Declaration, Lake, declared
from almacen.serve.pg_types import csv_ready, pg_type
from almacen.sql import load_sql

READER = "almacen_reader"
"""USAGE on the schema and SELECT on the public dimensions; every other almacen group is a member"""
ALL_BRANCHES = "almacen_all_branches"
ALL_CLIENTS = "almacen_all_clients"
ADMIN = "almacen_admin"
"""the admin-only tables and the bookkeeping ones (but `_users`)"""
BRANCH_PREFIX = "almacen_branch_"
CLIENT_PREFIX = "almacen_client_"
USER_PREFIX = "almacen_user_"
GROUPS = (READER, ALL_BRANCHES, ALL_CLIENTS, ADMIN)
USER_GROUPS: dict[str, frozenset[str]] = {
    "admin": frozenset({ALL_BRANCHES, ALL_CLIENTS, ADMIN}),
    "analyst": frozenset({ALL_BRANCHES}),
    "branch_manager": frozenset(),  # and the role of each branch assigned
}
"""the groups the PostgreSQL role of a user of each almacen role joins (a branch manager: the roles of its
branches); an almacen role absent here (auditor) gets no PostgreSQL role, as it sees no sales in the app"""
SCOPE_GROUPS = {Access.BRANCH: ALL_BRANCHES, Access.CLIENT: ALL_CLIENTS}
BOOKKEEPING = {"_publication": ADMIN, "_branch_roles": ADMIN, "_client_roles": ADMIN, "_freshness": READER}
"""who reads each bookkeeping table (`_users`: only the publisher)"""

INDEXED = ("date", "branch_id", "client_id")
BATCH_ROWS = 100_000
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")


class PublishError(AlmacenError, RuntimeError):
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
    client_roles: dict[str, str] = dataclasses.field(default_factory=dict)
    access: dict[str, str] = dataclasses.field(default_factory=dict)
    """each table's access scope (`branch`, `client`, `admin`, `public`)"""


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
        names = [
            i.base_name
            for i in filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
            if i.type == pafs.FileType.Directory
        ]
    else:
        names = [p.name for p in Path(root).iterdir() if p.is_dir()] if Path(root).is_dir() else []
    return sorted(n for n in names if not n.startswith(("_", ".")) and lake.exists(f"gold.{n}"))


def scopes(lake: Lake, tables: Sequence[str], access: Mapping[str, Declaration]) -> dict[str, Declaration]:
    """Each gold table's access declaration; a PublishError naming every table without one (or without
    the column its scope cuts rows by), before anything is sent: a table is never published by default."""
    missing = [f"gold.{t}" for t in tables if f"gold.{t}" not in access]
    if missing:
        raise PublishError(
            f"publish: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no access scope: declare who may "
            "read it beside its definition, with a first line `-- access: branch|client|admin|public` in its "
            'gold SQL model, or `define(Table("gold.<name>", Access.<SCOPE>, ...))` (almacen.lake) beside the '
            "code of a table Python writes; nothing was published"
        )
    found = {t: access[f"gold.{t}"] for t in tables}
    for name, d in found.items():
        data = lake.dataset(f"gold.{name}")
        if d.column and (data is None or d.column not in data.schema.names):
            raise PublishError(
                f"publish: gold.{name} is declared {d.access}-scoped by {d.column} but has no {d.column} "
                "column; nothing was published"
            )
    return found


def _pg_type(field: pa.Field) -> str:
    """`pg_type`, its refusal of an uncopyable column as a PublishError (nothing is published then)."""
    try:
        return pg_type(field)
    except TypeError as exc:
        raise PublishError(str(exc)) from None


def _statements(name: str, **identifiers: sql.Composable) -> list[sql.Composed]:
    """The statements of `publish_<name>.sql`, with {placeholders} filled by quoted identifiers or literals."""
    text = _query(name)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [sql.SQL(s.strip()).format(**identifiers) for s in body.split(";\n") if s.strip().rstrip(";")]


def _query(name: str) -> str:
    """The text of `publish_<name>.sql` (beside this module)."""
    return load_sql("almacen.serve", f"publish_{name}.sql")


class _Publisher:
    """One publish transaction, step by step; `step` says where a failure happened."""

    def __init__(self, conn: psycopg.Connection, lake: Lake, schema: str, scopes: Mapping[str, Declaration]) -> None:
        self.conn, self.lake, self.schema, self.staging = conn, lake, schema, f"{schema}_staging"
        self.scopes = scopes
        self.step = "starting"
        self.branches: set[str] = set()
        self.clients: set[str] = set()
        """the keys rows are cut by, as the scoped tables hold them: each gets a role"""

    def run(self, stmts: Iterable[sql.SQL | sql.Composed]) -> None:
        with self.conn.cursor() as cur:
            for stmt in stmts:
                cur.execute(stmt)

    def stage(self) -> None:
        self.step = f"creating the staging schema {self.staging}"
        self.run(
            [
                sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
                    sql.Literal("almacen publish " + self.schema)
                ),
                sql.SQL("SET LOCAL lock_timeout = '60s'"),
                sql.SQL("SET LOCAL TimeZone = 'UTC'"),
            ]
        )
        self.run(_statements("stage", staging=sql.Identifier(self.staging)))

    def copy_table(self, name: str) -> int:
        """Create `staging.name` from the gold table's Arrow schema and stream its rows in with COPY (CSV)."""
        self.step = f"copying gold.{name} into {self.staging}.{name}"
        data = self.lake.dataset(f"gold.{name}")
        assert data is not None  # `gold_tables` listed it as a table of the lake
        schema = data.schema
        target = sql.Identifier(self.staging, name)
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_pg_type(f))) for f in schema
        )
        self.run([sql.SQL("CREATE TABLE {} ({})").format(target, columns)])
        copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, schema.names))
        )
        rows, scope = 0, self.scopes[name]
        keys = {Access.BRANCH: self.branches, Access.CLIENT: self.clients}.get(scope.access)
        options = pacsv.WriteOptions(include_header=False)
        with self.conn.cursor() as cur, cur.copy(copy) as pipe:
            for batch in data.to_batches(batch_size=BATCH_ROWS):
                if batch.num_rows == 0:
                    continue
                buffer = io.BytesIO()
                pacsv.write_csv(csv_ready(batch), buffer, write_options=options)
                pipe.write(buffer.getbuffer())
                rows += batch.num_rows
                if keys is not None and scope.column:
                    keys.update(str(k) for k in pc.unique(batch.column(scope.column)).to_pylist() if k is not None)
        self.step = f"adding keys and indexes to {self.staging}.{name}"
        key = scope.keys  # the grain declared with the table (catalog entry or `-- keys:` header)
        if key and set(key) <= set(schema.names):
            self.run(
                [
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        target, sql.SQL(", ").join(map(sql.Identifier, key))
                    )
                ]
            )
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
            cur.execute(
                _query("memberships"),
                {
                    "members": list(members),
                    "groups": list(GROUPS),
                    "branch_prefix": BRANCH_PREFIX,
                    "client_prefix": CLIENT_PREFIX,
                },
            )
            found: dict[str, set[str]] = {m: set() for m in members}
            for member, group in cur.fetchall():
                found[member].add(group)
            return found

    def previous_user_roles(self) -> set[str]:
        """The user roles any almacen publication in this database gave groups to: the `_users` table of
        every schema published earlier (the one being replaced, and any other `--schema`)."""
        self.step = "reading the users earlier publishes gave roles to"
        with self.conn.cursor() as cur:
            cur.execute(_query("published"), {"staging": self.staging})
            schemas = [s for (s,) in cur.fetchall()]
            found: set[str] = set()
            for schema in schemas:
                self.step = f"reading the users published in schema {schema}"
                cur.execute(
                    sql.SQL("SELECT role_name FROM {} WHERE starts_with(role_name, %s)").format(
                        sql.Identifier(schema, "_users")
                    ),
                    [USER_PREFIX],
                )
                found.update(r for (r,) in cur.fetchall())
            return found

    def grant_roles(self, users: Sequence[Any]) -> dict[str, str]:
        """Branch, client and user roles, their groups, and the mapping tables; returns username -> role."""
        self.step = "granting roles"
        wanted: dict[str, set[str]] = {}
        rows = []
        for user in users:
            joins = USER_GROUPS.get(str(user.role))
            if joins is None:
                continue
            role = role_name("user", user.username)
            wanted[role] = set(joins)
            if str(user.role) == "branch_manager":
                wanted[role] |= {role_name("branch", b) for b in user.branches}
                self.branches.update(user.branches)
            rows.append((user.username, role, str(user.role), sorted(user.branches)))
        branch_roles = {b: role_name("branch", b) for b in sorted(self.branches)}
        client_roles = {c: role_name("client", c) for c in sorted(self.clients)}
        groups = [ALL_BRANCHES, ALL_CLIENTS, ADMIN, *branch_roles.values(), *client_roles.values()]
        self.ensure_roles([READER, *groups, *wanted])
        self.step = f"making the almacen groups members of {READER}"
        self.run([sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER), sql.Identifier(g)) for g in groups])
        gone = sorted(self.previous_user_roles() - wanted.keys())
        current = self.memberships([*wanted, *gone])
        for role, groups_now in current.items():
            target = wanted.get(role, set())
            stmts = [
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(g), sql.Identifier(role))
                for g in sorted(target - groups_now)
            ]
            stmts += [
                sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(g), sql.Identifier(role))
                for g in sorted(groups_now - target)
            ]
            self.step = f"granting {role} its groups"
            self.run(stmts)
        self.disable_logins(gone)
        with self.conn.cursor() as cur:
            for table, mapping in (("_branch_roles", branch_roles), ("_client_roles", client_roles)):
                cur.executemany(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(sql.Identifier(self.staging, table)),
                    list(mapping.items()),
                )
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(sql.Identifier(self.staging, "_users")), rows
            )
        return {username: role for username, role, _, _ in rows}

    def disable_logins(self, roles: Sequence[str]) -> None:
        """NOLOGIN for the roles of users gone that an operator had given a login."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND rolcanlogin ORDER BY 1", [list(roles)]
            )
            for (role,) in cur.fetchall():
                self.step = f"removing the login of {role}, whose user is gone"
                cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))

    def secure(self, tables: dict[str, int]) -> None:
        """Row-level security on every branch- and client-scoped table, then SELECT per table by its scope."""
        with self.conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, now())").format(
                    sql.Identifier(self.staging, "_publication")
                ),
                [(name, str(self.scopes[name].access), rows) for name, rows in tables.items()],
            )
            cur.execute(sql.SQL("INSERT INTO {} VALUES (now())").format(sql.Identifier(self.staging, "_freshness")))
        keys = {
            Access.BRANCH: {b: role_name("branch", b) for b in sorted(self.branches)},
            Access.CLIENT: {c: role_name("client", c) for c in sorted(self.clients)},
        }
        readers: dict[str, list[str]] = {}
        for name in tables:
            scope = self.scopes[name]
            if scope.access in SCOPE_GROUPS:
                self.step = f"enabling row-level security on {self.staging}.{name}"
                pairs = keys[scope.access]
                values = (
                    sql.SQL(", ").join(
                        sql.SQL("({}, {})").format(sql.Literal(k), sql.Literal(r)) for k, r in pairs.items()
                    )
                    if pairs
                    else sql.SQL("(NULL::text, NULL::text)")
                )
                self.run(
                    _statements(
                        "policy",
                        table=sql.Identifier(self.staging, name),
                        policy=sql.Identifier(f"{scope.access}_scope"),
                        column=sql.Identifier(str(scope.column)),
                        all_group=sql.Literal(SCOPE_GROUPS[scope.access]),
                        roles=values,
                    )
                )
                readers[name] = [SCOPE_GROUPS[scope.access], *pairs.values()]
            else:
                readers[name] = [ADMIN if scope.access is Access.ADMIN else READER]
        readers.update({table: [group] for table, group in BOOKKEEPING.items()})
        self.step = f"revoking what {self.staging} was created with beyond its owner"
        with self.conn.cursor() as cur:
            cur.execute(_query("acls"), {"staging": self.staging})
            inherited = cur.fetchall()
        self.run(
            sql.SQL("REVOKE ALL ON {} {} FROM {}").format(
                sql.SQL("SCHEMA" if table is None else "TABLE"),
                sql.Identifier(self.staging) if table is None else sql.Identifier(self.staging, table),
                sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee),
            )
            for table, grantee in inherited
        )
        self.step = "granting each table's readers by its access scope"
        self.run(_statements("grants", staging=sql.Identifier(self.staging), reader=sql.Identifier(READER)))
        by_readers: dict[tuple[str, ...], list[str]] = {}
        for table, granted in readers.items():
            by_readers.setdefault(tuple(granted), []).append(table)
        for granted_to, names in by_readers.items():
            self.run(
                _statements(
                    "select",
                    tables=sql.SQL(", ").join(sql.Identifier(self.staging, n) for n in names),
                    roles=sql.SQL(", ").join(map(sql.Identifier, granted_to)),
                )
            )

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


def publish(
    lake: Lake,
    url: str,
    *,
    schema: str = "almacen",
    users: Sequence[Any] | None = None,
    actor: str = "system:publish",
    access: Mapping[str, Declaration] | None = None,
    audit: Any | None = None,
) -> Publication:
    """Publish every gold table of `lake` into `schema` at `url`, all or nothing, and audit it.

    Args:
        lake: the lake whose gold tables are copied.
        url: `postgresql://user@host:port/db`; the publishing role needs CREATE on the database and CREATEROLE.
        schema: the published schema, replaced whole on each publish.
        users: the almacen users to give roles (default: `Users(lake).list()`).
        actor: who published, for the audit log (the CLI: `cli:<os user>`).
        audit: the AuditLog to record in (the CLI's `audit_log(settings)`, with the configured key and
            anchor); default: the lake's, keyed from ALMACEN_AUDIT_KEY.
        access: each table's access declaration by `gold.<name>`; default: the registry as the modules
            imported so far filled it (`almacen.domains.access()` imports every one first: the CLI passes it).

    Raises:
        PublishError: nothing to publish, a gold table without an access scope, PostgreSQL unreachable
            or refusing a step; nothing changed there.
    """
    started = time.perf_counter()
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise PublishError(f"publish: schema {schema!r} must be a lower-case identifier of at most 48 characters")
    tables = gold_tables(lake)
    if not tables:
        raise PublishError(
            f"publish: no gold tables in {lake.path('gold.x').rsplit('/', 1)[0]}: run `almacen build` first"
        )
    scoped = scopes(lake, tables, declared() if access is None else access)
    if users is None:
        from almacen.security import Users

        users = Users(lake).list()
    target = safe_url(url)
    with connect(url) as conn:
        publisher = _Publisher(conn, lake, schema, scoped)
        try:
            with conn.transaction():
                publisher.stage()
                counts = {name: publisher.copy_table(name) for name in tables}
                user_roles = publisher.grant_roles(users)
                publisher.secure(counts)
                publisher.swap()
        except psycopg.Error as exc:
            raise PublishError(
                f"publish to {target}: {publisher.step}: {_first_line(exc)}; nothing was published"
            ) from None
    branch_roles = {b: role_name("branch", b) for b in sorted(publisher.branches)}
    client_roles = {c: role_name("client", c) for c in sorted(publisher.clients)}
    scope_names = {name: str(d.access) for name, d in scoped.items()}
    from almacen.security import AuditLog

    (audit or AuditLog(lake)).record(
        actor, "publish", target=target, details={"schema": schema, "tables": counts, "access": scope_names}
    )
    return Publication(
        target,
        schema,
        counts,
        branch_roles,
        user_roles,
        round(time.perf_counter() - started, 3),
        client_roles,
        scope_names,
    )
