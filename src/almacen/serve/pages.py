"""The dashboard's pages: log in and out, and one page per subject, each allowed by role.

Pages are shells: their tables and charts come from /api (static/app.js), so pages, API and exports
share one permission and scope check. The server's own pages are data quality and the audit log
(`CORE_PAGES`); the domains' come in the `Site` (`page_router`), their templates read through one Jinja
loader over the server's folder and each domain's, prefixed by the domain's name (`templates_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from almacen.security import Locked, Permission, User
from almacen.security.users import USERNAME
from almacen.serve.auth import (
    NotLoggedIn,
    authenticate,
    check_csrf,
    client_ip,
    csrf_token,
    end_session,
    services,
    start_session,
)
from almacen.serve.i18n import COOKIE, language
from almacen.serve.site import Page

router = APIRouter(include_in_schema=False)
TEMPLATES = resources.files("almacen.serve") / "templates"
CORE_PAGES = (
    Page("quality", "quality.html", Permission.QUALITY, "quality"),
    Page("audit", "audit.html", Permission.AUDIT, "audit"),
)
"""the server's own pages, listed after the domains'"""
RESERVED = frozenset({"", "login", "logout", "api", "static"})
"""paths no page may take"""


def templates_for(folders: Mapping[str, Traversable]) -> Jinja2Templates:
    """The page templates: the server's (`base.html`, `login.html`...) by their names, and each domain's
    folder under its name (`sales/overview.html`), so a domain's template extends `base.html`."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(TEMPLATES)),
            jinja2.PrefixLoader({name: jinja2.FileSystemLoader(str(folder)) for name, folder in folders.items()}),
        ]
    )
    return Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))


def render(request: Request, template: str, status: int = 200, user: User | None = None, **context) -> Response:
    svc = services(request)
    lang = language(request, svc.language)
    nav = [(p.path, p.label) for p in svc.pages if user is not None and user.can(p.permission)]
    response = svc.templates.TemplateResponse(
        request,
        template,
        {
            "t": svc.texts[lang],
            "texts": svc.texts[lang],
            "lang": lang,
            "user": user,
            "nav": nav,
            "csrf": csrf_token(request),
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") == lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


@router.get("/")
def home(request: Request) -> Response:
    try:
        user = authenticate(request)
    except NotLoggedIn:
        return RedirectResponse("/login", 303)
    first = next((p.path for p in services(request).pages if user.can(p.permission)), "quality")
    return RedirectResponse(f"/{first}", 303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: bool = False) -> Response:
    return render(request, "login.html", next=_safe_next(next), message="expired" if expired else None)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, csrf_token)
    svc, ip = services(request), client_ip(request)
    actor, typed = login_actor(username)
    try:
        attempt = svc.guard.begin(username, ip)
    except Locked as exc:
        svc.audit.record(actor, "login.failed", target="dashboard", details={"ip": ip, "reason": "locked", **typed})
        minutes = max(1, -(-exc.retry_after // 60))
        return render(request, "login.html", 429, next=_safe_next(next), message="locked", minutes=minutes)
    user = svc.users.authenticate(username, password)
    if user is None:
        svc.guard.failed(attempt)
        svc.audit.record(actor, "login.failed", target="dashboard", details={"ip": ip, **typed})
        return render(request, "login.html", 401, next=_safe_next(next), message="bad_login")
    svc.guard.succeeded(attempt)
    start_session(request, user)
    svc.audit.record(user.username, "login.ok", target="dashboard", details={"ip": ip})
    return RedirectResponse(_safe_next(next), 303)


def login_actor(typed: str) -> tuple[str, dict[str, str]]:
    """Who a login attempt is recorded as: the typed name when it is a valid username (so it cannot pose as
    `cli:…` or any other actor), else `anonymous` with the typed text kept in the details."""
    if USERNAME.match(typed):
        return typed, {}
    return "anonymous", {"typed_username": typed[:100]}


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    username = end_session(request)
    if username:
        services(request).audit.record(username, "logout", target="dashboard", details={"ip": client_ip(request)})
    return RedirectResponse("/login", 303)


def _page(declared: Page):
    """The route of one page: the login form for a visitor, 403 for a role without its permission."""

    def page(request: Request) -> Response:
        try:
            user = authenticate(request)
        except NotLoggedIn:
            expired = "&expired=1" if request.session.get("expired") else ""
            return RedirectResponse(f"/login?next={quote('/' + declared.path)}{expired}", 303)
        if not user.can(declared.permission):
            return render(request, "forbidden.html", 403, user=user, page=declared.label)
        return render(request, declared.template, user=user, page=declared.label, script=declared.script)

    page.__name__ = f"page_{declared.path}"
    return page


def page_router(pages: Iterable[Page]) -> APIRouter:
    """The routes of `pages`: one page per path, none on the server's own paths (`RESERVED`)."""
    pages = tuple(pages)
    paths = [p.path for p in pages]
    if len(set(paths)) != len(paths) or RESERVED & set(paths):
        raise ValueError(f"serve: page paths must be unique and none of {sorted(RESERVED)}: {paths}")
    routes = APIRouter(include_in_schema=False)
    for declared in pages:
        routes.add_api_route(f"/{declared.path}", _page(declared), methods=["GET"], response_class=HTMLResponse)
    return routes


def _safe_next(target: str) -> str:
    """Only a local path is followed after login (no open redirect to another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
