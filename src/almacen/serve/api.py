"""The JSON API under /api: the same datasets, filters and permissions as the pages, plus exports.

Every data access and export is audited with who, what and which filters. A query parameter that the
endpoint (or, for exports, the dataset) does not take is refused with 422 naming it, so a typo such as
`branches=rosario` cannot silently answer for the whole chain.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

import pyarrow as pa

from almacen.domains.sales import CHANNELS, PAYMENT_TYPES
from almacen.security import Permission, User, require
from almacen.security.users import USERNAME
from almacen.serve.auth import api_user, check_csrf, client_ip, services
from almacen.serve.export import CONTENT_TYPES, to_csv, to_xlsx
from almacen.serve.filters import Filters, parse_filters
from almacen.serve.marts import QUERIES

UserDep = Annotated[User, Depends(api_user)]
DEFAULT_DAYS = {"kpis": 1, "sales": 30}
EXPORTABLE = (*QUERIES, "audit")
_EXPORT = re.compile(rf"^({'|'.join(EXPORTABLE)})\.(csv|xlsx)$")


class Rows(BaseModel):
    """A dataset as rows of named values: money as exact decimal strings, times in ISO 8601 (UTC)."""

    dataset: str
    filters: dict[str, Any]
    rows: list[dict[str, Any]]


class Me(BaseModel):
    username: str
    role: str
    branches: list[str]
    permissions: list[str]


class Choices(BaseModel):
    branches: list[dict[str, str]]
    categories: list[str]
    channels: list[str]
    payment_types: list[str]


class Problem(BaseModel):
    """Why a request was refused: a sentence, or FastAPI's list of the parameters that failed validation."""

    detail: str | list[dict[str, Any]]


PROBLEMS: dict[int | str, dict[str, Any]] = {status: {"model": Problem, "description": text} for status, text in (
    (401, "not logged in, or the API token is unknown or revoked"), (403, "the role or the branch scope forbids it"),
    (404, "no such dataset, or no rows to export"), (422, "a parameter is malformed, unknown or out of range"),
    (503, "a gold mart is not built yet"))}
"""every refusal answers {"detail": ...}; documented so clients (and the fuzzer) can rely on it"""



def _query_names(dependant: Dependant) -> set[str]:
    """Every query parameter an endpoint takes, its dependencies' included, by the name clients send."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_KNOWN: dict[int, frozenset[str]] = {}


async def refuse_unknown_parameters(request: Request) -> None:
    """422 naming any query parameter the endpoint does not take (checked before anything is read).

    async: it never blocks, and a sync dependency would cost every request a hop through the threadpool."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(422, f"unknown query parameter {', '.join(unknown)}; {request.url.path} takes "
                                 f"{', '.join(sorted(known)) or 'none'}")


router = APIRouter(prefix="/api", responses=PROBLEMS, dependencies=[Depends(refuse_unknown_parameters)])


BOUNDARY_DATES = {name: {"summary": f"the {name} date a calendar has", "value": value} for name, value in
                  (("first", "0001-01-01"), ("second", "0001-01-02"), ("last", "9999-12-31"))}
"""documented examples of dates beyond what is served (answered 422): the fuzzer sends them explicitly"""


def filter_params(
    request: Request,
    start: Annotated[date | None, Query(alias="from", description="first business date, 1900-01-01 to 2199-12-31 "
                                        "(default: per dataset)", openapi_examples=BOUNDARY_DATES)] = None,
    end: Annotated[date | None, Query(alias="to", description="last business date, 1900-01-01 to 2199-12-31 "
                                      "(default: the latest with data)", openapi_examples=BOUNDARY_DATES)] = None,
    branch: Annotated[list[str] | None, Query(description="branch ids (repeatable); default: all in your scope")] = None,
    category: Annotated[list[str] | None, Query(description="product categories (repeatable)")] = None,
    channel: Annotated[list[Literal["tienda", "web", "app"]] | None, Query()] = None,
    payment_type: Annotated[list[Literal["efectivo", "debito", "credito", "mercado_pago_qr", "transferencia"]] | None,
                            Query()] = None,
) -> dict[str, Any]:
    return {"start": start, "end": end, "branches": branch, "categories": category, "channels": channel,
            "payment_types": payment_type}


