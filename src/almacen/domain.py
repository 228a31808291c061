"""The domain contract: what a business domain gives the core to run, as data and small functions.

A domain (sales, messaging, and the ones to come) is one package under `almacen/domains/` that builds
one `Domain` value; `almacen/domains/__init__.py` lists them in a `Registry`, which the CLI and the
server read. The core never imports a domain: whatever of a domain a core function needs (a stream
kind, model folders, access declarations) is handed to it by the caller that holds the registry.

What a domain declares:

- `tables`: the catalog entries of the tables its Python code writes (`almacen.lake.Table`: schema,
  keys, partitioning, personal columns, access scope); its gold SQL models declare theirs in a header;
- `streams`: its stream kinds (`almacen.ingest.kinds.StreamKind`), run by `almacen stream <name>`;
- `models`: folders of SQL models, each with `silver/` and `gold/` subfolders (`almacen.models`);
- `extraction`: its part of the hourly extraction of the branches' databases (`ingest.extract.Extraction`:
  what is prepared first, what is committed);
- `reconcile`: `"module:function"` of its reconciliation against its sources, `(settings, start, end)` ->
  a result whose `ok` is false on an unexplained difference (its command then exits 1);
- `cli`: `"module:function"` of a function that adds the domain's commands to the `almacen` app;
- `routes`: `"module:attribute"` of a FastAPI `APIRouter` the server mounts under /api;
- `pages`: its dashboard pages (`almacen.serve.site.Page`), their templates in the folder `templates`,
  their scripts in the folder `static`, their words in `texts`;
- `marts`: `"module:attribute"` of its `almacen.serve.site.Mart`: the lake tables the server holds and
  the datasets (SQL) it answers over them, with the values its filters accept.

The `"module:attr"` references are loaded only when asked for, so importing the registry costs no web
framework in the CLI and no command parser in the server. The server reads all of it as one
`almacen.serve.site.Site` (`Registry.site`): it imports neither this module nor a domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

from almacen.errors import NotFound
from almacen.ingest.extract import Extraction
from almacen.ingest.kinds import StreamKind
from almacen.lake import Declaration, Table, declared, define
from almacen.models import declare_access
from almacen.serve.site import Page, Site


@dataclass(frozen=True)
class Domain:
    """One business domain, as the core sees it."""

    name: str
    """the package's name under `almacen.domains` (and how the docs and the registry call it)"""
    tables: tuple[Table, ...] = ()
    """the tables its Python code writes, each defined once (`almacen.lake.Table`)"""
    streams: tuple[StreamKind, ...] = ()
    models: tuple[Traversable, ...] = ()
    """folders holding `silver/*.sql` and `gold/*.sql` models"""
    extraction: Extraction | None = None
    """what the hourly extraction does with the branch POS rows it read (`almacen.ingest.extract.Extraction`)"""
    reconcile: str | None = None
    """`module:function` of its reconciliation: `(settings, start, end)` -> a result with `ok`"""
    cli: str | None = None
    """`module:function`; the function takes the `almacen` Typer app and adds the domain's commands"""
    routes: str | None = None
    """`module:attribute` of the domain's FastAPI router, mounted under /api"""
    pages: tuple[Page, ...] = ()
    """its dashboard pages, in navigation order; each `Page.template` is a file of `templates`"""
    templates: Traversable | None = None
    """the folder of its pages' Jinja templates (they may extend and include the server's, e.g. `base.html`)"""
    static: Traversable | None = None
    """the folder served at /static/<name>/: its pages' scripts (`Page.script`)"""
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """language (`es`, `en`) -> text key -> text: the words of its pages and their data (page titles included)"""
    marts: str | None = None
    """`module:attribute` of its `almacen.serve.site.Mart`: the tables the server holds and the datasets it serves"""


def load(reference: str) -> Any:
    """The object a `"module:attribute"` reference names (imported on first use)."""
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)


