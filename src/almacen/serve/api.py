"""The JSON API under /api: the same datasets, filters and permissions as the pages, plus exports.

The server's own routes are here: who the caller is, data quality, the audit log, exports, unlocking a
user. A domain's routes (the sales KPIs, say) come from its router (`almacen.serve.site.Site.routers`),
mounted under /api by `create_app` with the same refusals, and build on what is here: `UserDep`,
`filter_dependency`, `read` and `answer`. Exports cover every exported dataset of the served marts.

Every data access and export is audited with who, what and which filters. A query parameter that the
endpoint (or, for exports, the dataset) does not take is refused with 422 naming it, so a typo such as
`branches=rosario` cannot silently answer for the whole chain.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

import pyarrow as pa

from almacen.security import Permission, User, require
from almacen.security.users import USERNAME
from almacen.serve.auth import api_user, check_csrf, client_ip, services
from almacen.serve.export import CONTENT_TYPES, to_csv, to_xlsx
from almacen.serve.filters import CLOSED, Filters, parse_filters
from almacen.serve.site import Dataset

UserDep = Annotated[User, Depends(api_user)]
AUDIT = "audit"
"""the audit log: exported like a dataset, read from the audit log itself (not the marts)"""


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


class Problem(BaseModel):
    """Why a request was refused: a sentence, or FastAPI's list of the parameters that failed validation."""

    detail: str | list[dict[str, Any]]


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in (
        (401, "not logged in, or the API token is unknown or revoked"),
        (403, "the role or the branch scope forbids it"),
        (404, "no such dataset, or no rows to export"),
        (422, "a parameter is malformed, unknown or out of range"),
        (503, "a gold mart is not built yet"),
    )
}
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
        raise HTTPException(
            422,
            f"unknown query parameter {', '.join(unknown)}; {request.url.path} takes "
            f"{', '.join(sorted(known)) or 'none'}",
        )


router = APIRouter()
"""the server's own routes; `create_app` mounts them, the export route and every domain's router under /api
with `PROBLEMS` and `refuse_unknown_parameters`"""


BOUNDARY_DATES = {
    name: {"summary": f"the {name} date a calendar has", "value": value}
    for name, value in (("first", "0001-01-01"), ("second", "0001-01-02"), ("last", "9999-12-31"))
}
"""documented examples of dates beyond what is served (answered 422): the fuzzer sends them explicitly"""


