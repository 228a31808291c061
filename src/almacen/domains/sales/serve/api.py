"""The sales routes of the JSON API, mounted under /api by the server: KPIs, sales by a dimension, real
time, and the values the filter controls offer.

Each reads its dataset of the sales mart (`marts.MART`) through `almacen.serve.api.read`, which checks
the permission, cuts the filters to the user's scope and audits the read; their exports are the server's
(/api/export/<dataset>.csv, .xlsx).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from almacen.domains.sales.serve.marts import MART, realtime_options, sales_options
from almacen.serve.api import ROWS, UserDep, answer, filter_dependency, read
from almacen.serve.auth import services

router = APIRouter()
FilterDep = Annotated[dict[str, Any], Depends(filter_dependency(MART.vocabularies))]


class Choices(BaseModel):
    branches: list[dict[str, str]]
    categories: list[str]
    channels: list[str]
    payment_types: list[str]


@router.get("/choices", response_model=Choices, summary="values the filters accept for this user")
def choices(request: Request, user: UserDep) -> Choices:
    """The branches in the user's scope and the product categories (not audited: no sales figures)."""
    found = services(request).marts.read(user, "choices").to_pylist()
    return Choices(
        branches=[{"branch_id": r["value"], "name": r["label"]} for r in found if r["kind"] == "branch"],
        categories=[r["value"] for r in found if r["kind"] == "category"],
        channels=list(MART.vocabularies["channel"]),
        payment_types=list(MART.vocabularies["payment_type"]),
    )


@router.get(
    "/kpis",
    response_model=None,
    responses=ROWS,
    summary="revenue, tickets, average ticket, units per ticket, approval rate with trends",
)
def kpis(request: Request, user: UserDep, f: FilterDep) -> Response:
    table, described = read(request, user, "kpis", f)
    return answer("kpis", described, table)


@router.get(
    "/sales", response_model=None, responses=ROWS, summary="approved sales by a dimension, per day, week or month"
)
def sales(
    request: Request, user: UserDep, f: FilterDep, options: Annotated[dict[str, Any], Depends(sales_options)]
) -> Response:
    table, described = read(request, user, "sales", f, **options)
    return answer("sales", described, table)


@router.get(
    "/realtime",
    response_model=None,
    responses=ROWS,
    summary="approved sales per minute of the last minutes (gold.sales_minute)",
)
def realtime(
    request: Request, user: UserDep, f: FilterDep, options: Annotated[dict[str, Any], Depends(realtime_options)]
) -> Response:
    table, described = read(request, user, "realtime", f, **options)
    return answer("realtime", described, table)
