"""The one settings object: `almacen.toml` overlaid by `ALMACEN_*` environment variables.

Secrets never live in the file: a branch names the variable that holds its password
(`password_env`), and the pseudonymisation key comes from `ALMACEN_PSEUDONYM_KEY`.
"""

from __future__ import annotations

import functools
import os
import tomllib
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from sqlalchemy.engine import make_url

from almacen.errors import AlmacenError
from almacen.lake.tables import private_files
from almacen.config.messaging import MessagingSettings
from almacen.config.serve import ServeSettings
from almacen.config.spark import SparkSettings
from almacen.config.stream import StreamSettings

CONFORMED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sales": ("sale_id", "sold_at", "updated_at", "channel", "payment_type", "status", "customer_id", "total"),
    "sales_lines": ("sale_id", "line_no", "product_id", "sku", "quantity", "unit_price", "amount", "updated_at"),
}
"""The columns each source-table role maps onto; a lines table maps `product_id` or `sku` (or both)."""


DEMO_PSEUDONYM_KEY = b"almacen-demo-key-not-secret"
"""the public pseudonymisation key of demo mode: a lake written with it is marked as a demo lake"""


class ConfigError(AlmacenError, ValueError):
    """The configuration is unusable; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(name: str | None) -> str | None:
    """An IANA time zone name (`America/Argentina/Buenos_Aires`, `UTC`), or None."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. America/Argentina/Buenos_Aires, UTC)") from None
    return name


def _check_url(url: str, where: str) -> str:
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise ValueError(
            f"{where}: {url!r} is not a database URL (expected e.g. postgresql://user@host:5432/db)"
        ) from exc
    if parsed.password:
        raise ValueError(
            f"{where}: the URL contains a password; put it in an environment variable and name it in password_env"
        )
    return url


