"""``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the route table.

Schemas come from the msgspec types the handlers decode and encode
(``msgspec.json.schema_components``), so the document describes the bodies the code really
reads and writes. Each operation lists its parameters, its request body, its success answer
and every error status it can give, with the error codes of that status (the ``error`` field
narrowed to them) and the headers that come with it (``Retry-After``, ``WWW-Authenticate``).
Query parameters also take an empty value (``?limit=``), which counts as absent. A Struct with
a ``json_schema_extra`` class attribute has it merged into its schema (for rules
a type cannot say, such as "at least one of these fields").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
from starlette.routing import compile_path

from creatorflow.web.api._routing import ApiRoute
from creatorflow.web.api.errors import Error

_REF: Final = "#/components/schemas/{name}"
_JSON: Final = "application/json"
_REASONS: Final = {
    400: "Bad request",
    401: "No valid bearer token",
    404: "Not found",
    409: "Refused by the rules",
    413: "Body too large",
    415: "Body not sent as application/json",
    503: "Unavailable now; the outcome of a write is unknown",
}
_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "required": True,
            "schema": {"type": "string", "const": "Bearer"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before repeating the request.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


def openapi_document(routes: Sequence[ApiRoute], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a JSON-ready dict)."""
    types: list[Any] = [Error]
    for route in routes:
        types.extend(param.schema for param in route.params)
        if route.body is not None:
            types.append(route.body)
        if route.response is not None:
            types.append(route.response)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    of = dict(zip(map(id, types), schemas, strict=True))  # id: Annotated types do not hash
    _merge_extras(types, components)

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route, of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                'Errors are `{"error": code, "detail": text}`. Every operation needs '
                "`Authorization: Bearer <api.token>` when a token is configured."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: ApiRoute, of: dict[int, Any]) -> dict[str, Any]:
    declared = {param.name for param in route.params if param.location == "path"}
    if declared != set(compile_path(route.path)[2]):
        raise ValueError(f"{route.method} {route.path}: declare exactly its path parameters")
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        operation["description"] = route.description
    if route.params:
        operation["parameters"] = [
            {
                "name": param.name,
                "in": param.location,
                "required": param.required or param.location == "path",
                "description": param.description,
                "schema": _query(of[id(param.schema)])
                if param.location == "query"
                else of[id(param.schema)],
            }
            for param in route.params
        ]
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {_JSON: {"schema": of[id(route.body)]}},
        }
    ok: dict[str, Any] = {"description": route.summary}
    if route.response is not None:
        ok["content"] = {_JSON: {"schema": of[id(route.response)]}}
    responses: dict[str, Any] = {str(route.status): ok}
    errors = {401: ("unauthorized",), **route.errors}
    for status in sorted(errors):
        responses[str(status)] = _error(status, errors[status])
    operation["responses"] = responses
    return operation


def _query(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: an empty value counts as absent (``?limit=`` is no limit)."""
    return {"anyOf": [schema, {"const": ""}]}


def _error(status: int, codes: tuple[str, ...]) -> dict[str, Any]:
    """An error answer: the Error schema with ``error`` narrowed to ``codes``."""
    schema = {
        "allOf": [
            {"$ref": _REF.format(name="Error")},
            {"properties": {"error": {"enum": list(codes)}}},
        ]
    }
    answer: dict[str, Any] = {
        "description": f"{_REASONS.get(status, 'Error')}: {', '.join(codes)}",
        "content": {_JSON: {"schema": schema}},
    }
    if status in _HEADERS:
        answer["headers"] = _HEADERS[status]
    return answer


def _merge_extras(types: Sequence[Any], components: dict[str, Any]) -> None:
    for kind in types:
        extra = getattr(kind, "json_schema_extra", None)
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct) and extra:
            components[kind.__name__].update(extra)
