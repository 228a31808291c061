"""The web application: pages, /api, static files, sessions and the errors users see.

The server knows no business: it serves its own pages and routes (login, data quality, audit, exports)
and whatever the `Site` it is given adds (`almacen.serve.site`: the domains' pages, routers and marts,
which `almacen.domain.Registry.site()` gathers). The CLI holds the registry and builds the app.

Every refused request (401, 403, 422, 429) and every failure (5xx) is audited as `access.denied` or
`request.failed` with who (the user when known, else `anonymous`), what, and from where; an unhandled
error answers a JSON 500 naming the audit entry, never a traceback, and never drops the connection.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from importlib import resources

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from almacen.clock import utc_now
from almacen.config import ConfigError, Settings
from almacen.errors import NotFound
from almacen.lake import Lake
from almacen.lake.tables import private_files
from almacen.security import Forbidden, LoginGuard, Tokens, Users, audit_log
from almacen.security.demo import refuse_demo_lake
from almacen.security.sessions import Sessions
from almacen.serve import api, pages
from almacen.serve.auth import NotLoggedIn, Services, authenticate, client_ip, trusted_networks
from almacen.serve.filters import BadFilter
from almacen.serve.i18n import texts_for
from almacen.serve.marts import Marts, NotBuilt
from almacen.serve.site import Site

log = logging.getLogger(__name__)
SESSION_COOKIE = "almacen_session"
MIN_SECRET_BYTES = 32
REFUSED = frozenset({401, 403, 422, 429})
"""statuses audited as access.denied (login failures are audited by the login form itself)"""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(
    settings: Settings,
    *,
    site: Site,
    tls: bool = False,
    clock: Callable[[], datetime] | None = None,
    guard: LoginGuard | None = None,
) -> FastAPI:
    """The dashboard and API over the configured lake, with the pages, routes and marts of `site` (an
    empty `Site()` serves the server's own alone). Sessions are signed with ALMACEN_SECRET_KEY (demo mode:
    a random key per start); cookies are Secure when `tls`.

    Raises:
        ConfigError: the signing key is missing or short.
        ValueError: two pages share a path, or two marts a dataset name.
        RuntimeError: a gold table of the marts has no access scope the server cuts by.
    """
    clock = clock or utc_now
    secret = _secret(settings)
    refuse_demo_lake(settings, "serve")
    private_files(settings.file_umask)
    lake = Lake(settings.lake)
    users = Users(lake)
    served = (*site.pages, *pages.CORE_PAGES)
    routes = pages.page_router(served)  # refuses two pages on one path before anything is opened
    marts = Marts(
        lake,
        marts=site.marts,
        branches={b.id: b.name for b in settings.branches},
        refresh_seconds=settings.serve.refresh_seconds,
        clock=clock,
    )
    svc = Services(
        lake=lake,
        marts=marts,
        pages=served,
        templates=pages.templates_for(site.templates),
        texts=texts_for(site.texts),
        users=users,
        tokens=Tokens(lake, users),
        audit=audit_log(settings, deferred_seconds=5.0),
        guard=guard or LoginGuard(),
        clock=clock,
        sessions=Sessions(lake, clock=clock),
        session_seconds=settings.serve.session_hours * 3600,
        language=settings.serve.language,
        trusted_proxies=trusted_networks(settings.serve.trusted_proxies),
    )
    # the interactive docs page loads its scripts from a CDN, which the CSP below forbids: it is off, and
    # the OpenAPI document (no data, only the API's shape) is served without a login for client generators
    app = FastAPI(
        title="almacen",
        version="1",
        summary="The datasets of the lake's domains, and its data quality",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.services = svc
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(svc.session_seconds) + 3600,
        same_site="lax",
        https_only=tls,
    )

    @app.middleware("http")
    async def headers(request: Request, call_next):
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - any bug answers a 500 the client can quote, and is audited
            log.exception("%s %s failed", request.method, request.url.path)
            seq = await run_in_threadpool(_audit_refusal, request, 500, f"{type(exc).__name__}: {str(exc)[:200]}")
            response = JSONResponse(
                {"detail": f"internal error (audit entry {seq}); the server log has the details"}, status_code=500
            )
        else:
            if response.status_code in REFUSED or response.status_code >= 500:
                if not (request.url.path == "/login" and response.status_code in (401, 429)):
                    await run_in_threadpool(_audit_refusal, request, response.status_code)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.url.path.startswith("/api"):
            response.headers["Cache-Control"] = "no-store"
        if tls:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    # a user's error answers its status (the most specific class listed wins); only NotFound is a 404, and
    # anything else, a builtin LookupError or KeyError from a bug included, is a logged and audited 500
    for error, status in ((BadFilter, 422), (Forbidden, 403), (NotBuilt, 503), (NotFound, 404)):
        app.add_exception_handler(error, _reply(status))
    # every /api route, a domain's too, documents the refusals and refuses a query parameter it does not take
    for router in (api.router, *site.routers, api.export_router(marts.datasets, marts.vocabularies)):
        app.include_router(
            router, prefix="/api", responses=api.PROBLEMS, dependencies=[Depends(api.refuse_unknown_parameters)]
        )
    app.include_router(pages.router)
    app.include_router(routes)
    for name, folder in site.static.items():  # before /static, which would otherwise answer for them
        app.mount(f"/static/{name}", StaticFiles(directory=str(folder)), name=f"static-{name}")
    app.mount("/static", StaticFiles(directory=str(resources.files("almacen.serve") / "static")), name="static")

    def close_services() -> None:
        svc.audit.close()
        svc.marts.close()

    app.router.add_event_handler("shutdown", close_services)
    return app


def _audit_refusal(request: Request, status: int, error: str | None = None) -> int | None:
    """Record a refused or failed request; returns the entry's seq (None if even the audit log failed)."""
    svc: Services = request.app.state.services
    user = getattr(request.state, "user", None)
    if user is None:  # refused before the route looked at who asks (an unknown parameter, a bad form)
        try:
            user = authenticate(request)
        except NotLoggedIn:
            user = None
    details: dict[str, object] = {"status": status, "method": request.method, "ip": client_ip(request)}
    if request.url.query:
        details["query"] = request.url.query[:500]
    if error:
        details["error"] = error
    action = "request.failed" if status >= 500 else "access.denied"
    try:
        return svc.audit.record(
            user.username if user is not None else "anonymous", action, target=request.url.path[:200], details=details
        )
    except Exception:  # noqa: BLE001 - a refusal is answered even when it cannot be recorded
        log.exception("could not audit %s %s (%s)", request.method, request.url.path, status)
        return None


def _reply(status: int):
    """An exception handler answering `status` with the error's message as the detail."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handler


def _secret(settings: Settings) -> str:
    """The cookie signing key: ALMACEN_SECRET_KEY with at least MIN_SECRET_BYTES bytes (demo mode: a
    random key per start when none is set)."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key.encode("utf-8")) < MIN_SECRET_BYTES and not settings.demo:
            raise ConfigError(
                f"ALMACEN_SECRET_KEY has {len(key.encode('utf-8'))} bytes; it needs at least "
                f"{MIN_SECRET_BYTES} random bytes to sign session cookies (e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return key
    if settings.demo:
        return secrets.token_urlsafe(32)
    raise ConfigError(
        "ALMACEN_SECRET_KEY is not set: the server needs it to sign session cookies "
        "(e.g. export ALMACEN_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'))"
    )
