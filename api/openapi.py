"""The OpenAPI document as the server behaves: stable operation ids, the errors each route gives.

FastAPI derives operation ids from function names and paths
(`latest_location_residents__resident_id__location_latest_get`), which change with any
rename; clients generated from the document would break. Ids here follow the path:
`residents.location.latest`, with a verb only where one path has several methods
(`residents.list` / `residents.create`, `residents.get` / `residents.update`).

Error responses are listed per route from what it can do: 401 and 403 where it needs a
login and a role, 404 where it looks up an object, 409 where it writes, 413 and 422 where it
takes input, 429 and 503 where EXTRA_ERRORS says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import get_token_account_id, require_roles
from api.errors import ERROR_RESPONSES

ITEM_VERBS = {"get": "get", "put": "replace", "patch": "update", "delete": "delete"}
COLLECTION_VERBS = {"get": "list", "post": "create", "put": "replace", "delete": "delete"}
WRITES = {"post", "put", "patch", "delete"}
# Errors a route gives that its signature does not show: rate limits and unreachable
# dependencies, by operation id.
EXTRA_ERRORS: dict[str, set[int]] = {
    "residents.location.latest": {429},
    "residents.location.history": {429},
    "residents.vitals.latest": {429},
    "alerts.get": {429},
    "health": {503},
    "devices.commands": {503},
}
# Routes that check credentials themselves: their errors in full.
OWN_ERRORS: dict[str, set[int]] = {
    "auth.token": {401, 413, 422, 429},
    "alerts.stream.session.create": {401, 403},
    "alerts.stream.session.delete": set(),
}


def install(app: FastAPI) -> None:
    """Serve the document built here as the app's /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            # Included routers stay nested; FastAPI walks them with iter_route_contexts.
            routes = {
                (route.path_format, method.lower()): route
                for route in iter_route_contexts(app.routes)
                if isinstance(route.original_route, APIRoute) and route.include_in_schema
                for method in route.methods or ()
            }
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    operation["operationId"] = operation_id(
                        path, method, list(operations), schema["paths"], _lists(operation)
                    )
                    route = routes[(path, method)]
                    _only_possible_errors(operation, route, method)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def operation_id(
    path: str, method: str, methods_of_path: list[str], paths: dict, is_page: bool
) -> str:
    """`residents.location.latest`: the path's fixed segments, a verb where needed.

    An item (`/residents/{id}`) gets get/replace/update/delete; a collection (a paged GET,
    or a path with items below it) list/create; another path with several methods its verb.
    """
    segments = [s for s in path.strip("/").split("/") if s]
    name = ".".join(s for s in segments if not s.startswith("{")) or "root"
    name = name.replace("-", "_")
    if segments and segments[-1].startswith("{"):
        return f"{name}.{ITEM_VERBS.get(method, method)}"
    has_items = any(p.startswith(f"{path}/{{") for p in paths)
    if method == "get" and (is_page or has_items):
        return f"{name}.list"
    if len(methods_of_path) > 1:
        verbs = COLLECTION_VERBS if has_items or is_page else ITEM_VERBS | {"post": "create"}
        return f"{name}.{verbs.get(method, method)}"
    return name


def _lists(operation: dict) -> bool:
    """The operation answers with a page of items."""
    ok = operation["responses"].get("200", {})
    ref = ok.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1].startswith("Page_")


def _only_possible_errors(operation: dict, route: Any, method: str) -> None:
    responses = operation["responses"]
    for status in [s for s in responses if s[0] in "45"]:
        del responses[status]
    op_id = operation["operationId"]
    errors = OWN_ERRORS.get(op_id)
    if errors is None:
        errors = _errors_of(route, method) | EXTRA_ERRORS.get(op_id, set())
    for status in sorted(errors):
        spec = ERROR_RESPONSES[status]
        responses[str(status)] = {
            "description": spec["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }


def _errors_of(route: Any, method: str) -> set[int]:
    calls = _calls(route.dependant)
    params = route.dependant
    body = route.body_field is not None
    takes_input = body or bool(_all(params, "path_params") or _all(params, "query_params"))
    errors: set[int] = set()
    if get_token_account_id in calls:
        errors.add(401)
        if method in WRITES or any(_is_role_check(c) for c in calls):
            errors.add(403)
    if _all(params, "path_params") or _body_names_an_object(route):
        errors.add(404)
    if method in WRITES:
        errors.add(409)
    if body:
        errors.add(413)
    if takes_input:
        errors.add(422)
    return errors


def _is_role_check(call: Any) -> bool:
    return getattr(call, "__qualname__", "").startswith(f"{require_roles.__qualname__}.")


def _calls(dependant: Dependant) -> set[Any]:
    found: set[Any] = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(sub.call)
        found |= _calls(sub)
    return found


def _all(dependant: Dependant, kind: str) -> list:
    found = list(getattr(dependant, kind))
    for sub in dependant.dependencies:
        found += _all(sub, kind)
    return found


def _body_names_an_object(route: Any) -> bool:
    """The request body refers to a stored object by id (a booking, a resident, ...)."""
    if route.body_field is None:
        return False
    model = route.body_field.field_info.annotation
    fields = getattr(model, "model_fields", {})
    return any(name.endswith("_id") for name in fields)
