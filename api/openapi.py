"""The OpenAPI description says what the API really answers.

Why a rewrite of FastAPI's generated schema: FastAPI documents its own 422 body
(``HTTPValidationError``, ``detail`` a list) on every route with input, but ``api.errors`` answers
every refusal as ``{"error", "detail", "errors"?}``; and the refusals that happen before a route
runs — a body that is not UTF-8 (400), too large (413), not JSON (415), a missing or expired token
(401) — are not the route's doing, so no route declares them. Clients and the fuzzer
(``tests/api/test_fuzz.py``, every schemathesis check) read this document, so it is corrected
once, here, for every operation:

- every ``422`` (and every other 4xx/5xx) is the real error body;
- ``401`` on every operation that needs a token, ``400``/``413``/``415`` on every operation with a
  body;
- optional query parameters are plain strings/integers (a query string cannot carry ``null``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from api.errors import ErrorOut
from core.kernel.jsontypes import JsonObject

ERROR_REF = "#/components/schemas/ErrorOut"
VALIDATION_REF = "#/components/schemas/ValidationErrorOut"
BODY_ERRORS = {
    "400": "the body could not be read (not UTF-8, or a bad Content-Length)",
    "413": "request body too large",
    "415": "the body must be application/json",
}
UNAUTHORIZED = "missing, invalid, revoked or expired API token"


class ErrorLocation(BaseModel):
    loc: list[str] = Field(description="where: e.g. [\"body\", \"changes\", \"0\", \"path\"]")
    msg: str


class ValidationErrorOut(ErrorOut):
    """A 422: ``error`` is ``invalid_request`` (the request's shape), ``malformed_json`` or
    ``invalid`` (the domain refused it: an unknown path, a value out of range, a size limit)."""

    errors: list[ErrorLocation] | list[str] | None = Field(
        default=None, description="each schema violation (first 20), or the domain's list of problems")


def _json(ref: str) -> JsonObject:
    return {"application/json": {"schema": {"$ref": ref}}}


def _add_models(schema: dict[str, Any]) -> None:
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in js.pop("$defs", {}).items():
            comps[name] = sub
        comps[model.__name__] = js
    comps.pop("HTTPValidationError", None)
    comps.pop("ValidationError", None)


def _plain_param(param: dict[str, Any]) -> None:
    """``str | None`` renders as ``anyOf [string, null]``; in a query string it is just a string."""
    sch = param.get("schema", {})
    options = sch.get("anyOf")
    if not isinstance(options, list):
        return
    kept = [o for o in options if o.get("type") != "null"]
    if len(kept) == 1 and len(kept) < len(options):
        merged = {k: v for k, v in sch.items() if k != "anyOf"}
        merged.update(kept[0])
        param["schema"] = merged


def _fix_operation(op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    for param in op.get("parameters", []):
        if param.get("in") in ("query", "path"):
            _plain_param(param)
    if op.get("parameters") or op.get("requestBody"):
        responses.setdefault("422", {"description": "invalid input (names the field)"})
    if op.get("security"):
        responses.setdefault("401", {"description": UNAUTHORIZED})
    if op.get("requestBody"):
        for code, text in BODY_ERRORS.items():
            responses.setdefault(code, {"description": text})
    for code, resp in responses.items():
        if code[:1] in ("4", "5"):
            resp["content"] = _json(VALIDATION_REF if code == "422" else ERROR_REF)


def rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    """Correct FastAPI's generated document in place (see the module docstring) and return it."""
    _add_models(schema)
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch") and isinstance(op, dict):
                _fix_operation(op)
    return schema


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json`` (built once, on first request)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rewrite(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
