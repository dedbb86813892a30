"""RFC 9457 problem+json for every error, with the offending fields named on 422."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # Only the leading location goes: a parameter may itself be named "path" or "query".
    where = ("body", "query", "path", "header", "cookie")
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in where else loc)]
    return ".".join(parts) or str(loc[0] if loc else "?")


def install(app: FastAPI) -> None:
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            404: "Not Found",
            401: "Unauthorized",
            403: "Forbidden",
            405: "Method Not Allowed",
        }
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(
            exc.status_code, titles.get(exc.status_code, "Error"), detail, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "?", "message": "invalid"}
        return problem(
            422,
            "Invalid request",
            f"{first['field']}: {first['message']}",
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error on %s %s.", request.method, request.url.path)
        return problem(500, "Internal Server Error", "The server hit an unexpected error.")


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and for 422 which fields."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, str]] | None = None


DESCRIPTIONS = {
    400: "The body could not be parsed.",
    401: "Missing or invalid credentials.",
    403: "The credentials do not allow this.",
    404: "No such resource.",
    409: "Conflicts with the current state.",
    413: "The body is too large.",
    422: "A field is invalid; `errors` names each one.",
    429: "Too many requests; see Retry-After.",
    503: "A dependency (database or Temporal) is not available.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each code documented as problem+json."""
    return {c: {"model": Problem, "description": DESCRIPTIONS.get(c, "Error.")} for c in codes}


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI where every 4xx/5xx is problem+json, and bodies may answer 400 (unparseable)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/Problem"}
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                if "requestBody" in op:
                    responses.setdefault("400", {"description": DESCRIPTIONS[400]})
                for code, resp in responses.items():
                    if code.isdigit() and int(code) >= 400:
                        resp["content"] = {PROBLEM: {"schema": ref}}
        app.openapi_schema = schema
        return schema

    return openapi