def filter_dependency(vocabularies: Mapping[str, Collection[str]]) -> Callable[..., dict[str, Any]]:
    """A FastAPI dependency taking the dashboard filters as query parameters (`from`, `to`, `branch`,
    `category`, `channel`, `payment_type`); a closed filter (`filters.CLOSED`) takes the values its
    vocabulary names, documented as an enum and refused with 422 otherwise. Its result is what `read`
    takes as `raw`. A domain's router builds one from its mart's vocabularies."""

    def filter_params(
        start: Annotated[
            date | None,
            Query(
                alias="from",
                description="first business date, 1900-01-01 to 2199-12-31 (default: per dataset)",
                openapi_examples=BOUNDARY_DATES,
            ),
        ] = None,
        end: Annotated[
            date | None,
            Query(
                alias="to",
                description="last business date, 1900-01-01 to 2199-12-31 (default: the latest with data)",
                openapi_examples=BOUNDARY_DATES,
            ),
        ] = None,
        branch: Annotated[
            list[str] | None, Query(description="branch ids (repeatable); default: all in your scope")
        ] = None,
        category: Annotated[list[str] | None, Query(description="product categories (repeatable)")] = None,
        channel: Annotated[list[str] | None, Query()] = None,
        payment_type: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        return {
            "start": start,
            "end": end,
            "branches": branch,
            "categories": category,
            "channels": channel,
            "payment_types": payment_type,
        }

    for name in CLOSED:  # the vocabulary is data: its Literal is built here, at the router's making
        values = tuple(vocabularies.get(name, ()))
        if values:
            filter_params.__annotations__[name] = Annotated[list[Literal[values]] | None, Query()]  # type: ignore[valid-type]
    return filter_params


def _filters(request: Request, user: User, raw: dict[str, Any], dataset: str) -> Filters:
    """The request's filters; a missing range ends on the latest day of the branches asked (or in scope)."""
    marts = services(request).marts
    latest = marts.latest_date(dataset, user.scope.restrict(raw["branches"]))
    found = marts.datasets.get(dataset)
    return parse_filters(
        raw["start"],
        raw["end"],
        latest=latest,
        default_days=found.default_days if found else 30,
        branches=raw["branches"],
        categories=raw["categories"],
        channels=raw["channels"],
        payment_types=raw["payment_types"],
        vocabularies=marts.vocabularies,
    )


def read(
    request: Request, user: User, dataset: str, raw: dict[str, Any] | None, audited_as: str = "data.read", **options
) -> tuple[pa.Table, dict[str, Any]]:
    """Read one dataset for a user and audit it; the scope is applied inside `Marts.read`."""
    svc = services(request)
    if dataset == AUDIT:
        require(user.role, Permission.AUDIT)
        table, described = (
            svc.audit.entries(
                limit=options.get("limit", 200), actor=options.get("actor"), action=options.get("action")
            ),
            {k: v for k, v in options.items() if v},
        )
    else:
        filters = _filters(request, user, raw, dataset) if raw is not None else None
        table = svc.marts.read(user, dataset, filters, **options)
        described = {**(filters.within(user.scope).describe() if filters else {}), **options}
    svc.audit.record(
        user.username, audited_as, target=dataset, details={"filters": described, "ip": client_ip(request)}
    )
    return table, described


ROWS: dict[int | str, dict[str, Any]] = {200: {"model": Rows, "description": "the dataset's rows"}}


def answer(dataset: str, filters: dict[str, Any], table: pa.Table) -> Response:
    """A `Rows` document serialised straight from Arrow: validating thousands of row dicts through
    pydantic cost more than the query itself under load (benchmarks/serve.py)."""
    body = json.dumps(
        {"dataset": dataset, "filters": filters, "rows": rows(table)},
        default=_json,
        ensure_ascii=False,
        separators=(",", ":"),
    )
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
    return Me(
        username=user.username,
        role=str(user.role),
        branches=list(user.branches),
        permissions=sorted(str(p) for p in Permission if user.can(p)),
    )


@router.get(
    "/quality/{part}", response_model=None, responses=ROWS, summary="runs, freshness, quarantine and reconciliation"
)
def quality(
    request: Request,
    user: UserDep,
    part: Literal["runs", "freshness", "quarantine", "quarantine_rows", "reconciliation"],
) -> Response:
    table, described = read(request, user, part, None)
    return answer(part, described, table)


def audit_options(
    limit: Annotated[int, Query(ge=1, le=5000, description="audit: how many entries, newest first")] = 200,
    actor: Annotated[str | None, Query(max_length=100, description="audit: only this actor")] = None,
    action: Annotated[str | None, Query(max_length=50, description="audit: only this action")] = None,
) -> dict[str, Any]:
    """What /api/audit and its export take."""
    return {"limit": limit, "actor": actor, "action": action}


@router.get("/audit", response_model=None, responses=ROWS, summary="the audit log, newest first (auditors and admins)")
def audit(request: Request, user: UserDep, options: Annotated[dict[str, Any], Depends(audit_options)]) -> Response:
    table, described = read(request, user, AUDIT, None, **options)
    return answer(AUDIT, described, table)


FILTER_NAMES = frozenset({"from", "to", "branch", "category", "channel", "payment_type"})


def export_router(datasets: Mapping[str, Dataset], vocabularies: Mapping[str, Collection[str]]) -> APIRouter:
    """The route /export/{name}: each exported dataset of `datasets`, and the audit log, as CSV or Excel,
    with the same filters, options and scope as its page.

    Its query parameters are the filters (when a dataset takes them) and every dataset's options (its
    `Dataset.options` dependency): all are validated, and a parameter the named dataset does not take is
    refused with 422 naming it."""
    exported = [d for d in datasets.values() if d.exported]
    options: dict[str, Callable[..., dict[str, Any]] | None] = {d.name: d.options for d in exported}
    options[AUDIT] = audit_options
    filtered = frozenset(d.name for d in exported if d.filtered)
    takes = {
        name: (_query_names(get_dependant(path="", call=dep)) if dep else set())
        | (FILTER_NAMES if name in filtered else frozenset())
        for name, dep in options.items()
    }
    pattern = re.compile(rf"^({'|'.join(map(re.escape, options))})\.(csv|xlsx)$")

    def export(
        request: Request, user: User, name: str, filters: dict[str, Any] | None = None, **given: dict[str, Any]
    ) -> Response:
        match = pattern.match(name)
        if match is None:
            raise HTTPException(
                404,
                f"nothing to export as {name!r}: ask for <dataset>.csv or .xlsx, dataset one of {', '.join(options)}",
            )
        dataset, fmt = match.groups()
        refused = sorted(set(request.query_params) - takes[dataset])
        if refused:
            raise HTTPException(
                422,
                f"the {dataset} export does not take {', '.join(refused)}; it takes "
                f"{', '.join(sorted(takes[dataset])) or 'no parameters'}",
            )
        raw = filters if dataset in filtered else None
        table, described = read(
            request, user, dataset, raw, audited_as="export", **given.get(_options_of(list(options).index(dataset)), {})
        )
        if table.num_rows == 0:
            raise HTTPException(404, "no rows match these filters: nothing to export")
        body = to_csv(table) if fmt == "csv" else to_xlsx(table, dataset)
        span = f"-{described['start']}_{described['end']}" if "start" in described else ""
        return Response(
            body,
            media_type=CONTENT_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="almacen-{dataset}{span}.{fmt}"'},
        )

    # the signature FastAPI reads: which dependencies the route has depends on the datasets served
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("user", keyword, annotation=UserDep),
        inspect.Parameter(
            "name",
            keyword,
            annotation=Annotated[
                str,
                PathParam(
                    description="<dataset>.csv or <dataset>.xlsx",
                    examples=[f"{d}.{fmt}" for d in options for fmt in CONTENT_TYPES],
                ),
            ],
        ),
    ]
    if filtered:
        parameters.append(
            inspect.Parameter(
                "filters", keyword, annotation=Annotated[dict[str, Any], Depends(filter_dependency(vocabularies))]
            )
        )
    parameters += [
        inspect.Parameter(_options_of(i), keyword, annotation=Annotated[dict[str, Any], Depends(dep)])
        for i, dep in enumerate(options.values())
        if dep is not None
    ]
    export.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    exports = APIRouter()
    exports.add_api_route(
        "/export/{name}",
        export,
        methods=["GET"],
        summary="any dataset as CSV or Excel, with the same filters, options and scope",
        responses={200: {"content": {t: {} for t in CONTENT_TYPES.values()}}},
    )
    return exports


def _options_of(index: int) -> str:
    """The export's parameter holding the options of its `index`-th dataset."""
    return f"options_{index}"


class Unlocked(BaseModel):
    username: str
    was_locked: bool


@router.post(
    "/users/{username}/unlock",
    response_model=Unlocked,
    summary="lift a user's login lockout at once (admins; a session must send X-CSRF-Token)",
)
def unlock(
    request: Request,
    user: UserDep,
    username: Annotated[str, PathParam(max_length=64)],
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Unlocked:
    require(user.role, Permission.USERS)
    if "authorization" not in request.headers:  # a browser session: its cookie alone must not be enough
        check_csrf(request, x_csrf_token)
    if not USERNAME.fullmatch(username):
        raise HTTPException(422, f"username {username!r} is not a username")
    svc = services(request)
    held = svc.guard.unlock(username)
    svc.audit.record(
        user.username, "user.unlock", target=username, details={"was_locked": held, "ip": client_ip(request)}
    )
    return Unlocked(username=username, was_locked=held)