class SourceTable(_Strict):
    """One table of a point-of-sale schema: how to pull an hour of it and how its columns conform."""

    role: Literal["sales", "sales_lines"]
    cursor: str = Field(description="column whose value places a row in an hourly cut (usually updated_at)")
    key: list[str] = Field(min_length=1, description="source key columns")
    query: str | None = Field(
        default=None, description="SQL template with :start and :end; default selects the table by cursor"
    )
    columns: dict[str, str] = Field(description="conformed column -> source column or DuckDB SQL expression over them")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="conformed column -> source code -> value"
    )
    timezone: str | None = Field(
        default=None, description="IANA zone the table's timestamps are written in; default: the branch's"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return _check_zone(v)

    @model_validator(mode="after")
    def _conforms(self) -> SourceTable:
        allowed = set(CONFORMED_COLUMNS[self.role])
        unknown = sorted(set(self.columns) - allowed)
        if unknown:
            raise ValueError(f"columns {unknown} are not {self.role} columns; expected some of {sorted(allowed)}")
        required = allowed - {"product_id", "sku", "customer_id"}
        missing = sorted(required - set(self.columns))
        if missing:
            raise ValueError(f"a {self.role} table must map {missing}")
        if self.role == "sales_lines" and not {"product_id", "sku"} & set(self.columns):
            raise ValueError("a sales_lines table must map product_id or sku")
        if self.query is not None and (":start" not in self.query or ":end" not in self.query):
            raise ValueError("query must use both :start and :end")
        return self


class PosControl(_Strict):
    """A POS's control report, written apart from its mapping: two SQL queries over its raw tables, in its
    own columns and codes, with :start and :end (see docs/reconciliation.md for the columns they return)."""

    sales: str = Field(
        description="every sale issued in [:start, :end): sale_id, sold_at, updated_at, approved, "
        "status, channel, payment_type"
    )
    lines: str = Field(
        description="every line of those sales: sale_id, line_no, sku or product_id, quantity, unit_price, amount"
    )

    @model_validator(mode="after")
    def _windowed(self) -> PosControl:
        for part in ("sales", "lines"):
            if ":start" not in getattr(self, part) or ":end" not in getattr(self, part):
                raise ValueError(f"control.{part} must use both :start and :end")
        return self


class PosSchema(_Strict):
    """A point-of-sale product's tables, keyed by source table name, and its control report."""

    tables: dict[str, SourceTable]
    control: PosControl | None = Field(
        default=None, description="the control report reconciliation compares gold with; built-in schemas ship theirs"
    )

    @model_validator(mode="after")
    def _has_roles(self) -> PosSchema:
        roles = sorted(t.role for t in self.tables.values())
        if roles != ["sales", "sales_lines"]:
            raise ValueError(f"needs exactly one sales and one sales_lines table, has roles {roles}")
        return self

    def table_for(self, role: str) -> tuple[str, SourceTable]:
        return next((name, t) for name, t in self.tables.items() if t.role == role)


class Branch(_Strict):
    """A store branch and the database its point of sale writes to."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    city: str
    province: str
    url: str
    password_env: str | None = None
    pos_schema: str
    enabled: bool = True
    timezone: str = Field(
        default="UTC",
        description="IANA zone the branch's POS writes its timestamps in (a local-time POS: "
        "America/Argentina/Buenos_Aires); a source table may override it",
    )
    lookback_hours: int | None = Field(default=None, ge=0, le=168, description="overrides the top-level lookback_hours")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _check_zone(v) or "UTC"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str, info) -> str:
        return _check_url(v, f"branch {info.data.get('id', '?')}")


class Catalog(_Strict):
    """The product master (head-office ERP), read whole on each extraction run."""

    url: str
    password_env: str | None = None
    query: str = "SELECT id_articulo AS product_id, sku, descripcion AS name, rubro AS category, precio_lista AS price FROM articulos"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, "catalog")


class Settings(BaseSettings):
    """Everything almacen needs to run; see docs/configuration.md for each key."""

    model_config = SettingsConfigDict(
        env_prefix="ALMACEN_", env_nested_delimiter="__", extra="forbid", frozen=True, toml_file="almacen.toml"
    )

    lake: str = "./lakehouse"
    timezone: str = "America/Argentina/Buenos_Aires"
    engine: Literal["duckdb", "spark"] = "duckdb"
    demo: bool = False
    pseudonym_key: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        default=None, description="signs session cookies (ALMACEN_SECRET_KEY, 32+ bytes)"
    )
    audit_key: SecretStr | None = Field(
        default=None, description="keys the audit log's MAC chain (ALMACEN_AUDIT_KEY, 32+ bytes)"
    )
    audit_anchor: str = Field(
        default="",
        description="file the audit log's signed checkpoints go to (default <lake>/_system/"
        "audit.anchor); put it where the lake's writers cannot write",
    )
    file_umask: str = Field(
        default="077",
        pattern=r"^0?[0-7]{3}$",
        description="umask of every file and folder almacen "
        "creates (default owner-only: the lake holds raw personal data, password hashes, the audit log)",
    )
    max_workers: int = Field(default=8, ge=1, le=64)
    commit_rows: int = Field(default=250_000, ge=1, description="rows read before the pending slices are committed")
    future_tolerance_minutes: int = Field(default=5, ge=0)
    lookback_hours: int = Field(
        default=0,
        ge=0,
        le=168,
        description="every extraction run also re-reads the last N hours "
        "(dlt's lag), so corrections that do not move the cursor are picked up",
    )
    settle_hours: int = Field(
        default=3,
        ge=0,
        le=168,
        description="an empty hour of a branch that normally sells then is "
        "read again until the source is this many hours past it",
    )
    catalog: Catalog | None = None
    branches: list[Branch] = Field(default_factory=list)
    pos_schemas: dict[str, PosSchema] = Field(default_factory=dict)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _references(self) -> Settings:
        known = set(self.schemas())
        for b in self.branches:
            if b.pos_schema not in known:
                raise ValueError(f"branch {b.id}: pos_schema {b.pos_schema!r} is not defined; known: {sorted(known)}")
        ids = [b.id for b in self.branches]
        if len(ids) != len(set(ids)):
            raise ValueError(f"branch ids must be unique, got {ids}")
        return self

    def schemas(self) -> dict[str, PosSchema]:
        """Built-in POS schemas overlaid by the ones defined in the config."""
        return {**builtin_pos_schemas(), **self.pos_schemas}

    def branch(self, branch_id: str) -> Branch:
        for b in self.branches:
            if b.id == branch_id:
                return b
        raise ConfigError(f"no branch {branch_id!r} in the config; known: {[b.id for b in self.branches]}")

    def key(self) -> bytes:
        """The pseudonymisation key; demo mode falls back to a fixed, public one."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        if self.demo:
            return DEMO_PSEUDONYM_KEY
        raise ConfigError("ALMACEN_PSEUDONYM_KEY is not set: customer identities cannot be pseudonymised without it")


@functools.cache
def builtin_pos_schemas() -> dict[str, PosSchema]:
    """The POS schemas almacen ships a mapping for (src/almacen/sources/pos_schemas/*.toml)."""
    folder = resources.files("almacen.sources") / "pos_schemas"
    return {
        f.name.removesuffix(".toml"): PosSchema.model_validate(tomllib.loads(f.read_text(encoding="utf-8")))
        for f in folder.iterdir()
        if f.name.endswith(".toml")
    }


def source_zone(branch: Branch, table: SourceTable | None = None) -> ZoneInfo:
    """The zone a branch's source table writes its timestamps in: the table's, else the branch's (default UTC)."""
    return ZoneInfo((table.timezone if table is not None else None) or branch.timezone)


def resolve_url(url: str, password_env: str | None, where: str) -> str:
    """The URL with its password filled in from the named environment variable."""
    if password_env is None:
        return url
    password = os.environ.get(password_env)
    if password is None:
        raise ConfigError(f"{where}: environment variable {password_env} (its password) is not set")
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def load_config(path: str | Path | None = None, **overrides) -> Settings:
    """Read settings from `path` (default `$ALMACEN_CONFIG` or ./almacen.toml) and the environment.

    Also sets the process umask to `file_umask` (owner-only by default): every command loads its
    settings first, so everything it writes to the lake is private to the service account."""
    path = Path(path or os.environ.get("ALMACEN_CONFIG", "almacen.toml"))
    if not path.exists() and (path.name != "almacen.toml" or "ALMACEN_CONFIG" in os.environ):
        raise ConfigError(f"config file {path} does not exist")
    try:
        tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a folder, unreadable, not text
        raise ConfigError(f"config file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        settings = _FromFile(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + _explain(exc)) from None
    private_files(settings.file_umask)
    return settings


def _explain(exc: ValidationError) -> str:
    """One line per problem, naming the key: what a user can act on."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)
