"""What a domain adds to the server, as data: its pages, its API router, and its mart (the lake tables the
server holds in memory and the datasets it computes over them).

The server knows no business: `create_app(settings, site=...)` serves its own pages (login, data quality,
audit) and API (/api/me, /api/quality, /api/audit, exports, user unlock), plus whatever the `Site` it is
given holds. `almacen.domain.Registry.site()` builds that `Site` from the registered domains; the server
never imports a domain (nor `almacen.domain`, which sits above it).

This module imports no web framework, so a domain declares its pages without loading one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from almacen.security import Permission

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Page:
    """One dashboard page at `/<path>`: a shell whose tables and charts come from /api (static/app.js).

    Shown in the navigation, and opened, for users whose role holds `permission`; anyone else gets the
    "your role cannot open this page" page (403), and a visitor not logged in is sent to the login form."""

    path: str
    """the page's URL path without the slash, e.g. `sales`"""
    template: str
    """its Jinja template: a file of the domain's `templates` folder (it may extend the core's `base.html`);
    in a `Site`, qualified by the domain's name (`sales/sales.html`)"""
    permission: Permission
    label: str
    """the text key (almacen.serve.i18n) of its title and navigation link; also the page's `data-page`"""
    script: str | None = None
    """a file of the domain's `static` folder that draws the page, loaded after the server's app.js (which
    it registers its drawing with: `almacen.page(label, draw)`); in a `Site`, qualified `<domain>/<file>`"""


@dataclass(frozen=True)
class Held:
    """A lake table the server holds in memory, reloaded when its Delta version moves."""

    name: str
    """`layer.table`; a gold table must be declared branch-scoped or public (the server cuts by branch only)"""
    empty: pa.Schema | None = None
    """None: required, the server answers 503 naming `almacen build` until it exists; a schema: served
    empty until it exists"""
    recent: tuple[str, timedelta] | None = None
    """`(column, span)`: hold only the rows whose timestamp `column` is within `span` of the clock's
    minute (a fast-growing table of which the pages show the last minutes); needs `empty`"""


@dataclass(frozen=True)
class Dataset:
    """A named question the pages, the API and the exports ask: `Marts.read(user, name, filters, **options)`.

    `compute(marts, filters, branches, **options)` answers it over the held tables (`Marts.query`), with
    `filters` already cut to the user's scope and `branches` the branch ids the user may see (None: all)."""

    name: str
    permission: Permission
    compute: Callable[..., pa.Table]
    filtered: bool = False
    """takes the dashboard filters (from, to, branch, category, channel, payment_type)"""
    default_days: int = 30
    """how many days a request that names no range asks, ending on the latest day with data"""
    options: Callable[..., dict[str, Any]] | None = None
    """a FastAPI dependency (plain function, its parameters annotated as query parameters) returning the
    dataset's options beyond the filters; its routes and its export take them"""
    cached: bool = False
    """its answer depends only on the held tables, the scoped filters and the options: kept until a reload"""
    per_minute: bool = False
    """its answer also moves with the clock's minute (a cached answer is kept within the minute only)"""
    exported: bool = True
    """offered as /api/export/<name>.csv and .xlsx"""


@dataclass(frozen=True)
class Mart:
    """What one domain serves from the lake: the tables held, the datasets computed over them, and what its
    filters accept. The server's own mart (runs, freshness, quarantine, reconciliation) is one too."""

    name: str
    tables: tuple[Held, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    latest: str | None = None
    """SQL of the last business date with data (one row, column `d`) over `$branches` (NULL: every
    branch): where a filtered request that names no range ends; None: the clock's date"""
    vocabularies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """the closed values a filter accepts, by filter name (`channel`, `payment_type`)"""
    quarantined: tuple[str, ...] = ()
    """the domain's `quarantine.<table>` names: read on a remote lake, whose folders cannot be listed"""


@dataclass(frozen=True)
class Site:
    """What the domains add to the server; `almacen.domain.Registry.site()` builds it from the registry."""

    routers: tuple[Any, ...] = ()
    """FastAPI `APIRouter`s, mounted under /api (each route refuses unknown query parameters)"""
    pages: tuple[Page, ...] = ()
    """in navigation order, before the server's own (quality, audit); templates named `<domain>/<file>`"""
    templates: Mapping[str, Traversable] = field(default_factory=dict)
    """domain name -> the folder its pages' templates are read from"""
    static: Mapping[str, Traversable] = field(default_factory=dict)
    """domain name -> the folder served at /static/<domain>/ (its pages' scripts)"""
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """language -> text key -> text: the domains' page texts, beside the server's (almacen.serve.i18n)"""
    marts: tuple[Mart, ...] = ()