FilterDep = Annotated[dict[str, Any], Depends(filter_params)]


def _filters(request: Request, user: User, raw: dict[str, Any], dataset: str) -> Filters:
    """The request's filters; a missing range ends on the latest day of the branches asked (or in scope)."""
    marts = services(request).marts
    latest = marts.latest_date(user.scope.restrict(raw["branches"]))
    return parse_filters(raw["start"], raw["end"], latest=latest, default_days=DEFAULT_DAYS.get(dataset, 30),
                         branches=raw["branches"], categories=raw["categories"], channels=raw["channels"],
                         payment_types=raw["payment_types"])


def read(request: Request, user: User, dataset: str, raw: dict[str, Any] | None, audited_as: str = "data.read",
         **options) -> tuple[pa.Table, dict[str, Any]]:
    """Read one dataset for a user and audit it; the scope is applied inside `Marts.read`."""
    svc = services(request)
    if dataset == "audit":
        require(user.role, Permission.AUDIT)
        table, described = svc.audit.entries(limit=options.get("limit", 200), actor=options.get("actor"),
                                             action=options.get("action")), {k: v for k, v in options.items() if v}
    else:
        filters = _filters(request, user, raw, dataset) if raw is not None else None
        table = svc.marts.read(user, dataset, filters, **options)
        described = {**(filters.within(user.scope).describe() if filters else {}), **options}
    svc.audit.record(user.username, audited_as, target=dataset, details={"filters": described, "ip": client_ip(request)})
    return table, described


ROWS: dict[int | str, dict[str, Any]] = {200: {"model": Rows, "description": "the dataset's rows"}}


def answer(dataset: str, filters: dict[str, Any], table: pa.Table) -> Response:
    """A `Rows` document serialised straight from Arrow: validating thousands of row dicts through
    pydantic cost more than the query itself under load (benchmarks/serve.py)."""
    body = json.dumps({"dataset": dataset, "filters": filters, "rows": rows(table)}, default=_json,
                      ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type="application/json")


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: _json(v) for k, v in r.items()} for r in table.to_pylist()]


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@router.get("/me", response_model=Me, summary="who the caller is and what the role allows")
def me(user: UserDep) -> Me:
    return Me(username=user.username, role=str(user.role), branches=list(user.branches),
              permissions=sorted(str(p) for p in Permission if user.can(p)))


@router.get("/choices", response_model=Choices, summary="values the filters accept for this user")
def choices(request: Request, user: UserDep) -> Choices:
    require(user.role, Permission.SALES)
    found = services(request).marts.choices(user)
    return Choices(**found, channels=list(CHANNELS), payment_types=list(PAYMENT_TYPES))


@router.get("/kpis", response_model=None, responses=ROWS, summary="revenue, tickets, average ticket, units per ticket, approval rate with trends")
def kpis(request: Request, user: UserDep, f: FilterDep) -> Response:
    table, described = read(request, user, "kpis", f)
    return answer("kpis", described, table)


@router.get("/sales", response_model=None, responses=ROWS, summary="approved sales by a dimension, per day, week or month")
def sales(request: Request, user: UserDep, f: FilterDep,
          by: Literal["branch", "category", "payment_type", "channel"] = "branch",
          grain: Literal["day", "week", "month"] = "day") -> Response:
    table, described = read(request, user, "sales", f, by=by, grain=grain)
    return answer("sales", described, table)


@router.get("/realtime", response_model=None, responses=ROWS, summary="approved sales per minute of the last minutes (gold.sales_minute)")
def realtime(request: Request, user: UserDep, f: FilterDep,
             minutes: Annotated[int, Query(ge=1, le=180)] = 60) -> Response:
    table, described = read(request, user, "realtime", f, minutes=minutes)
    return answer("realtime", described, table)


@router.get("/quality/{part}", response_model=None, responses=ROWS, summary="runs, freshness, quarantine and reconciliation")
def quality(request: Request, user: UserDep,
            part: Literal["runs", "freshness", "quarantine", "quarantine_rows", "reconciliation"]) -> Response:
    table, described = read(request, user, part, None)
    return answer(part, described, table)