class Registry:
    """The domains almacen runs, and what the CLI and the server need from all of them at once."""

    def __init__(self, domains: Iterable[Domain]) -> None:
        self.domains = tuple(domains)
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"domains: a name is registered twice: {names}")
        kinds = [k.name for d in self.domains for k in d.streams]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"domains: a stream kind is registered twice: {kinds}")

    def __iter__(self) -> Iterator[Domain]:
        return iter(self.domains)

    def streams(self) -> Mapping[str, StreamKind]:
        """Every stream kind, by name."""
        return MappingProxyType({k.name: k for d in self.domains for k in d.streams})

    def stream(self, name: str) -> StreamKind:
        """The stream kind `name`; NotFound naming the known kinds otherwise."""
        kinds = self.streams()
        if name not in kinds:
            raise NotFound(f"stream: {name!r} is not a kind of stream; known: {', '.join(kinds)}")
        return kinds[name]

    def extraction(self) -> Extraction:
        """The domain part of the branch extraction (one domain owns the POS source role today)."""
        found = [d.extraction for d in self.domains if d.extraction]
        if len(found) != 1:
            raise NotFound(f"the branch extraction needs exactly one domain with an extraction, found {len(found)}")
        return found[0]

    def model_folders(self) -> tuple[Traversable, ...]:
        """Every domain's model folders, in registry order (the runner orders the models by dependency)."""
        return tuple(folder for d in self.domains for folder in d.models)

    def tables(self) -> Mapping[str, Table]:
        """Every domain's table definitions, by `layer.name` (each defined in the catalog on first call)."""
        tables = {t.name: define(t) for d in self.domains for t in d.tables}
        return MappingProxyType(tables)

    def access(self) -> Mapping[str, Declaration]:
        """The access declaration of each of these domains' tables, by `layer.name`: the tables they define
        and their gold models (a model without its header is left out, so `publish` refuses it). Only
        these domains': another registry's tables, declared in the same process, are not among them."""
        names = [*declare_access(self.model_folders()), *self.tables()]
        everything = declared()
        return MappingProxyType({name: everything[name] for name in names if name in everything})

    def reconcilers(self) -> Mapping[str, Any]:
        """Each domain's reconciliation function, by domain name (the domains that have one)."""
        return MappingProxyType({d.name: load(d.reconcile) for d in self.domains if d.reconcile})

    def routers(self) -> list[Any]:
        """The domains' FastAPI routers, in registry order."""
        return [load(d.routes) for d in self.domains if d.routes]

    def site(self) -> Site:
        """What the server serves of the domains (`almacen.serve.create_app(settings, site=...)`): their
        routers, pages (templates and scripts named `<domain>/<file>`), folders, texts and marts. Every
        table's access scope is declared first: the server refuses to hold a gold table without one.

        Raises:
            ValueError: a domain's pages lack their folder, or two domains give one text key."""
        self.access()
        texts: dict[str, dict[str, str]] = {}
        for d in self.domains:
            if (d.pages and d.templates is None) or (any(p.script for p in d.pages) and d.static is None):
                raise ValueError(f"domains: {d.name} declares pages without their templates or static folder")
            for language, words in d.texts.items():
                taken = set(texts.setdefault(language, {})) & set(words)
                if taken:
                    raise ValueError(f"domains: {d.name} gives the text keys {sorted(taken)} another domain gives")
                texts[language].update(words)
        pages = tuple(
            replace(p, template=f"{d.name}/{p.template}", script=p.script and f"{d.name}/{p.script}")
            for d in self.domains
            for p in d.pages
        )
        return Site(
            routers=tuple(self.routers()),
            pages=pages,
            templates={d.name: d.templates for d in self.domains if d.templates is not None},
            static={d.name: d.static for d in self.domains if d.static is not None},
            texts=texts,
            marts=tuple(load(d.marts) for d in self.domains if d.marts),
        )

    def install_cli(self, app: Any) -> None:
        """Add every domain's commands to the `almacen` Typer app."""
        for d in self.domains:
            if d.cli:
                load(d.cli)(app)
