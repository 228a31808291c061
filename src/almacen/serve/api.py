"""The JSON API under /api: the same datasets, filters and permissions as the pages, plus exports.

Every data access and export is audited with who, what and which filters.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel

import pyarrow as pa

from almacen.domains.sales import CHANNELS, PAYMENT_TYPES
from almacen.security import Permission, User, require
from almacen.serve.auth import api_user, client_ip, services
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

router = APIRouter(prefix="/api", responses=PROBLEMS)


def filter_params(
    request: Request,
    start: Annotated[date | None, Query(alias="from", description="first business date (default: per dataset)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last business date (default: the latest with data)")] = None,
    branch: Annotated[list[str] | None, Query(description="branch ids (repeatable); default: all in your scope")] = None,
    category: Annotated[list[str] | None, Query(description="product categories (repeatable)")] = None,
    channel: Annotated[list[Literal["tienda", "web", "app"]] | None, Query()] = None,
    payment_type: Annotated[list[Literal["efectivo", "debito", "credito", "mercado_pago_qr", "transferencia"]] | None,
                            Query()] = None,
) -> dict[str, Any]:
    return {"start": start, "end": end, "branches": branch, "categories": category, "channels": channel,
            "payment_types": payment_type}


FilterDep = Annotated[dict[str, Any], Depends(filter_params)]


def _filters(request: Request, raw: dict[str, Any], dataset: str) -> Filters:
    marts = services(request).marts
    return parse_filters(raw["start"], raw["end"], latest=marts.latest_date(), default_days=DEFAULT_DAYS.get(dataset, 30),
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
        filters = _filters(request, raw, dataset) if raw is not None else None
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


@router.get("/export/{name}", summary="any dataset as CSV or Excel, with the same filters and scope",
            responses={200: {"content": {t: {} for t in CONTENT_TYPES.values()}}})
def export(request: Request, user: UserDep, f: FilterDep,
           name: Annotated[str, PathParam(description="<dataset>.csv or <dataset>.xlsx",
                                          examples=[f"{d}.{fmt}" for d in EXPORTABLE for fmt in CONTENT_TYPES])],
           by: Literal["branch", "category", "payment_type", "channel"] = "branch",
           grain: Literal["day", "week", "month"] = "day",
           minutes: Annotated[int, Query(ge=1, le=180)] = 60) -> Response:
    match = _EXPORT.match(name)
    if match is None:
        raise HTTPException(404, f"nothing to export as {name!r}: ask for <dataset>.csv or .xlsx, "
                                 f"dataset one of {', '.join(EXPORTABLE)}")
    dataset, fmt = match.groups()
    options = {"sales": {"by": by, "grain": grain}, "realtime": {"minutes": minutes}}.get(dataset, {})
    raw = f if dataset in ("kpis", "sales", "realtime") else None
    table, described = read(request, user, dataset, raw, audited_as="export", **options)
    if table.num_rows == 0:
        raise HTTPException(404, "no rows match these filters: nothing to export")
    body = to_csv(table) if fmt == "csv" else to_xlsx(table, dataset)
    span = f"-{described['start']}_{described['end']}" if "start" in described else ""
    return Response(body, media_type=CONTENT_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="almacen-{dataset}{span}.{fmt}"'})