@router.get("/audit", response_model=None, responses=ROWS, summary="the audit log, newest first (auditors and admins)")
def audit(request: Request, user: UserDep, limit: Annotated[int, Query(ge=1, le=5000)] = 200,
          actor: Annotated[str | None, Query(max_length=100)] = None,
          action: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    table, described = read(request, user, "audit", None, limit=limit, actor=actor, action=action)
    return answer("audit", described, table)


EXPORT_OPTIONS: dict[str, frozenset[str]] = {
    "kpis": frozenset(), "sales": frozenset({"by", "grain"}), "realtime": frozenset({"minutes"}),
    "audit": frozenset({"limit", "actor", "action"}),
}
"""the options each exportable dataset takes beyond the filters; quality datasets take none"""
FILTERED = frozenset({"kpis", "sales", "realtime"})
FILTER_NAMES = frozenset({"from", "to", "branch", "category", "channel", "payment_type"})


@router.get("/export/{name}", summary="any dataset as CSV or Excel, with the same filters, options and scope",
            responses={200: {"content": {t: {} for t in CONTENT_TYPES.values()}}})
def export(request: Request, user: UserDep, f: FilterDep,
           name: Annotated[str, PathParam(description="<dataset>.csv or <dataset>.xlsx",
                                          examples=[f"{d}.{fmt}" for d in EXPORTABLE for fmt in CONTENT_TYPES])],
           by: Literal["branch", "category", "payment_type", "channel"] = "branch",
           grain: Literal["day", "week", "month"] = "day",
           minutes: Annotated[int, Query(ge=1, le=180)] = 60,
           limit: Annotated[int, Query(ge=1, le=5000, description="audit: how many entries, newest first")] = 200,
           actor: Annotated[str | None, Query(max_length=100, description="audit: only this actor")] = None,
           action: Annotated[str | None, Query(max_length=50, description="audit: only this action")] = None) -> Response:
    match = _EXPORT.match(name)
    if match is None:
        raise HTTPException(404, f"nothing to export as {name!r}: ask for <dataset>.csv or .xlsx, "
                                 f"dataset one of {', '.join(EXPORTABLE)}")
    dataset, fmt = match.groups()
    takes = EXPORT_OPTIONS.get(dataset, frozenset()) | (FILTER_NAMES if dataset in FILTERED else frozenset())
    refused = sorted(set(request.query_params) - takes)
    if refused:
        raise HTTPException(422, f"the {dataset} export does not take {', '.join(refused)}; it takes "
                                 f"{', '.join(sorted(takes)) or 'no parameters'}")
    given = {"by": by, "grain": grain, "minutes": minutes, "limit": limit, "actor": actor, "action": action}
    options = {k: given[k] for k in EXPORT_OPTIONS.get(dataset, ())}
    raw = f if dataset in FILTERED else None
    table, described = read(request, user, dataset, raw, audited_as="export", **options)
    if table.num_rows == 0:
        raise HTTPException(404, "no rows match these filters: nothing to export")
    body = to_csv(table) if fmt == "csv" else to_xlsx(table, dataset)
    span = f"-{described['start']}_{described['end']}" if "start" in described else ""
    return Response(body, media_type=CONTENT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="almacen-{dataset}{span}.{fmt}"'})


class Unlocked(BaseModel):
    username: str
    was_locked: bool


@router.post("/users/{username}/unlock", response_model=Unlocked,
             summary="lift a user's login lockout at once (admins; a session must send X-CSRF-Token)")
def unlock(request: Request, user: UserDep, username: Annotated[str, PathParam(max_length=64)],
           x_csrf_token: Annotated[str | None, Header()] = None) -> Unlocked:
    require(user.role, Permission.USERS)
    if "authorization" not in request.headers:  # a browser session: its cookie alone must not be enough
        check_csrf(request, x_csrf_token)
    if not USERNAME.fullmatch(username):
        raise HTTPException(422, f"username {username!r} is not a username")
    svc = services(request)
    held = svc.guard.unlock(username)
    svc.audit.record(user.username, "user.unlock", target=username, details={"was_locked": held, "ip": client_ip(request)})
    return Unlocked(username=username, was_locked=held)
